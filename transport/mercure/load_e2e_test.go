package mercure_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/sockopt"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// The second question for the Mercure door (docs/mercure-design.md,
// "Limits and the four questions"): 100x the designed load, a publisher
// flood and a reconnect storm.

// floodDoor publishes updates of 1 KiB to topic through the door until ctx
// ends, as fast as the hub answers. A refusal (503 with Retry-After)
// publishes nothing: it waits a little and sends the same update again, as
// publishers are told to. It returns the ids the door acknowledged, which
// are the hub's (#<id>): the updates have no publisher id, so that the
// order of every publisher's updates together can be checked.
func floodDoor(ctx context.Context, hubURL string, header http.Header, topic string, refused *atomic.Int64) ([]string, error) {
	var ids []string
	pad := strings.Repeat("x", 1<<10)
	for seq := 0; ctx.Err() == nil; {
		got, err := tryPost(hubURL, header, url.Values{"topic": {topic}, "data": {topic + "-" + strconv.Itoa(seq) + "-" + pad}})
		switch {
		case err != nil:
			return ids, err
		case got.status == 200 && strings.HasPrefix(got.body, "#"):
			ids = append(ids, got.body)
			seq++
		case got.status == http.StatusServiceUnavailable && strings.Contains(got.body, "overloaded"):
			if got.retryAfter == "" {
				return ids, fmt.Errorf("503 overloaded without Retry-After")
			}
			refused.Add(1)
			time.Sleep(50 * time.Millisecond) // sooner than Retry-After, which floods harder
		default:
			return ids, fmt.Errorf("publish = %d %q", got.status, got.body)
		}
	}
	return ids, nil
}

// TestMercureFlood mirrors TestFloodEvictsNoneAndLosesNothingAccepted
// (transport/httpapi) through the Mercure door: unpaced publishers POST to
// /.well-known/mercure far beyond what the hub can deliver to a few
// hundred Mercure streams beside the race detector. The hub holds the
// publishers back (503 overloaded, Retry-After) instead of evicting the
// streams; every update the door acknowledged with 200 reaches every
// stream once and in id order; only the stream that stopped reading is
// evicted as slow. Then, with a publish rate, an unpaced publisher is
// refused with 429 and Retry-After, and what was refused reaches no one.
func TestMercureFlood(t *testing.T) {
	t.Run("overload", testMercureFloodOverload)
	t.Run("rate", testMercureFloodRate)
}

