package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/redisbroker"
	"github.com/ssehub/ssehub/transport/sse"
)

// The fault suite (issue 16, docs/reliability.md): real faults against real
// processes while events stream in, each scenario counting what was
// published, delivered, lost, duplicated and reset. Each runs on a
// standalone redis-server at one partition and on a three-master Redis
// Cluster at partitionsTested partitions (issue 20).

// faultsWithoutKey makes the publisher retry without an Idempotency-Key: a
// mutation under which the duplicate checks of the long stall must fire
// (docs/reliability.md says how to run it).
var faultsWithoutKey = flag.Bool("faults-without-key", false,
	"TestFaults: retry publishes without Idempotency-Key (a mutation: the duplicate checks must fail)")

const (
	faultWorkers   = 4                      // publishes in flight at most
	faultRate      = 200                    // logical events per second, all workers together
	faultRetry     = 250 * time.Millisecond // the hubs' --retry, so that clients come back soon
	faultBackoff   = 100 * time.Millisecond // between a publisher's attempts of one event
	faultGiveUp    = 15 * time.Second       // a publisher stops retrying an event after this
	faultWarmup    = 100                    // events accepted before the fault
	faultMissed    = 20                     // events accepted after some clients went away, before the fault
	faultAfter     = 100                    // events accepted after it, before publishing stops
	faultEndMarker = "end"                  // published last: every subscriber has settled once it has it
)

// faultScenario is one row of TestFaults and of docs/reliability.md's table.
type faultScenario struct {
	name string
	args []string // hub flags beyond the Redis flags and --retry
	// fault is applied mid-run, from the test goroutine: a stall or a
	// pub/sub kill to every master (the standalone server, or each of the
	// Cluster's), a restart to one. It returns once the fault is over
	// (Redis answering again, the hub dead).
	fault func(t *testing.T, r *faultRun)
	// dataLoss is set where Redis loses its data: there, and only there,
	// ssehub.reset (history_lost) honestly covers a gap, only in the
	// partition whose master lost it (faultMode.lost), and a client
	// resuming from before the loss must get one.
	dataLoss bool
}

// faultMode is the Redis a scenario runs on, and the topics and selections
// that fit its partitions.
type faultMode struct {
	name       string // of the subtest: "standalone" or "cluster"
	cluster    bool   // a three-master Redis Cluster, rather than one redis-server
	partitions int    // the hubs' --redis-partitions
	// lost is the partition whose master "redis restarted empty"
	// restarts: on the Cluster, one master of three.
	lost int
	// topics cycle through the publisher: event n goes to
	// topics[n%len(topics)]. Some are followed by no one, which checks
	// that nothing leaks.
	topics []string
	// sels are the streams' selections: exact topics, a pattern and both
	// at once (an event then matches twice and must still arrive once).
	// The client that goes away follows both.
	sels []selection
	// ends are the topics of the end markers, one in each partition,
	// followed by every selection: once a stream has them all, it has
	// settled in every partition, whose messages come in order.
	ends []string
	// load says what runs, in the "faults:" line.
	load string
}

// faultModes returns the standalone mode, which is the suite before
// partitions (and logs the lines docs/reliability.md quotes), and the
// Cluster mode, whose topics are spread over its partitions in the same
// shapes (fleetTopics may all be in one partition).
func faultModes() []faultMode {
	standalone := faultMode{
		name:       "standalone",
		partitions: 1,
		topics:     fleetTopics,
		sels:       []selection{selExact, selPattern, selBoth},
		ends:       []string{"fleet/a"},
	}
	// On the Cluster: a topic of each partition followed exactly (and
	// matched by the pattern), one of each matched by the pattern alone,
	// and one of each followed by no one, published in turn.
	exact := partitionTopics("fleet/a", partitionsTested)
	matched := partitionTopics("fleet/b", partitionsTested)
	ignored := partitionTopics("other", partitionsTested)
	var topics []string
	for k := range partitionsTested {
		topics = append(topics, exact[k], matched[k], ignored[k])
	}
	exactQuery := "topic=" + strings.Join(exact, "&topic=")
	isExact := func(t string) bool { return slices.Contains(exact, t) }
	cluster := faultMode{
		name:       "cluster",
		cluster:    true,
		partitions: partitionsTested,
		lost:       1,
		topics:     topics,
		sels: []selection{
			{"exact", exactQuery, isExact},
			selPattern,
			{"both", exactQuery + "&topic=fleet/*", selBoth.follows},
		},
		ends: exact,
		load: fmt.Sprintf(", %d partitions on a %d-master Redis Cluster", partitionsTested, partitionsTested),
	}
	return []faultMode{standalone, cluster}
}

