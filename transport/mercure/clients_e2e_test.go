package mercure_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
)

// The fourth question for the Mercure door (docs/mercure-design.md,
// "Limits and the four questions"): clients that stop reading, vanish, or
// whose token runs out. The peer-close test is in clients_linux_e2e_test.go.

// TestMercureSlowSubscriber: a Mercure subscriber that stops reading is
// evicted as slow once its queue and socket are full, while the readers of
// its shard keep receiving every update the door acknowledged, once and
// in order; the publisher is answered 200, or 503 with Retry-After while
// the shard holds back, never anything else.
func TestMercureSlowSubscriber(t *testing.T) {
	const readers = 16 // one stuck stream in 17 is too few to pause the shard: it is the slow one
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	d := startDoor(t, b, doorOptions{
		hub: hub.Config{Shards: 1, Shard: shard.Config{QueueSize: 8, StallTimeout: 300 * time.Millisecond, WriteTimeout: time.Minute}},
		// A small send buffer, so that the stuck stream's socket fills.
		server: httpapi.Config{SendBuffer: 4 << 10, PublishRate: -1},
		door:   mercure.Config{Anonymous: true},
	})
	stuck := d.stuckStream(t, "topic=slow")
	defer stuck.Close()
	var subs []subscriber
	for range readers {
		subs = append(subs, subscribe(t, d.url, "topic=slow"))
	}
	d.waitOpen(t, readers+1)

	received := make([][]string, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() { received[i], errs[i] = s.readIDs("urn:slow:done", 15*time.Second) })
	}
	bearer := publisher(t)
	payload := strings.Repeat("x", 4<<10)
	var acked []string
	refused := 0
	for i, start := 0, time.Now(); d.ended(shard.ReasonSlow) == 0 && time.Since(start) < 5*time.Second; i++ {
		id := fmt.Sprintf("urn:slow:%d", i)
		got := post(t, d.url, bearer, url.Values{"topic": {"slow"}, "data": {payload}, "id": {id}})
		switch {
		case got.status == 200:
			acked = append(acked, id)
		case got.status == http.StatusServiceUnavailable && got.retryAfter != "":
			refused++
			time.Sleep(20 * time.Millisecond)
		default:
			t.Fatalf("publish %s = %d %q (Retry-After %q), want 200 or 503 with Retry-After", id, got.status, got.body, got.retryAfter)
		}
	}
	testenv.WaitFor(t, "the stream that stopped reading to be evicted as slow", func() bool { return d.ended(shard.ReasonSlow) == 1 })
	for {
		got := post(t, d.url, bearer, url.Values{"topic": {"slow"}, "data": {"done"}, "id": {"urn:slow:done"}})
		if got.status == 200 {
			acked = append(acked, "urn:slow:done")
			break
		}
		if got.status != http.StatusServiceUnavailable {
			t.Fatalf("the last publish = %d %q", got.status, got.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	for i := range received {
		if errs[i] != nil {
			t.Errorf("reader %d: %v after %d updates", i, errs[i], len(received[i]))
		}
		if !slices.Equal(received[i], acked) {
			t.Fatalf("reader %d got %d updates, want the %d acknowledged, in order", i, len(received[i]), len(acked))
		}
	}
	st := d.stats()
	if st.Ended[shard.ReasonSlow] != 1 || st.Clients != readers {
		t.Errorf("%d streams evicted as slow, %d open; want the stuck one evicted and the %d readers open (ended: %v)",
			st.Ended[shard.ReasonSlow], st.Clients, readers, d.endedByReason())
	}
	t.Logf("%d updates of 4 KiB acknowledged, %d refused with 503; the stuck stream evicted as slow", len(acked), refused)
}

// TestMercureTokenExpiry: a Mercure stream ends at its token's exp
// (draft-07 §6.5, draft-08 §6.6), counted as token_expired, so that its
// client comes back with a fresh token; the same token is then refused
// with 401 invalid_token. A stream whose token has no exp stays and keeps
// receiving.
func TestMercureTokenExpiry(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	d := startDoor(t, b, doorOptions{hub: hub.Config{Shards: 1, Shard: shard.Config{Heartbeat: 160 * time.Millisecond}}})
	claim := map[string]any{"subscribe": []string{"*"}}
	exp := time.Unix(time.Now().Add(1500*time.Millisecond).Unix(), 0)
	short := signed(t, jwt.MapClaims{"exp": exp.Unix(), "mercure": claim})
	lasting := token(t, claim)
	expiring := subscribe(t, d.url, "topic=a", "Authorization: Bearer "+short)
	stays := subscribe(t, d.url, "topic=a", "Authorization: Bearer "+lasting)
	bearer := publisher(t)
	d.mustPublish(t, bearer, "a", "urn:before")
	for name, s := range map[string]subscriber{"expiring": expiring, "lasting": stays} {
		if ev := s.next(t); ev.ID != "urn:before" {
			t.Fatalf("the %s stream got %+v, want urn:before", name, ev)
		}
	}

	start := time.Now()
	expiring.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if ev, err := expiring.r.Next(); err != io.EOF {
		t.Fatalf("the stream of the expiring token: %+v, %v; want its end", ev, err)
	}
	t.Logf("the stream ended %v after the first update, %v before exp", time.Since(start), time.Until(exp))
	if late := time.Since(exp); late > 250*time.Millisecond {
		t.Errorf("the stream ended %v after its token's exp", late)
	}
	testenv.WaitFor(t, "the stream counted as token_expired", func() bool { return d.ended(shard.ReasonTokenExpired) == 1 })
	// The stream ends at the tick before exp; the token is refused once
	// exp has passed.
	time.Sleep(time.Until(exp.Add(10 * time.Millisecond)))
	if again := subscribe(t, d.url, "topic=a", "Authorization: Bearer "+short); again.resp.StatusCode != 401 ||
		again.resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("reconnecting with the expired token = %d %q, want 401 invalid_token", again.resp.StatusCode, again.resp.Header.Get("WWW-Authenticate"))
	}
	d.mustPublish(t, bearer, "a", "urn:after")
	if ev := stays.next(t); ev.ID != "urn:after" {
		t.Errorf("the stream without exp got %+v, want urn:after", ev)
	}
	if st := d.stats(); st.Clients != 1 {
		t.Errorf("%d streams open, want the lasting one (ended: %v)", st.Clients, d.endedByReason())
	}
}
