package mercure_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/internal/apitest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// The third question for the Mercure door (docs/mercure-design.md,
// "Limits and the four questions"): Redis dies, with its data kept or
// lost, or does not answer a resume's publisher-id lookup. The stall of a
// publish is TestMercureRedisStalls.

// redisDoor serves the door on a Redis broker on srv, with the door's
// publishes bounded by a 2 s timeout.
func redisDoor(t *testing.T, srv *redistest.Server, opts doorOptions) *testDoor {
	t.Helper()
	b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: redis.NewClient(&redis.Options{Addr: srv.Addr()})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	opts.door.Anonymous = true
	opts.door.PublishTimeout = 2 * time.Second
	return startDoor(t, b, opts)
}

// follower is a Mercure subscriber that reconnects as EventSource does:
// when its stream ends, it opens another with the Last-Event-ID of the
// last event it got. It runs on the test's goroutine.
type follower struct {
	d     *testDoor
	query string
	s     subscriber
	last  string   // the id it resumes from
	ids   []string // the ids of the events received, over every connection
	types []string // their event types
	heads []string // the Mercure-Last-Event-ID of each resumed stream
}

// follow opens a follower's stream; with from, a resume from it, retried
// while the door refuses it (a refused stream's head has no
// Mercure-Last-Event-ID, and it ends at once), for at most 10 s.
func follow(t *testing.T, d *testDoor, query, from string) *follower {
	t.Helper()
	f := &follower{d: d, query: query, last: from}
	if from == "" {
		f.s = subscribe(t, d.url, query)
		return f
	}
	if !f.reconnect(t, time.Now().Add(testenv.Timeout)) {
		t.Fatalf("follower of %s: no stream resumed from %s within %v", query, from, testenv.Timeout)
	}
	return f
}

// reconnect opens a stream from f.last until one is not refused, or the
// deadline passes.
func (f *follower) reconnect(t *testing.T, deadline time.Time) bool {
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var headers []string
		if f.last != "" {
			headers = append(headers, "Last-Event-ID: "+f.last)
		}
		s, err := f.d.tryOpen(nil, f.query, headers...)
		if err != nil {
			continue // ended before its head: a resume that failed
		}
		h := s.resp.Header.Get("Mercure-Last-Event-ID")
		if s.resp.StatusCode != 200 || (f.last != "" && h == "") {
			s.conn.Close() // refused: the client retries
			continue
		}
		t.Cleanup(func() { s.conn.Close() })
		f.s = s
		if h != "" {
			f.heads = append(f.heads, h)
		}
		return true
	}
	return false
}

// until reads until the event id last arrives, reconnecting while the
// stream ends or is refused, for at most 10 s.
func (f *follower) until(t *testing.T, last string) {
	t.Helper()
	deadline := time.Now().Add(testenv.Timeout)
	for len(f.ids) == 0 || f.ids[len(f.ids)-1] != last {
		if time.Now().After(deadline) {
			t.Fatalf("follower of %s: no %s within %v; got %v, resumed heads %q", f.query, last, testenv.Timeout, f.ids, f.heads)
		}
		f.s.conn.SetReadDeadline(deadline)
		ev, err := f.s.r.Next()
		if err == nil {
			f.ids, f.types = append(f.ids, ev.ID), append(f.types, ev.Type)
			if ev.ID != "" {
				f.last = ev.ID
			}
			continue
		}
		f.s.conn.Close()
		f.reconnect(t, deadline)
	}
}

// after returns the ids f received after id.
func (f *follower) after(id string) []string {
	if id == "" {
		return slices.Clone(f.ids)
	}
	i := slices.Index(f.ids, id)
	return slices.Clone(f.ids[i+1:])
}