// TestFaults runs each fault of issue 16 against two real hubs, on one
// real redis-server and on a real three-master Redis Cluster with
// partitionsTested partitions, with subscribers on both hubs following
// topics and a pattern (reconnecting with Last-Event-ID, as EventSource
// does) and a publisher that retries every event with the same
// Idempotency-Key on 503, timeout or connection error. Every event
// answered 200 must reach every subscriber that follows it exactly once,
// in order in its partition, or be covered by an ssehub.reset where Redis
// lost its data; no payload may arrive under two ids. Each scenario logs
// one "faults:" line that docs/reliability.md quotes.
func TestFaults(t *testing.T) {
	t.Parallel()
	scenarios := []faultScenario{
		{
			name: "redis paused 3s",
			fault: func(t *testing.T, r *faultRun) {
				resume := r.pauseMasters(t)
				// The stall is the scenario, not a wait for something.
				time.Sleep(3 * time.Second)
				resume()
			},
		},
		{
			name: "pubsub connections killed",
			fault: func(t *testing.T, r *faultRun) {
				old := make([][]string, len(r.masters))
				for i, rc := range r.rcs {
					var err error
					if old[i], err = pubsubClients(rc); err != nil {
						t.Fatal(err)
					}
					n, err := rc.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
					if err != nil || int(n) != len(old[i]) {
						t.Fatalf("%s: CLIENT KILL TYPE pubsub = %d, %v; want the %d connections killed", r.masters[i].Addr(), n, err, len(old[i]))
					}
				}
				for i, rc := range r.rcs {
					waitResubscribed(t, rc, old[i])
				}
			},
		},
		{
			name:     "redis restarted empty",
			dataLoss: true,
			fault: func(t *testing.T, r *faultRun) {
				victim := r.masters[0]
				if r.mode.cluster {
					victim = r.cluster.MasterOf(t, partitionSlot(t, r.hubs[0], r.mode.lost))
				}
				rc := r.rcs[slices.Index(r.masters, victim)]
				n, err := pubsubClients(rc)
				if err != nil {
					t.Fatal(err)
				}
				victim.Restart() // SIGKILL, then a fresh redis-server on the same port: no data
				if r.mode.cluster {
					r.cluster.WaitReady(t) // it rejoins with its slots, and takes writes after 2 s
				}
				waitPubSub(t, rc, len(n))
			},
		},
		{
			name: "hub killed",
			fault: func(t *testing.T, r *faultRun) {
				r.hubs[1].kill(t) // its subscribers move to hub0 by themselves
			},
		},
		{
			// Publishes time out after --write-timeout with 503
			// broker_unavailable, yet Redis runs them once it resumes:
			// only the retries' Idempotency-Key keeps them from
			// publishing twice.
			name: "redis paused past the publish timeout",
			args: []string{"--write-timeout", "1s"},
			fault: func(t *testing.T, r *faultRun) {
				resume := r.pauseMasters(t)
				time.Sleep(2500 * time.Millisecond) // the stall: 2.5 publish timeouts
				resume()
			},
		},
	}
	for _, mode := range faultModes() {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					// A Cluster scenario runs three redis-servers and two
					// hubs under load: one at a time, so that the suite
					// does not starve the timing of the other packages'
					// tests that make test runs beside it.
					if !mode.cluster {
						t.Parallel()
					}
					runFault(t, mode, sc)
				})
			}
		})
	}
}

// faultRun is one scenario's fleet, clients and publisher.
type faultRun struct {
	mode    faultMode
	cluster *redistest.Cluster  // in the Cluster mode
	masters []*redistest.Server // the standalone server, or the Cluster's masters
	rcs     []*redis.Client     // one for each of masters
	client  *http.Client
	hubs    []*fleetHub
	subs    []*subscriber
	pub     *retryingPublisher
}

