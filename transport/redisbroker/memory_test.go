package redisbroker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/transport"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// A hub tells its operator at start what Redis's memory settings mean
// for history, which Redis alone bounds in total.
func TestMemoryPolicyIsCheckedAtStart(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	for _, tt := range []struct {
		maxmemory, policy string
		want              string // in the log; "" for nothing logged
	}{
		{"0", "noeviction", `level=INFO msg="redis has no maxmemory`},
		{"100mb", "allkeys-lru", `level=WARN msg="redis may evict the hub's id counter`},
		{"100mb", "noeviction", `level=INFO msg="when redis reaches maxmemory, publishes fail`},
		{"100mb", "volatile-ttl", ""},
		{"100mb", "volatile-lru", ""},
	} {
		if err := rc.ConfigSet(ctx, "maxmemory", tt.maxmemory).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rc.ConfigSet(ctx, "maxmemory-policy", tt.policy).Err(); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		b, err := redisbroker.New(ctx, redisbroker.Config{Client: rc, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		got := log.String()
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("maxmemory %s, policy %s: logged %q, want %q", tt.maxmemory, tt.policy, got, tt.want)
		}
	}
}

// With maxmemory and volatile-ttl, Redis evicts the streams of the topics
// idle longest. A resume into an evicted topic's events must get a reset,
// never a silent skip of events the history no longer has.
func TestEvictedHistoryIsReset(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	info, err := rc.InfoMap(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	baseline, _ := strconv.Atoi(info["Memory"]["used_memory"])
	for k, v := range map[string]string{"maxmemory": strconv.Itoa(baseline + 1<<20), "maxmemory-policy": "volatile-ttl"} {
		if err := rc.ConfigSet(ctx, k, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := redisbroker.New(ctx, redisbroker.Config{Client: rc})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const topics, perTopic = 40, 20
	data := []byte(strings.Repeat("x", 2<<10))
	first := make([]eventid.ID, topics)
	for i := range topics {
		for j := range perTopic {
			ids, err := b.Publish(ctx, []broker.Publication{{Topics: []string{fmt.Sprintf("t%d", i)}, Data: data}}, broker.Idempotency{})
			if err != nil {
				t.Fatalf("publish %d to t%d: %v", j, i, err)
			}
			if j == 0 {
				first[i] = ids[0]
			}
		}
	}
	stats, err := rc.InfoMap(ctx, "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if evicted, _ := strconv.Atoi(stats["Stats"]["evicted_keys"]); evicted == 0 {
		t.Fatalf("Redis evicted nothing (used_memory baseline %d); the test needs evictions", baseline)
	}
	var full, reset int
	for i := range topics {
		r, err := b.Replay(ctx, broker.Selection{Topics: []string{fmt.Sprintf("t%d", i)}}, first[i].String())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range pages(t, r) {
			n += len(p)
		}
		switch {
		case r.Reset != nil:
			reset++
		case n == perTopic-1:
			full++
		default:
			t.Errorf("resume of t%d: %d of %d events and no reset: a silent loss", i, n, perTopic-1)
		}
	}
	if reset == 0 || full == 0 {
		t.Errorf("%d topics reset, %d replayed in full; want some of each (evictions happened)", reset, full)
	}
	r, err := b.Replay(ctx, broker.Selection{Patterns: []string{"t*"}}, first[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
		t.Errorf("resume by pattern over evicted topics: reset %q, want %q", got, transport.ResetExpired)
	}
	t.Logf("%d topics evicted and reset, %d replayed in full", reset, full)
}

// A topic whose stream Redis evicted and which then has an event again
// gets a new stream; that stream records that history before the event is
// lost, so a resume from before it is reset, not served from the new
// event on as if nothing had been there.
func TestEvictedThenPublishedAgainIsReset(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	b, err := redisbroker.New(ctx, redisbroker.Config{Client: rc})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	publish := func(topic string) eventid.ID {
		ids, err := b.Publish(ctx, []broker.Publication{{Topics: []string{topic}, Data: []byte("x")}}, broker.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		return ids[0]
	}
	from := publish("a")
	publish("a")
	publish("b")
	if err := rc.Del(ctx, "{ssehub}:t:a").Err(); err != nil { // as maxmemory would
		t.Fatal(err)
	}
	again := publish("a")
	for _, sel := range []broker.Selection{{Topics: []string{"a"}}, {Patterns: []string{"*"}}} {
		r, err := b.Replay(ctx, sel, from.String())
		if err != nil {
			t.Fatal(err)
		}
		if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
			t.Errorf("resume %+v from before the eviction: reset %q, events %v; want %q", sel, got, brokertest.ReplayIDs(r), transport.ResetExpired)
		}
	}
	// From the new event on, the new stream serves as any other.
	publish("a")
	r, err := b.Replay(ctx, broker.Selection{Topics: []string{"a"}}, again.String())
	if err != nil || r.Reset != nil || len(r.Messages) != 1 {
		t.Errorf("resume after the eviction: err %v, reset %v, %d events; want 1 and no reset", err, r.Reset != nil, len(r.Messages))
	}
}