func testMercureFloodOverload(t *testing.T) {
	const (
		streams    = 300
		publishers = 8
		flood      = 2 * time.Second
		readDelay  = 40 * time.Millisecond // 25 updates a second
	)
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	// Small queues and socket buffers, so that readers slower than the
	// publishers fall behind within the flood however busy the machine.
	d := startDoor(t, b, doorOptions{
		hub:    hub.Config{Shard: shard.Config{QueueSize: 16}},
		server: httpapi.Config{SendBuffer: 4 << 10, PublishRate: -1, MaxStreamsPerIP: -1},
		door:   mercure.Config{Anonymous: true},
	})
	var query strings.Builder
	for p := range publishers {
		fmt.Fprintf(&query, "topic=https%%3A%%2F%%2Fexample.com%%2Fflood%%2F%d&", p)
	}
	query.WriteString("topic=https%3A%2F%2Fexample.com%2Fdone")
	stuck := d.stuckStream(t, query.String())
	defer stuck.Close()

	// The readers keep reading, but each takes 40 ms over every update:
	// through the door, one update per request, the race detector and a
	// busy machine may slow publishers below what a reader of the native
	// flood takes, and then nothing overloads the hub. Slow readers make
	// sure it is: it must hold the publishers back rather than evict them.
	received := make([][]string, streams)
	var readers sync.WaitGroup
	for i := range streams {
		s, err := d.tryOpen(&net.Dialer{Control: sockopt.RecvBuffer(4 << 10)}, query.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.conn.Close() })
		readers.Go(func() {
			s.conn.SetReadDeadline(time.Now().Add(flood + 20*time.Second))
			for {
				ev, err := s.r.Next()
				if err != nil {
					return // closed at the end of the test, or a failure the checks show
				}
				received[i] = append(received[i], ev.ID)
				if ev.Data == "done" {
					return
				}
				time.Sleep(readDelay)
			}
		})
	}
	d.waitOpen(t, streams+1)

	bearer := publisher(t)
	ctx, cancel := context.WithTimeout(context.Background(), flood)
	defer cancel()
	var refused atomic.Int64
	accepted := make([][]string, publishers)
	errs := make([]error, publishers)
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			accepted[p], errs[p] = floodDoor(ctx, d.url, bearer, "https://example.com/flood/"+strconv.Itoa(p), &refused)
		})
	}
	pubs.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	floodEnd := time.Now()
	var done string
	for done == "" {
		got := post(t, d.url, bearer, url.Values{"topic": {"https://example.com/done"}, "data": {"done"}})
		switch {
		case got.status == 200:
			done = got.body
		case got.status != http.StatusServiceUnavailable:
			t.Fatalf("the last publish = %d %q", got.status, got.body)
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	readers.Wait()
	readAt := time.Since(floodEnd)

	var all []eventid.ID
	for _, ids := range append(accepted, []string{done}) {
		for _, s := range ids {
			id, err := eventid.Parse(strings.TrimPrefix(s, "#"))
			if err != nil {
				t.Fatalf("acknowledged id %q: %v", s, err)
			}
			all = append(all, id)
		}
	}
	slices.SortFunc(all, func(a, b eventid.ID) int { return a.Compare(b) })
	want := make([]string, len(all))
	for i, id := range all {
		want[i] = "#" + id.String()
	}
	for i, got := range received {
		if !slices.Equal(got, want) {
			t.Fatalf("stream %d received %d updates, want the %d acknowledged, once each and in id order", i, len(got), len(want))
		}
	}
	st := d.stats()
	if st.Ended[shard.ReasonSlow] != 1 || st.Clients != streams {
		t.Errorf("%d streams evicted as slow, %d open; want the stuck one evicted and all %d readers open (ended: %v)",
			st.Ended[shard.ReasonSlow], st.Clients, streams, d.endedByReason())
	}
	ps := d.hub.PublishStats()
	t.Logf("%d Mercure streams: %d updates acknowledged in %s (%d deliveries), %d publishes refused; shards paused %d times for %s; "+
		"publishes waited %s; all read %s after the flood",
		streams, len(all), flood, len(all)*streams, refused.Load(), st.Pauses, st.PausedFor, ps.WaitTime, readAt)
	if st.Pauses == 0 {
		t.Errorf("the shards never paused: the flood did not overload the hub, so the test proves nothing")
	}
}

func testMercureFloodRate(t *testing.T) {
	const rate = 50 // a burst of twice that
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	d := startDoor(t, b, doorOptions{server: httpapi.Config{PublishRate: rate}, door: mercure.Config{Anonymous: true}})
	s := subscribe(t, d.url, "topic=r")
	bearer := publisher(t)
	var acked []string
	limited := 0
	for i := range 4 * rate {
		id := "urn:r:" + strconv.Itoa(i)
		got := post(t, d.url, bearer, url.Values{"topic": {"r"}, "data": {id}, "id": {id}})
		switch {
		case got.status == 200:
			acked = append(acked, id)
		case got.status == http.StatusTooManyRequests:
			if n, err := strconv.Atoi(got.retryAfter); err != nil || n < 1 {
				t.Fatalf("429 with Retry-After %q, want whole seconds", got.retryAfter)
			}
			limited++
		default:
			t.Fatalf("publish %s = %d %q", id, got.status, got.body)
		}
	}
	if limited == 0 || len(acked) < 2*rate || len(acked) > 3*rate {
		t.Fatalf("%d of %d unpaced publishes at %d/s acknowledged, %d refused with 429; want the burst of %d and about the rate",
			len(acked), 4*rate, rate, limited, 2*rate)
	}
	if ids, err := s.readIDs(acked[len(acked)-1], 5*time.Second); err != nil || !slices.Equal(ids, acked) {
		t.Errorf("the stream got %d updates (%v), want the %d acknowledged and nothing refused", len(ids), err, len(acked))
	}
	s.nothing(t, "the stream, after the acknowledged updates")
}

// TestMercureReconnectStorm: on the Redis broker, a thousand Mercure
// streams that went away reconnect at once, each with a publisher id as
// its Last-Event-ID, from twenty different points. Every one resumes
// exactly (Mercure-Last-Event-ID is its id, which its publisher-id lookup
// resolved), gets what it missed and what was published during the storm,
// once each and in order; the hub stays responsive: a publish during the
// storm is acknowledged.
func TestMercureReconnectStorm(t *testing.T) {
	const (
		streams = 1000 // 2,000 descriptors with the hub's ends
		points  = 20   // distinct resume points
		missed  = 10   // published while the streams are away
	)
	srv := redistest.Start(t)
	b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: redis.NewClient(&redis.Options{Addr: srv.Addr()})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	d := startDoor(t, b, doorOptions{server: httpapi.Config{MaxStreamsPerIP: -1}, door: mercure.Config{Anonymous: true}})
	const query = "topic=https%3A%2F%2Fexample.com%2Fstorm%2F%7Bid%7D"
	topic := "https://example.com/storm/1"
	id := func(n int) string { return "urn:storm:" + strconv.Itoa(n) }

	first := make([]subscriber, streams)
	for i := range first {
		first[i] = subscribe(t, d.url, query)
	}
	d.waitOpen(t, streams)
	bearer := publisher(t)
	for n := range points {
		d.mustPublish(t, bearer, topic, id(n))
	}
	var wg sync.WaitGroup
	errs := make([]error, streams)
	for i, s := range first {
		wg.Go(func() {
			if _, err := s.readIDs(id(points-1), 20*time.Second); err != nil {
				errs[i] = err
			}
			s.conn.Close()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("stream %d before the storm: %v", i, err)
		}
	}
	testenv.WaitFor(t, "the streams to go", func() bool { return d.stats().Clients == 0 })
	for n := points; n < points+missed; n++ {
		d.mustPublish(t, bearer, topic, id(n))
	}

	// The storm: every stream reconnects at once, while updates keep being
	// published until all have their heads (so that some land between a
	// stream's subscription and its replay), then the last one.
	const last = "urn:storm:end"
	received := make([][]string, streams)
	heads := make([]string, streams)
	var resumedCount atomic.Int64
	start := make(chan struct{})
	for i := range streams {
		wg.Go(func() {
			<-start
			s, err := d.tryOpen(nil, query, "Last-Event-ID: "+id(i%points))
			if err != nil {
				errs[i] = err
				return
			}
			defer s.conn.Close()
			heads[i] = s.resp.Header.Get("Mercure-Last-Event-ID")
			resumedCount.Add(1)
			received[i], errs[i] = s.readIDs(last, 30*time.Second)
		})
	}
	stormStart := time.Now()
	close(start)
	published := points + missed
	var slowest time.Duration
	for n := published; ; n++ {
		next := id(n)
		if resumedCount.Load() == streams {
			next = last
		}
		before := time.Now()
		got := post(t, d.url, bearer, url.Values{"topic": {topic}, "data": {next}, "id": {next}})
		slowest = max(slowest, time.Since(before))
		if got.status != 200 {
			t.Fatalf("a publish during the storm = %d %q, want 200", got.status, got.body)
		}
		if next == last {
			break
		}
		published++
		time.Sleep(10 * time.Millisecond)
	}
	if slowest > 5*time.Second {
		t.Errorf("the slowest publish during the storm took %v", slowest)
	}
	wg.Wait()
	stormTook := time.Since(stormStart)
	for i := range streams {
		from := i % points
		var want []string
		for n := from + 1; n < published; n++ {
			want = append(want, id(n))
		}
		want = append(want, last)
		if errs[i] != nil || heads[i] != id(from) || !slices.Equal(received[i], want) {
			t.Fatalf("stream %d resuming from %s: Mercure-Last-Event-ID %q, %d updates (%v), error %v; want %s and the %d after it, once each, in order",
				i, id(from), heads[i], len(received[i]), received[i], errs[i], id(from), len(want))
		}
	}
	if st := d.stats(); st.Replays < streams {
		t.Errorf("%d replays, want one per resumed stream (%d)", st.Replays, streams)
	}
	t.Logf("%d Mercure streams resumed by publisher id in %v; %d updates published during the storm, the slowest acknowledged in %v",
		streams, stormTook, published-points-missed+1, slowest)
}