func runFault(t *testing.T, mode faultMode, sc faultScenario) {
	start := time.Now()
	r := &faultRun{mode: mode}
	args := append([]string{"--retry", faultRetry.String()}, sc.args...)
	if mode.cluster {
		r.cluster = redistest.StartCluster(t)
		r.masters = r.cluster.Masters(t)
		r.client, r.hubs = startPartitionedFleet(t, r.cluster, 2, args...)
	} else {
		srv := redistest.Start(t)
		r.masters = []*redistest.Server{srv}
		r.client = newHTTPClient(t)
		r.hubs = startFleet(t, r.client, 2, append([]string{"--redis-url", srv.URL()}, args...)...)
		logStderrOnFailure(t, r.hubs...)
	}
	for _, m := range r.masters {
		r.rcs = append(r.rcs, m.Client(t))
	}
	var addrs []string
	for _, h := range r.hubs {
		addrs = append(addrs, h.addr)
	}
	stop := make(chan struct{})
	var followers sync.WaitGroup
	t.Cleanup(func() {
		close(stop)
		followers.Wait()
	})
	// On each hub: three clients that stay, and one that goes away
	// before the fault and resumes after it.
	away := map[*subscriber]int{} // -> its hub's index
	both := mode.sels[len(mode.sels)-1]
	for i, h := range r.hubs {
		for _, sel := range append(slices.Clone(mode.sels), selection{"away", both.query, both.follows}) {
			s := newSubscriber(h.name+"/"+sel.name, sel.query, sel.follows)
			if _, err := s.dial(h.addr); err != nil { // subscribed before the first publish
				t.Fatal(err)
			}
			if sel.name == "away" {
				away[s] = i
			} else {
				followers.Go(func() { s.follow(addrs, i, stop) })
			}
			r.subs = append(r.subs, s)
		}
	}
	r.pub = startRetryingPublisher(r.client, addrs, mode.topics, !*faultsWithoutKey)
	t.Cleanup(r.pub.halt)

	r.pub.waitAccepted(t, faultWarmup)
	for s := range away {
		s.current().close()
	}
	r.pub.waitAccepted(t, r.pub.acceptedCount()+faultMissed)
	faultAt := time.Now()
	sc.fault(t, r)
	faultTook := time.Since(faultAt)
	for s, i := range away {
		followers.Go(func() { s.follow(addrs, i, stop) }) // resumes with Last-Event-ID
	}
	r.pub.waitAccepted(t, r.pub.acceptedCount()+faultAfter)
	r.pub.halt()
	var ends []published // every selection follows each
	for _, tp := range mode.ends {
		ends = append(ends, mustPublish(t, r.client, r.hubs[0].addr, tp, faultEndMarker))
	}
	for _, s := range r.subs {
		s.waitFor(t, fmt.Sprintf("the end markers %v", ends), func() bool { return r.hasEnds(s, ends) })
	}

	f := r.figures()
	if f.lost > 0 || f.duplicated > 0 || f.reordered > 0 || f.leaked > 0 || r.pub.failed() > 0 ||
		(f.unanswered > 0 && r.pub.keyed) || (f.resets > 0 && !sc.dataLoss) || (f.covered > 0 && !sc.dataLoss) {
		want := "0 lost, 0 duplicated, 0 reordered, 0 leaked, no publish given up, none unanswered"
		if !sc.dataLoss {
			want += ", no ssehub.reset"
		}
		t.Errorf("%s: %s; publisher %s; want %s", sc.name, f, r.pub, want)
		for _, s := range r.subs {
			g := r.figuresOf(s)
			t.Logf("subscriber %s over %d connections: %s", s.name, len(s.connections()), g)
			if len(g.lostEvents) > 0 {
				t.Logf("subscriber %s lost, first %d: %s", s.name, len(g.lostEvents), strings.Join(g.lostEvents, ", "))
			}
		}
	}
	if f.unexpectedResets > 0 {
		t.Errorf("%s: %d ssehub.reset with a reason other than history_lost", sc.name, f.unexpectedResets)
	}
	if f.coveredElsewhere > 0 {
		t.Errorf("%s: %d deliveries covered by an ssehub.reset in partitions whose history was not lost (only partition %d's was)",
			sc.name, f.coveredElsewhere, mode.lost)
	}
	if sc.dataLoss {
		for s := range away {
			if g := r.figuresOf(s); g.resets == 0 {
				t.Errorf("%s: subscriber %s resumed from before Redis lost its data without an ssehub.reset: %s", sc.name, s.name, g)
			}
		}
		for _, s := range r.subs {
			for _, e := range s.events() {
				if e.Type == "ssehub.reset" {
					t.Logf("subscriber %s: ssehub.reset id %s data %s", s.name, e.ID, e.Data)
				}
			}
		}
	}
	t.Logf("faults: scenario=%q fault_took=%v load=%q %s publisher=%s took=%v",
		sc.name, faultTook.Round(100*time.Millisecond),
		fmt.Sprintf("%d/s via 2 hubs to %d subscribers%s", faultRate, len(r.subs), mode.load), f, r.pub, time.Since(start).Round(100*time.Millisecond))
}