// publishUntilAccepted publishes an update with the publisher id id to
// topic, again while the door answers 503, for at most 10 s: the broker is
// coming back. It returns how many were refused.
func (d *testDoor) publishUntilAccepted(t *testing.T, header http.Header, topic, id string) int {
	t.Helper()
	deadline := time.Now().Add(testenv.Timeout)
	for refused := 0; ; refused++ {
		got := post(t, d.url, header, url.Values{"topic": {topic}, "data": {id}, "id": {id}})
		switch {
		case got.status == 200 && got.body == id:
			return refused
		case got.status != http.StatusServiceUnavailable || time.Now().After(deadline):
			t.Fatalf("publish %s = %d %q, want 200, or 503 for a while", id, got.status, got.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// publishBehind publishes a Mercure update with the publisher id id to
// topic straight into the Redis on srv, as another hub of the fleet would,
// and reports whether the hub's pub/sub connections were still down then
// (none open): the update is then in the gap that the hub fills from
// history once it resubscribes, rather than live.
func publishBehind(t *testing.T, srv *redistest.Server, topic, id string) (inGap bool) {
	t.Helper()
	rc := srv.Client(t)
	list, err := rc.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatal(err)
	}
	direct, err := redisbroker.New(context.Background(), redisbroker.Config{Client: rc})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	names, err := mercuremap.Names([]string{topic}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := broker.Publication{Topics: names, Data: []byte(id), Mercure: &broker.Mercure{Topics: []string{topic}, ID: id}}
	if _, err := direct.Publish(context.Background(), []broker.Publication{pub}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(list) == ""
}

// TestMercureRedisKilled: redis-server is killed and restarted with its
// data (append-only file, fsync always). During the outage a publish
// through the door is refused with 503 within its timeout, and a stream
// resuming by publisher id is refused or ended without a head that claims
// a resume. Once Redis is back, a stream that stayed gets every update
// after the outage once, in order, and nothing again, including one
// another hub published before this one resubscribed (the gap fill must
// carry its Mercure topics, or the stream would miss it silently); a
// stream resuming by a publisher id from before the outage resumes
// exactly (its Mercure-Last-Event-ID is that id) and gets exactly what it
// missed.
func TestMercureRedisKilled(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	d := redisDoor(t, srv, doorOptions{})
	bearer := publisher(t)
	stayed := follow(t, d, "topic=k", "")
	left := subscribe(t, d.url, "topic=k")
	for _, id := range []string{"urn:k:1", "urn:k:2", "urn:k:3"} {
		d.mustPublish(t, bearer, "k", id)
	}
	stayed.until(t, "urn:k:3")
	if ids, err := left.readIDs("urn:k:3", 5*time.Second); err != nil || len(ids) != 3 {
		t.Fatalf("the stream that leaves got %v, %v; want the 3 updates", ids, err)
	}
	left.conn.Close()

	srv.Kill()
	start := time.Now()
	got := post(t, d.url, bearer, url.Values{"topic": {"k"}, "data": {"down"}, "id": {"urn:k:down"}})
	if got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "broker") {
		t.Errorf("publish while Redis is down = %d %q, want 503 saying the broker did not answer", got.status, got.body)
	}
	took := time.Since(start)
	if took > 3*time.Second {
		t.Errorf("the refused publish took %v, want within its 2 s timeout", took)
	}
	// Refused (the broker knows it is down) or ended by the failed lookup
	// before its head: never a stream that claims it resumed.
	outage := "ended before its head"
	if s, err := d.tryOpen(nil, "topic=k", "Last-Event-ID: urn:k:3"); err == nil {
		expectRefused(t, s, 4*5000)
		s.conn.Close()
		outage = "refused"
	}

	srv.Restart() // same port and directory: the append-only file brings the data back
	// Another hub's update, most likely before this hub has resubscribed.
	inGap := publishBehind(t, srv, "k", "urn:k:4")
	refused := d.publishUntilAccepted(t, bearer, "k", "urn:k:5")
	d.mustPublish(t, bearer, "k", "urn:k:6")

	// The client retries while the door refuses streams: the broker's
	// pub/sub connections may come back after its publishes do.
	resumed := follow(t, d, "topic=k", "urn:k:3")
	if h := resumed.heads[0]; h != "urn:k:3" {
		t.Fatalf("resume by publisher id after Redis came back with its data: Mercure-Last-Event-ID %q, want urn:k:3", h)
	}
	resumed.until(t, "urn:k:6")
	if got := resumed.after(""); !slices.Equal(got, []string{"urn:k:4", "urn:k:5", "urn:k:6"}) || len(resumed.heads) != 1 {
		t.Errorf("the resumed stream got %v over %d connections; want urn:k:4 to urn:k:6, once each, on one", got, len(resumed.heads))
	}
	resumed.s.nothing(t, "the resumed stream, after urn:k:6")

	stayed.until(t, "urn:k:6")
	if after := stayed.after("urn:k:3"); !slices.Equal(after, []string{"urn:k:4", "urn:k:5", "urn:k:6"}) {
		t.Errorf("the stream that stayed got %v after urn:k:3, want urn:k:4 to urn:k:6, once each", after)
	}
	for _, h := range stayed.heads {
		if h == "earliest" {
			t.Errorf("the stream that stayed resumed with Mercure-Last-Event-ID earliest: Redis kept its data")
		}
	}
	t.Logf("publish refused after %v; a resume during the outage: %s; %d publishes refused while Redis restarted; "+
		"another hub's update in the gap: %v; the stream that stayed reconnected %d times (heads %q)",
		took, outage, refused, inGap, len(stayed.heads), stayed.heads)
}

// TestMercureRedisEmptied: Redis restarts without its data. A stream
// resuming by a publisher id Redis no longer knows, or by the hub's own
// id, is told so with Mercure-Last-Event-ID: earliest (docs/mercure-design.md,
// "The response header"), never a claim of an exact resume nor an
// ssehub.reset event (a native stream's loss signal), and goes on live
// with nothing from before the restart again. A stream that stayed
// connected keeps receiving, nothing twice, from another hub's update
// published before this one resubscribed on.
func TestMercureRedisEmptied(t *testing.T) {
	srv := redistest.Start(t)
	d := redisDoor(t, srv, doorOptions{})
	bearer := publisher(t)
	stayed := follow(t, d, "topic=e", "")
	byPublisherID := subscribe(t, d.url, "topic=e")
	d.mustPublish(t, bearer, "e", "urn:e:1")
	d.mustPublish(t, bearer, "e", "urn:e:2")
	hubID := post(t, d.url, bearer, url.Values{"topic": {"e"}, "data": {"no publisher id"}})
	if hubID.status != 200 || !strings.HasPrefix(hubID.body, "#") {
		t.Fatalf("publish without an id = %d %q, want 200 #<id>", hubID.status, hubID.body)
	}
	stayed.until(t, hubID.body)
	if ids, err := byPublisherID.readIDs(hubID.body, 5*time.Second); err != nil || len(ids) != 3 {
		t.Fatalf("the stream that leaves got %v, %v", ids, err)
	}
	byPublisherID.conn.Close()

	srv.Restart() // no persistence: empty
	inGap := publishBehind(t, srv, "e", "urn:e:3")
	refused := d.publishUntilAccepted(t, bearer, "e", "urn:e:4")
	stayed.until(t, "urn:e:4")

	for _, from := range []string{"urn:e:2", hubID.body} {
		f := follow(t, d, "topic=e", from)
		if h := f.heads[0]; h != "earliest" {
			t.Errorf("resume from %s, which Redis lost: Mercure-Last-Event-ID %q; want earliest", from, h)
		}
		s := f.s
		live := "urn:e:live-" + strings.TrimPrefix(from, "#")
		d.mustPublish(t, bearer, "e", live)
		s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		seen := map[string]bool{}
		for {
			ev, err := s.r.Next()
			if err != nil {
				t.Fatalf("resume from %s: %v before %s", from, err, live)
			}
			if seen[ev.ID] {
				t.Errorf("resume from %s got %s twice", from, ev.ID)
			}
			seen[ev.ID] = true
			if strings.HasPrefix(ev.Type, "ssehub.") || (ev.ID != "urn:e:3" && ev.ID != "urn:e:4" && !strings.HasPrefix(ev.ID, "urn:e:live-")) {
				t.Errorf("resume from %s, which Redis lost, got %+v: want only what Redis holds now", from, ev)
			}
			if ev.ID == live {
				break
			}
		}
	}
	stayed.until(t, "urn:e:live-"+strings.TrimPrefix(hubID.body, "#"))
	after := stayed.after(hubID.body)
	if !slices.Equal(after[:2], []string{"urn:e:3", "urn:e:4"}) || len(after) != 4 || slices.Contains(stayed.types, "ssehub.reset") {
		t.Errorf("the stream that stayed got %v (types %q) after the restart, want urn:e:3 (another hub's), urn:e:4 and the two live updates, once each",
			after, stayed.types)
	}
	for _, h := range stayed.heads {
		if h != "earliest" {
			t.Errorf("the stream that stayed reconnected with Mercure-Last-Event-ID %q after Redis lost its data, want earliest", h)
		}
	}
	t.Logf("%d publishes refused while Redis restarted; another hub's update in the gap: %v; the stream that stayed reconnected %d times (heads %q)",
		refused, inGap, len(stayed.heads), stayed.heads)
}

// TestMercureResumeLookupFails: Redis does not answer the publisher-id
// lookup of a resume (paused; the topic is already subscribed, so that the
// lookup is what waits). The stream ends as replay_failed within the
// replay timeout, before any head: nothing claims a resume. The client's
// retry once Redis answers resumes exactly.
func TestMercureResumeLookupFails(t *testing.T) {
	b, srv, _ := apitest.StallableRedis(t, 200*time.Millisecond, 8)
	d := startDoor(t, b, doorOptions{
		hub:  hub.Config{Shards: 1, Shard: shard.Config{ReplayTimeout: 300 * time.Millisecond}},
		door: mercure.Config{Anonymous: true, PublishTimeout: time.Second},
	})
	bearer := publisher(t)
	live := subscribe(t, d.url, "topic=a") // keeps topic a subscribed through the pause
	d.mustPublish(t, bearer, "a", "urn:before")
	if ev := live.next(t); ev.ID != "urn:before" {
		t.Fatalf("the live stream got %+v", ev)
	}

	resume := srv.Pause(t)
	start := time.Now()
	s, err := d.tryOpen(nil, "topic=a", "Last-Event-ID: urn:before")
	took := time.Since(start)
	if err == nil {
		s.conn.Close()
		t.Fatalf("a resume whose lookup Redis does not answer: %d, Mercure-Last-Event-ID %q; want the stream ended before its head",
			s.resp.StatusCode, s.resp.Header.Get("Mercure-Last-Event-ID"))
	}
	if took > 3*time.Second {
		t.Errorf("the failed resume ended after %v, want about the 300 ms replay timeout", took)
	}
	testenv.WaitFor(t, "the stream counted as replay_failed", func() bool { return d.ended(shard.ReasonReplayFailed) == 1 })
	resume()

	again := subscribe(t, d.url, "topic=a", "Last-Event-ID: urn:before")
	if h := again.resp.Header.Get("Mercure-Last-Event-ID"); again.resp.StatusCode != 200 || h != "urn:before" {
		t.Fatalf("the retry once Redis answers: %d, Mercure-Last-Event-ID %q, want urn:before", again.resp.StatusCode, h)
	}
	d.mustPublish(t, bearer, "a", "urn:after")
	if ev := again.next(t); ev.ID != "urn:after" {
		t.Errorf("the resumed stream got %+v, want urn:after", ev)
	}
	t.Logf("the failed resume ended after %v: %v", took, err)
}
