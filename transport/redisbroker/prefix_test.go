package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

func TestValidatePrefix(t *testing.T) {
	tests := []struct {
		prefix string
		want   error  // a topic sentinel the error wraps, if any
		msg    string // a substring of the error; "" for an accepted prefix
	}{
		{prefix: "ssehub"},
		{prefix: "t1"},
		{prefix: "t1-c"},
		{prefix: "t1.c"},
		{prefix: "t1_c"},
		{prefix: "team/app"},
		{prefix: "app@eu"},
		{prefix: strings.Repeat("a", topic.MaxLen)},

		{prefix: "t1:c:x", msg: `must not contain ':', got "t1:c:x" (offset 2)`},
		{prefix: "ssehub:", msg: "must not contain ':'"},
		{prefix: ":", msg: "must not contain ':'"},
		{prefix: "", want: topic.ErrEmpty, msg: "must be a valid topic without ':'"},
		{prefix: strings.Repeat("a", topic.MaxLen+1), want: topic.ErrTooLong, msg: "must be a valid topic without ':'"},
		{prefix: "ssehub*", want: topic.ErrPatternNotAllowed},
		{prefix: "{ssehub}", want: topic.ErrInvalidChar},
		{prefix: "a b", want: topic.ErrInvalidChar},
		{prefix: "a?b", want: topic.ErrInvalidChar},
		{prefix: "a[b]", want: topic.ErrInvalidChar},
		{prefix: `a\b`, want: topic.ErrInvalidChar},
	}
	// New validates before it dials, so an address nothing listens on will do.
	unreachable := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { unreachable.Close() })
	for _, tt := range tests {
		err := redisbroker.ValidatePrefix(tt.prefix)
		if tt.want == nil && tt.msg == "" {
			if err != nil {
				t.Errorf("ValidatePrefix(%q) = %v, want nil", tt.prefix, err)
			}
			continue
		}
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ValidatePrefix(%q) = %v, want an error containing %q (and wrapping %v, if not nil)", tt.prefix, err, tt.msg, tt.want)
			continue
		}
		if tt.prefix == "" {
			continue // New takes it for the default
		}
		// New refuses it with the same reason.
		_, newErr := redisbroker.New(context.Background(), redisbroker.Config{Client: unreachable, Prefix: tt.prefix})
		if want := "redis broker prefix: " + err.Error(); newErr == nil || newErr.Error() != want {
			t.Errorf("New(Prefix %q) error = %v, want %q", tt.prefix, newErr, want)
		}
	}
}

// Hubs with different prefixes share one Redis without hearing each other:
// a "*" subscriber of each gets exactly its own events, in order, and none
// of its own are dropped as duplicates of the other's. The accepted pairs
// are the closest prefixes there are; "t1:c:x" used to publish topic "news"
// on the channel of topic "x:c:news" of "t1", whose "*" subscriber received
// it. Whatever pair New accepts must keep apart.
func TestRedisPrefixesKeepApart(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	tests := []struct {
		a, b string
		// mayRefuse: b named channels of a before ':' was refused, so New
		// may refuse it; if it accepts it, the two must still keep apart.
		mayRefuse bool
	}{
		{a: "t1", b: "t1-c"},
		{a: "t1", b: "t1.c"},
		{a: "t1", b: "t1/c"},
		{a: "t1", b: "t1:c:x", mayRefuse: true},
	}
	for _, tt := range tests {
		t.Run(tt.a+" and "+tt.b, func(t *testing.T) {
			a, err := redisbroker.New(context.Background(), redisbroker.Config{Client: rc, Prefix: tt.a})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: rc, Prefix: tt.b})
			if err != nil {
				if !tt.mayRefuse {
					t.Fatal(err)
				}
				return
			}
			t.Cleanup(func() { b.Close() })

			gotA, _ := brokertest.Listen(t, a, "*")
			gotB, _ := brokertest.Listen(t, b, "*")
			var wantA, wantB []string
			publish := func(br *redisbroker.Broker, prefix string, i int) string {
				data := fmt.Sprintf("%s %d", prefix, i)
				ids, err := br.Publish(context.Background(), []broker.Publication{brokertest.Pub(data, "news")}, broker.Idempotency{})
				if err != nil {
					t.Fatalf("Publish(%q) via prefix %q: %v", data, prefix, err)
				}
				return ids[0].String() + " " + data
			}
			// Interleaved, b first: with overlapping names, a's subscriber
			// hears b's first event before any of its own.
			for i := range 20 {
				wantB = append(wantB, publish(b, tt.b, i))
				wantA = append(wantA, publish(a, tt.a, i))
			}
			testenv.WaitFor(t, "20 events on each subscriber", func() bool {
				return len(gotA.Messages()) >= 20 && len(gotB.Messages()) >= 20
			})
			for _, s := range []struct {
				prefix    string
				got, want []string
			}{{tt.a, summarize(gotA.Messages()), wantA}, {tt.b, summarize(gotB.Messages()), wantB}} {
				if diff := cmp.Diff(s.want, s.got); diff != "" {
					t.Errorf("prefix %q: subscriber of * got (-want +got):\n%s", s.prefix, diff)
				}
			}
		})
	}
}

// summarize returns "id data" for each message.
func summarize(msgs []*broker.Message) []string {
	var out []string
	for _, m := range msgs {
		_, data, _ := strings.Cut(string(m.Frame), "data: ")
		data, _, _ = strings.Cut(data, "\n")
		out = append(out, m.ID.String()+" "+data)
	}
	return out
}