// pauseMasters stops every master (redistest's Pause, SIGSTOP), as a
// stalled Redis would be, and returns the function that resumes them all.
func (r *faultRun) pauseMasters(t *testing.T) (resume func()) {
	resumes := make([]func(), len(r.masters))
	for i, m := range r.masters {
		resumes[i] = m.Pause(t)
	}
	return func() {
		for _, resume := range resumes {
			resume()
		}
	}
}

// hasEnds reports whether s has received every end marker of ends.
func (r *faultRun) hasEnds(s *subscriber, ends []published) bool {
	evs := s.events()
	for _, end := range ends {
		k := redisbroker.PartitionOf(end.topic, r.mode.partitions)
		if !slices.ContainsFunc(evs, func(e sse.Event) bool {
			c, err := parseStreamID(e.ID, r.mode.partitions)
			return err == nil && e.Data == faultEndMarker && c[k].String() == end.id
		}) {
			return false
		}
	}
	return true
}

// parseStreamID parses the id of an event a stream received on a fleet of
// n partitions as a cursor of n positions: a cursor (eventid.ParseCursor),
// or a plain id <ms>-<seq>, which is a position in partition 0 alone (the
// id of a fleet of one partition, or a cursor that observed only
// partition 0: eventid.Cursor.AppendStreamID), the others not observed.
func parseStreamID(id string, n int) (eventid.Cursor, error) {
	if strings.HasPrefix(id, "c") {
		c, err := eventid.ParseCursor(id)
		if err == nil && len(c) != n {
			err = fmt.Errorf("cursor %q has %d partitions, want %d", id, len(c), n)
		}
		return c, err
	}
	p, err := eventid.Parse(id)
	if err != nil {
		return nil, err
	}
	c := make(eventid.Cursor, n)
	c[0] = p
	return c, nil
}

// faultFigures are what one scenario counts, over every subscriber: each
// event answered 200 counts once per subscriber that follows it.
type faultFigures struct {
	published  int // events answered 200 (each once)
	expected   int // deliveries they are due: one per subscriber that follows the event
	delivered  int // of those, received
	lost       int // of those, neither received nor covered by a reset
	covered    int // of those, not received but inside the gap of an ssehub.reset
	duplicated int // receipts of a position already received, or of a payload already received at another position
	reordered  int // receipts not after the one before in their partition, or going back in another (resets included)
	unanswered int // receipts of an event whose publish was never answered 200 (its retries gave up)
	leaked     int // receipts of an event the subscriber does not follow
	resets     int // ssehub.reset events
	// unexpectedResets are resets with another reason than history_lost.
	unexpectedResets int
	// coveredElsewhere are the covered deliveries in a partition other
	// than faultMode.lost, whose history was never lost.
	coveredElsewhere int
	reconnects       int
	// lostEvents names the first lost events, for a failure's log.
	lostEvents []string
}

func (f faultFigures) String() string {
	return fmt.Sprintf("published=%d delivered=%d/%d lost=%d duplicated=%d resets=%d covered=%d reordered=%d unanswered=%d leaked=%d reconnects=%d",
		f.published, f.delivered, f.expected, f.lost, f.duplicated, f.resets, f.covered, f.reordered, f.unanswered, f.leaked, f.reconnects)
}

func (f *faultFigures) add(g faultFigures) {
	f.expected += g.expected
	f.delivered += g.delivered
	f.lost += g.lost
	f.covered += g.covered
	f.duplicated += g.duplicated
	f.reordered += g.reordered
	f.unanswered += g.unanswered
	f.leaked += g.leaked
	f.resets += g.resets
	f.unexpectedResets += g.unexpectedResets
	f.coveredElsewhere += g.coveredElsewhere
	f.reconnects += g.reconnects
}

func (r *faultRun) figures() faultFigures {
	f := faultFigures{published: len(r.pub.accepted())}
	for _, s := range r.subs {
		f.add(r.figuresOf(s))
	}
	return f
}

// faultPosition identifies an event: its partition, and its id in that
// partition's sequence. The publish response gives the id (of the
// partition of the event's topic); the stream, the cursor whose component
// in that partition is the id (the shard raises it to the event's). On a
// fleet of one partition both are the event's id.
type faultPosition struct {
	partition int
	id        eventid.ID
}

// figuresOf counts what s received against what was published, in each
// partition as the suite counted in the one id order of a fleet of one
// partition.
func (r *faultRun) figuresOf(s *subscriber) faultFigures {
	n := r.mode.partitions
	f := faultFigures{published: len(r.pub.accepted())}
	positionOf := func(tp, id string) faultPosition {
		p, _ := eventid.Parse(id)
		return faultPosition{redisbroker.PartitionOf(tp, n), p}
	}
	accepted := map[faultPosition]bool{}
	for _, p := range r.pub.accepted() {
		accepted[positionOf(p.topic, p.id)] = true
	}
	// An ssehub.reset covers (after, upTo] in each partition: after is
	// the lastEventId it answers, upTo its own id (the heads of the
	// partitions it resets, the resume point in the others). A partial
	// reset covers only the topics it names and those its patterns match.
	type gap struct {
		after, upTo      eventid.Cursor
		topics, patterns []string
	}
	var gaps []gap
	received := map[faultPosition]int{}
	first := map[string]faultPosition{} // payload -> the first position it came at
	newest := make(eventid.Cursor, n)   // in each partition, the newest position received
	for _, e := range s.events() {
		c, err := parseStreamID(e.ID, n)
		if err != nil {
			f.reordered++ // no position at all
			continue
		}
		k := -1 // the event's partition; none for a reset
		var tp string
		if e.Type != "ssehub.reset" && e.Data != faultEndMarker {
			if i, err := strconv.Atoi(strings.TrimPrefix(e.Data, "e")); err == nil {
				tp = r.mode.topics[i%len(r.mode.topics)]
				k = redisbroker.PartitionOf(tp, n)
			}
		}
		back, advanced := false, false
		for j := range c {
			back = back || c[j].Less(newest[j])
			advanced = advanced || newest[j].Less(c[j])
		}
		if back || !advanced || (k >= 0 && !newest[k].Less(c[k])) {
			f.reordered++
		}
		for j := range c {
			if newest[j].Less(c[j]) {
				newest[j] = c[j]
			}
		}
		if e.Type == "ssehub.reset" {
			f.resets++
			var d struct {
				Reason, LastEventID string
				Topics, Patterns    []string
			}
			_ = json.Unmarshal([]byte(e.Data), &d)
			if d.Reason != "history_lost" {
				f.unexpectedResets++
			}
			after, err := parseStreamID(d.LastEventID, n)
			if err != nil {
				after = make(eventid.Cursor, n)
			}
			gaps = append(gaps, gap{after, c, d.Topics, d.Patterns})
			continue
		}
		if e.Data == faultEndMarker {
			continue
		}
		if k < 0 { // not a payload of the publisher
			f.leaked++
			f.unanswered++
			continue
		}
		pos := faultPosition{k, c[k]}
		if received[pos]++; received[pos] > 1 {
			f.duplicated++
			continue
		}
		if p, ok := first[e.Data]; ok && p != pos {
			f.duplicated++
		} else if !ok {
			first[e.Data] = pos
		}
		if !s.follows(tp) {
			f.leaked++
		}
		if !accepted[pos] {
			f.unanswered++
		}
	}
	for _, p := range r.pub.accepted() {
		if !s.follows(p.topic) {
			continue
		}
		f.expected++
		pos := positionOf(p.topic, p.id)
		switch {
		case received[pos] > 0:
			f.delivered++
		case slices.ContainsFunc(gaps, func(g gap) bool {
			k := pos.partition
			return g.after[k].Less(pos.id) && !g.upTo[k].Less(pos.id) &&
				(len(g.topics)+len(g.patterns) == 0 || slices.Contains(g.topics, p.topic) || topic.MatchedByAny(g.patterns, p.topic))
		}):
			f.covered++
			if pos.partition != r.mode.lost {
				f.coveredElsewhere++
			}
		default:
			if f.lost++; f.lost <= 10 {
				f.lostEvents = append(f.lostEvents, fmt.Sprintf("%s (topic %s, %s in partition %d)", p.data, p.topic, p.id, pos.partition))
			}
		}
	}
	f.reconnects = len(s.connections()) - 1
	return f
}

// connections returns the subscriber's connections so far.
func (s *subscriber) connections() []*sseConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.conns)
}

// dial opens a connection to the hub at addr, resuming from the last id
// received, as connect does; it returns an error rather than failing the
// test, so that a follower can call it from its own goroutine. The stream
// is subscribed when dial returns.
func (s *subscriber) dial(addr string) (*sseConn, error) {
	req := "GET /events?" + s.query + " HTTP/1.1\r\nHost: ssehub\r\nAccept: text/event-stream\r\n"
	if id := s.lastID(); id != "" {
		req += "Last-Event-ID: " + id + "\r\n"
	}
	conn, err := net.DialTimeout("tcp", addr, fleetTimeout)
	if err != nil {
		return nil, fmt.Errorf("GET /events?%s on %s: %w", s.query, addr, err)
	}
	conn.SetDeadline(time.Now().Add(fleetTimeout))
	resp, err := func() (*http.Response, error) {
		if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
			return nil, err
		}
		return http.ReadResponse(bufio.NewReader(conn), nil)
	}()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d, want 200", resp.StatusCode)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("GET /events?%s on %s: %w", s.query, addr, err)
	}
	conn.SetDeadline(time.Time{}) // read until the stream or the test ends
	c := &sseConn{hub: addr, closer: conn, r: sse.NewReader(resp.Body), done: make(chan struct{})}
	s.addConn(c)
	return c, nil
}

// follow keeps s connected as EventSource does, until stop is closed: when
// its stream ends it waits the retry the hub last told it and reconnects
// with Last-Event-ID, to the same hub, or, while that cannot be reached, to
// the next of hubs in turn (as a load balancer would). It runs in its own
// goroutine; s's current connection is to hubs[i] when it starts.
func (s *subscriber) follow(hubs []string, i int, stop <-chan struct{}) {
	wait := func(d time.Duration) bool {
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	for {
		c := s.current()
		select {
		case <-stop:
			c.close()
			return
		case <-c.done:
		}
		retry, sent, _, _ := c.retry()
		if !sent {
			retry = faultRetry
		}
		if !wait(retry) {
			return
		}
		for {
			if _, err := s.dial(hubs[i%len(hubs)]); err == nil {
				break
			}
			i++ // EventSource would come back through the balancer, to another hub
			if !wait(faultBackoff) {
				return
			}
		}
	}
}

// retryingPublisher publishes logical events e0, e1, ... at faultRate
// from faultWorkers goroutines, through its hubs in turn. It retries an
// event that is not answered 200 (503, a timeout, a refused connection) on
// the next hub after faultBackoff, with the same Idempotency-Key, for up
// to faultGiveUp. It records the ids of the events answered 200.
type retryingPublisher struct {
	client *http.Client
	hubs   []string
	topics []string
	keyed  bool // send Idempotency-Key; false only for the mutation check
	stop   chan struct{}
	wg     sync.WaitGroup
	more   chan struct{} // capacity 1: "an event was accepted"

	mu       sync.Mutex
	events   []published    // answered 200, in the order of the answers
	outcomes map[string]int // every attempt's outcome: "200", "503 broker_unavailable", "timeout", ...
	attempts int
	gaveUp   int
	err      error // an answer no retry can mend (400, 422): the test fails
}

func startRetryingPublisher(client *http.Client, hubs, topics []string, keyed bool) *retryingPublisher {
	p := &retryingPublisher{client: client, hubs: hubs, topics: topics, keyed: keyed,
		stop: make(chan struct{}), more: make(chan struct{}, 1), outcomes: map[string]int{}}
	for w := range faultWorkers {
		p.wg.Go(func() { p.run(w) })
	}
	return p
}

// run publishes events w, w+faultWorkers, ...; an event being retried
// holds the worker's next ones back, as a publisher with a few
// connections would.
func (p *retryingPublisher) run(w int) {
	tick := time.NewTicker(time.Second * faultWorkers / faultRate)
	defer tick.Stop()
	for n := w; ; n += faultWorkers {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.publish(n)
	}
}

// publish sends event n until it is answered 200 or faultGiveUp has
// passed.
func (p *retryingPublisher) publish(n int) {
	topic, data := p.topics[n%len(p.topics)], "e"+strconv.Itoa(n)
	body, _ := json.Marshal(map[string]string{"topic": topic, "data": data})
	key := ""
	if p.keyed {
		key = fmt.Sprintf("%q", data) // quoted, as the draft has it
	}
	deadline := time.Now().Add(faultGiveUp)
	for attempt := 0; ; attempt++ {
		addr := p.hubs[(n+attempt)%len(p.hubs)]
		id, outcome, err := postKeyed(p.client, addr, key, body)
		p.mu.Lock()
		p.attempts++
		p.outcomes[outcome]++
		switch {
		case id != "":
			p.events = append(p.events, published{id: id, topic: topic, data: data})
		case err != nil:
			p.err = firstErr(p.err, err)
		case time.Now().After(deadline):
			p.gaveUp++
		}
		p.mu.Unlock()
		if id != "" {
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		if id != "" || err != nil || time.Now().After(deadline) {
			return
		}
		// Not even halt stops the retries of an event once sent: they
		// are what the checks are about.
		time.Sleep(faultBackoff)
	}
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// postKeyed posts body to addr's /publish with the Idempotency-Key key (if
// any) and returns the id of a 200 and the outcome, as "200", "503
// broker_unavailable", "timeout" or "connection error"; err is set for an
// answer that retrying cannot change.
func postKeyed(client *http.Client, addr, key string, body []byte) (id, outcome string, err error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/publish", strings.NewReader(string(body)))
	if err != nil {
		return "", "request", err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", "timeout", nil
		}
		return "", "connection error", nil
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct {
		IDs   []string
		Error struct{ Code string }
	}
	_ = json.Unmarshal(raw, &out)
	outcome = strconv.Itoa(resp.StatusCode)
	if out.Error.Code != "" {
		outcome += " " + out.Error.Code
	}
	switch {
	case resp.StatusCode == http.StatusOK && len(out.IDs) == 1:
		return out.IDs[0], outcome, nil
	case resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusTooManyRequests:
		return "", outcome, nil
	default:
		return "", outcome, fmt.Errorf("POST %s/publish %s (Idempotency-Key %s) = %d %s", addr, body, key, resp.StatusCode, raw)
	}
}

// waitAccepted waits until n events in all have been answered 200.
func (p *retryingPublisher) waitAccepted(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(fleetTimeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		got, err := len(p.events), p.err
		p.mu.Unlock()
		if err != nil {
			t.Fatalf("publisher: %v", err)
		}
		if got >= n {
			return
		}
		select {
		case <-p.more:
		case <-deadline.C:
			t.Fatalf("publisher: %d events answered 200 after %v, want %d; attempts: %s", got, fleetTimeout, n, p)
		}
	}
}

func (p *retryingPublisher) acceptedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// accepted returns the events answered 200.
func (p *retryingPublisher) accepted() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// failed returns how many events were given up or answered in a way no
// retry can mend.
func (p *retryingPublisher) failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.gaveUp
	if p.err != nil {
		n++
	}
	return n
}

// halt stops publishing and waits for the publishes in flight.
func (p *retryingPublisher) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// String summarizes the attempts: how many, and their outcomes.
func (p *retryingPublisher) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var outs []string
	for o, n := range p.outcomes {
		outs = append(outs, fmt.Sprintf("%s:%d", o, n))
	}
	slices.Sort(outs)
	s := fmt.Sprintf("{attempts=%d outcomes=[%s] gave_up=%d keyed=%v}", p.attempts, strings.Join(outs, " "), p.gaveUp, p.keyed)
	if p.err != nil {
		s += " error: " + p.err.Error()
	}
	return s
}
