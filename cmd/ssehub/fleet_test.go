package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/redisbroker"
	"github.com/ssehub/ssehub/transport/sse"
)

// The fleet tests run real ssehub processes on real redis-server processes
// and check the delivery semantics (docs/protocol.md#delivery-semantics)
// end to end: every subscriber
// gets every event of its topics exactly once and in id order, across pub/sub
// reconnects, hub kills, Redis restarts and Redis Cluster.

const (
	fleetTimeout = 10 * time.Second      // any single wait in these tests
	publishEvery = 2 * time.Millisecond  // the steady publishers' pace
	pollInterval = 10 * time.Millisecond // between probes of Redis or /readyz
	stepEvents   = 100                   // events published between disruptions
)

// fleetHub is one ssehub process of a fleet.
type fleetHub struct {
	name string
	addr string
	proc *process
}

// startFleet starts n hubs with args and waits until each is ready.
func startFleet(t *testing.T, client *http.Client, n int, args ...string) []*fleetHub {
	t.Helper()
	hubs := make([]*fleetHub, n)
	for i := range hubs {
		p, addr := startServing(t, nil, args...)
		hubs[i] = &fleetHub{name: fmt.Sprintf("hub%d", i), addr: addr, proc: p}
	}
	for _, h := range hubs {
		waitReady(t, client, "http://"+h.addr+"/readyz", fleetTimeout)
	}
	return hubs
}

// kill ends the hub with SIGKILL and waits until it is gone.
func (h *fleetHub) kill(t *testing.T) {
	t.Helper()
	if err := h.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s: %v", h.name, err)
	}
	h.proc.wait(t, fleetTimeout)
}

// published is one event as POST /publish accepted it.
type published struct {
	id, topic, data string
}

// want is how a subscriber should see it.
func (p published) want() string { return p.id + " message " + p.data }

// publish posts one event through the hub at addr and returns its id. It
// may run on any goroutine.
func publish(client *http.Client, addr, topic, data string) (published, error) {
	body, _ := json.Marshal(map[string]string{"topic": topic, "data": data})
	resp, err := client.Post("http://"+addr+"/publish", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return published{}, fmt.Errorf("POST %s/publish %s: %w", addr, body, err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct{ IDs []string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || len(out.IDs) != 1 {
		return published{}, fmt.Errorf("POST %s/publish %s = %d %s, want 200 {\"ids\":[ID]}", addr, body, resp.StatusCode, raw)
	}
	return published{id: out.IDs[0], topic: topic, data: data}, nil
}

func mustPublish(t *testing.T, client *http.Client, addr, topic, data string) published {
	t.Helper()
	p, err := publish(client, addr, topic, data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// publisher publishes a steady stream of events in its own goroutine,
// through its hubs in turn, until stopped.
type publisher struct {
	client   *http.Client
	topics   []string
	progress chan struct{} // capacity 1: "an event was published"
	stop     chan struct{}
	done     chan struct{} // closed when the goroutine has returned

	mu     sync.Mutex // held for each whole publish, so removeHub waits for one in flight
	hubs   []string
	events []published
	err    error
}

func startPublisher(t *testing.T, client *http.Client, hubs []*fleetHub, topics ...string) *publisher {
	t.Helper()
	p := &publisher{client: client, topics: topics, progress: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, h := range hubs {
		p.hubs = append(p.hubs, h.addr)
	}
	go p.run()
	t.Cleanup(p.halt)
	return p
}

func (p *publisher) run() {
	defer close(p.done)
	tick := time.NewTicker(publishEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		ev, err := publish(p.client, p.hubs[i%len(p.hubs)], p.topics[i%len(p.topics)], fmt.Sprintf("e%d", i))
		if err != nil {
			p.err = err
		} else {
			p.events = append(p.events, ev)
		}
		p.mu.Unlock()
		select {
		case p.progress <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// removeHub stops publishing through addr; it returns once no publish
// through it is in flight.
func (p *publisher) removeHub(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hubs = slices.DeleteFunc(p.hubs, func(a string) bool { return a == addr })
}

// addHub publishes through addr too, from the next event on.
func (p *publisher) addHub(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hubs = append(p.hubs, addr)
}

// waitCount waits until n events in all have been published.
func (p *publisher) waitCount(t *testing.T, n int) {
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
		case <-p.progress:
		case <-p.done:
		case <-deadline.C:
			t.Fatalf("publisher: %d events published after %v, want %d", got, fleetTimeout, n)
		}
	}
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

func (p *publisher) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// finish stops the publisher and returns what it published, in order.
func (p *publisher) finish(t *testing.T) []published {
	t.Helper()
	p.halt()
	if p.err != nil {
		t.Fatalf("publisher: %v", p.err)
	}
	return p.events
}

// sseConn is one connection of a subscriber, read by its own goroutine.
type sseConn struct {
	hub    string
	stream *sseStream    // nil for a stream read through a proxy
	closer io.Closer     // ends the stream: its conn, or its response body
	r      *sse.Reader   // owned by the reading goroutine until done
	done   chan struct{} // closed when the reading goroutine has returned

	mu      sync.Mutex
	events  []sse.Event
	err     error     // why reading stopped
	endedAt time.Time // when it stopped
}

// subscriber is one client as EventSource is: it follows a query and, when
// a connection ends, reconnects (to the same or another hub) with
// Last-Event-ID set to the last id it received. Its methods are for the
// test goroutine.
type subscriber struct {
	name, query string
	follows     func(topic string) bool
	changed     chan struct{} // capacity 1: "a connection read something or ended"

	mu    sync.Mutex // guards conns: a follower (faults_test.go) reconnects from its own goroutine
	conns []*sseConn
}

func newSubscriber(name, query string, follows func(topic string) bool) *subscriber {
	return &subscriber{name: name, query: query, follows: follows, changed: make(chan struct{}, 1)}
}

// connect opens a connection to the hub at addr, resuming from the last id
// received, if any. The stream is subscribed when connect returns.
func (s *subscriber) connect(t *testing.T, addr string) *sseConn {
	t.Helper()
	var header []string
	if id := s.lastID(); id != "" {
		header = append(header, "Last-Event-ID: "+id)
	}
	return s.connectWith(t, addr, header...)
}

func (s *subscriber) connectWith(t *testing.T, addr string, header ...string) *sseConn {
	t.Helper()
	if c := s.current(); c != nil {
		c.close()
	}
	c := &sseConn{hub: addr, stream: openStream(t, addr, s.query, header...), done: make(chan struct{})}
	c.stream.conn.SetReadDeadline(time.Time{}) // read until the stream or the test ends
	c.closer, c.r = c.stream.conn, sse.NewReader(c.stream.body)
	s.addConn(c)
	t.Cleanup(c.close)
	return c
}

// addConn adds c as the subscriber's current connection and starts its
// reader.
func (s *subscriber) addConn(c *sseConn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
	go c.read(c.r, s.changed)
}

func (c *sseConn) read(r *sse.Reader, changed chan<- struct{}) {
	defer close(c.done)
	for {
		e, err := r.Next()
		c.mu.Lock()
		if err != nil {
			c.err, c.endedAt = err, time.Now()
		} else {
			c.events = append(c.events, e)
		}
		c.mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// close ends the connection, as a browser closing the page, and waits for
// its reader.
func (c *sseConn) close() {
	c.closer.Close()
	<-c.done
}

// retry returns the reconnect delay the stream last set after its head, as
// EventSource would use it, and when and why the stream ended; only once it
// has.
func (c *sseConn) retry() (retry time.Duration, sent bool, endedAt time.Time, err error) {
	<-c.done
	ms, ok := c.r.Retry()
	return time.Duration(ms) * time.Millisecond, ok, c.endedAt, c.err
}

func (c *sseConn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (s *subscriber) current() *sseConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return nil
	}
	return s.conns[len(s.conns)-1]
}

// events returns what every connection received, in order.
func (s *subscriber) events() []sse.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []sse.Event
	for _, c := range s.conns {
		c.mu.Lock()
		all = append(all, c.events...)
		c.mu.Unlock()
	}
	return all
}

// got formats events as want formats published events.
func got(events []sse.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID + " " + e.Type + " " + e.Data
	}
	return out
}

// lastID is the id an EventSource would send on reconnecting.
func (s *subscriber) lastID() string {
	if ev := s.events(); len(ev) > 0 {
		return ev[len(ev)-1].ID
	}
	return ""
}

// wants returns the events of evs the subscriber follows, as it should see
// them.
func (s *subscriber) wants(evs []published) []string {
	var out []string
	for _, e := range evs {
		if s.follows(e.topic) {
			out = append(out, e.want())
		}
	}
	return out
}

// waitFor waits until cond holds, re-checking whenever a connection reads
// something.
func (s *subscriber) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(fleetTimeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-s.changed:
		case <-deadline.C:
			if !cond() {
				t.Fatalf("subscriber %s (%s): no %s within %v; received %d events:\n%s",
					s.name, s.query, what, fleetTimeout, len(s.events()), strings.Join(got(s.events()), "\n"))
			}
		}
	}
}

// waitEvents waits until the subscriber has received at least n events.
func (s *subscriber) waitEvents(t *testing.T, n int) {
	t.Helper()
	s.waitFor(t, fmt.Sprintf("%d events", n), func() bool { return len(s.events()) >= n })
}

// checkAll waits until s has received as many events as it follows in evs
// (the events published, in id order) and checks that they are exactly
// those, once each and in order.
func (s *subscriber) checkAll(t *testing.T, evs []published) {
	t.Helper()
	checkEach(t, []*subscriber{s}, evs)
}

// since drops the events at the start of events that are older than id
// first. They were published before the check that published first began,
// by an earlier check on the same topics, and may still reach a stream
// opened after them: pub/sub delivery to another hub can lag, as Redis
// Cluster's bus does. An old event after a newer one is kept, so that a
// reordering still shows.
func since(events []sse.Event, first string) []sse.Event {
	from, err := eventid.Parse(first)
	if err != nil {
		return events
	}
	for i, e := range events {
		if id, err := eventid.Parse(e.ID); err != nil || !id.Less(from) {
			return events[i:]
		}
	}
	return nil
}

// checkEach runs checkAll for every subscriber, all within one timeout.
func checkEach(t *testing.T, subs []*subscriber, evs []published) {
	t.Helper()
	deadline := time.NewTimer(fleetTimeout)
	defer deadline.Stop()
	expired := false
	first := "" // since keeps everything
	if len(evs) > 0 {
		first = evs[0].id
	}
	for _, s := range subs {
		want := s.wants(evs)
		for !expired && len(since(s.events(), first)) < len(want) {
			select {
			case <-s.changed:
			case <-deadline.C:
				expired = true // report what arrived
			}
		}
		if diff := cmp.Diff(want, got(since(s.events(), first))); diff != "" {
			t.Errorf("subscriber %s (%s) over %d connections: events mismatch (-want +got):\n%s",
				s.name, s.query, len(s.conns), diff)
		}
	}
}

// Topics and selections the tests use: an exact topic, a pattern, and both
// at once (an event then matches twice and must still arrive once).
var (
	selExact   = selection{"exact", "topic=fleet/a", func(t string) bool { return t == "fleet/a" }}
	selPattern = selection{"pattern", "topic=fleet/*", func(t string) bool { return strings.HasPrefix(t, "fleet/") }}
	selBoth    = selection{"both", "topic=fleet/a&topic=fleet/*", func(t string) bool { return strings.HasPrefix(t, "fleet/") }}
	// fleetTopics cycle through the publishers: "other" is followed by no
	// one, so it checks that nothing leaks.
	fleetTopics = []string{"fleet/a", "fleet/b", "other", "fleet/a/x"}
)

type selection struct {
	name, query string
	follows     func(topic string) bool
}

// subscribeAll opens each selection on each hub and returns the subscribers.
func subscribeAll(t *testing.T, hubs []*fleetHub, sels ...selection) []*subscriber {
	t.Helper()
	var subs []*subscriber
	for _, h := range hubs {
		for _, sel := range sels {
			s := newSubscriber(h.name+"/"+sel.name, sel.query, sel.follows)
			s.connect(t, h.addr)
			subs = append(subs, s)
		}
	}
	return subs
}

// checkDelivery subscribes on every hub, publishes on each hub in turn and
// checks that every subscriber receives every event it follows exactly
// once, in id order.
func checkDelivery(t *testing.T, client *http.Client, hubs []*fleetHub) {
	t.Helper()
	subs := subscribeAll(t, hubs, selExact, selPattern, selBoth)
	var evs []published
	for i := range 8 * len(hubs) {
		h := hubs[i%len(hubs)]
		evs = append(evs, mustPublish(t, client, h.addr, fleetTopics[i%len(fleetTopics)], fmt.Sprintf("e%d via %s", i, h.name)))
	}
	checkIDsIncrease(t, evs)
	checkEach(t, subs, evs)
}

// checkIDsIncrease checks that the ids /publish returned are totally
// ordered, as they are across a fleet.
func checkIDsIncrease(t *testing.T, evs []published) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		prev, err1 := eventid.Parse(evs[i-1].id)
		next, err2 := eventid.Parse(evs[i].id)
		if err1 != nil || err2 != nil || !prev.Less(next) {
			t.Fatalf("publish ids not increasing: %s then %s", evs[i-1].id, evs[i].id)
		}
	}
}

// poll calls cond every pollInterval until it returns true, or fails the
// test after fleetTimeout with what cond last reported.
func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(fleetTimeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last %s", what, fleetTimeout, state)
		}
		<-tick.C
	}
}

// readyStatus returns the status of GET /readyz, or 0 if it could not be
// read.
func readyStatus(client *http.Client, addr string) int {
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// pubsubClients returns the ids of Redis's pub/sub connections.
func pubsubClients(rc *redis.Client) ([]string, error) {
	list, err := rc.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// waitPubSub waits until Redis has n pub/sub connections: every hub (or
// every shard, with --redis-pubsub-conns 0) has subscribed again after a
// restart.
func waitPubSub(t *testing.T, rc *redis.Client, n int) {
	t.Helper()
	poll(t, fmt.Sprintf("%d pub/sub connections", n), func() (bool, string) {
		ids, err := pubsubClients(rc)
		return err == nil && len(ids) == n, fmt.Sprintf("connections %v, %v", ids, err)
	})
}

// waitResubscribed waits until Redis has as many pub/sub connections as
// old, none of them in old: the hubs are back after those were killed. It
// returns the new ones.
func waitResubscribed(t *testing.T, rc *redis.Client, old []string) []string {
	t.Helper()
	var conns []string
	poll(t, "hubs resubscribed", func() (bool, string) {
		ids, err := pubsubClients(rc)
		if err != nil {
			return false, err.Error()
		}
		conns = ids
		return len(ids) == len(old) && !slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(old, id) }),
			fmt.Sprintf("pub/sub clients %v, killed %v", ids, old)
	})
	return conns
}

// TestFleetDelivery: three hubs on one Redis act as one. Events published
// on any hub reach the subscribers of every hub, once each, in id order.
func TestFleetDelivery(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 3, "--redis-url", srv.URL())
	checkDelivery(t, client, hubs)
}

// TestFleetPubSubKill: Redis drops every pub/sub connection, twice, while
// events stream in. The hubs reconnect and fill the gap from history: every
// subscriber still has every event once, in order.
func TestFleetPubSubKill(t *testing.T) {
	t.Parallel()
	testPubSubKill(t)
}

// TestFleetPubSubKillConnectionPerShard: the same with a pub/sub
// connection per shard (--redis-pubsub-conns 0) rather than one per hub.
func TestFleetPubSubKillConnectionPerShard(t *testing.T) {
	t.Parallel()
	testPubSubKill(t, "--redis-pubsub-conns", "0")
}

func testPubSubKill(t *testing.T, args ...string) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 2, append([]string{"--redis-url", srv.URL()}, args...)...)
	subs := subscribeAll(t, hubs, selExact, selPattern, selBoth)
	conns, err := pubsubClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	pub := startPublisher(t, client, hubs, fleetTopics...)
	for round := 1; round <= 2; round++ {
		pub.waitCount(t, round*stepEvents)
		killed, err := rc.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
		if err != nil || killed == 0 {
			t.Fatalf("CLIENT KILL TYPE pubsub = %d, %v; want some killed", killed, err)
		}
		// Wait until the hubs are back on new connections before the next
		// round, so that it hits those.
		conns = waitResubscribed(t, rc, conns)
		t.Logf("round %d: killed %d pub/sub connections after %d events", round, killed, pub.count())
	}
	pub.waitCount(t, pub.count()+stepEvents)
	evs := pub.finish(t)
	checkIDsIncrease(t, evs)
	checkEach(t, subs, evs)
	for _, s := range subs {
		if len(s.conns) != 1 {
			t.Errorf("subscriber %s reconnected %d times, want its stream to stay up", s.name, len(s.conns)-1)
		}
	}
	for _, h := range hubs {
		if !strings.Contains(h.proc.stderr.String(), "reconnecting") {
			t.Errorf("%s logged no pub/sub reconnect; stderr:\n%s", h.name, h.proc.stderr)
		}
	}
	t.Logf("%d events to %d subscribers", len(evs), len(subs))
}

// TestFleetHubKill: one of three hubs dies with SIGKILL while events stream
// in. Its clients reconnect to the others with Last-Event-ID and, stitched
// across connections, every client has every event once, in order.
func TestFleetHubKill(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 3, "--redis-url", srv.URL())
	// Two identical subscribers per hub resume at the same moment from the
	// same id, as a resume storm does.
	exact2 := selExact
	exact2.name = "exact2"
	subs := subscribeAll(t, hubs, selExact, exact2, selPattern, selBoth)
	pub := startPublisher(t, client, hubs, fleetTopics...)
	pub.waitCount(t, stepEvents)
	for _, s := range subs {
		s.waitEvents(t, 1) // so each has an id to resume from
	}

	victim := hubs[2]
	pub.removeHub(victim.addr)
	victim.kill(t)
	var moved []*subscriber
	for _, s := range subs {
		if s.current().hub == victim.addr {
			s.waitFor(t, "end of stream from the killed hub", s.current().ended)
			moved = append(moved, s)
		}
	}
	t.Logf("killed %s after %d events; reconnecting %d clients", victim.name, pub.count(), len(moved))
	for i, s := range moved {
		s.connect(t, hubs[i%2].addr)
	}
	pub.waitCount(t, pub.count()+stepEvents)
	evs := pub.finish(t)
	checkIDsIncrease(t, evs)
	checkEach(t, subs, evs)
}

// TestFleetRedisRestartEmpty: Redis restarts with no data. /readyz follows
// it down and up; a client resuming from before the restart is told with
// ssehub.reset (history_lost) and then gets live events, and a client that
// stayed connected keeps receiving, as the hub resubscribes.
func TestFleetRedisRestartEmpty(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	hub := startFleet(t, client, 1, "--redis-url", srv.URL())[0]
	stayed := newSubscriber("stayed", selExact.query, selExact.follows)
	stayed.connect(t, hub.addr)
	resumer := newSubscriber("resumer", selExact.query, selExact.follows)
	resumer.connect(t, hub.addr)
	var before []published
	for i := range 5 {
		before = append(before, mustPublish(t, client, hub.addr, "fleet/a", fmt.Sprintf("before%d", i)))
	}
	stayed.checkAll(t, before)
	resumer.checkAll(t, before)
	resumer.current().close()
	conns, err := pubsubClients(srv.Client(t))
	if err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	poll(t, "/readyz 503 while Redis is down", func() (bool, string) {
		st := readyStatus(client, hub.addr)
		return st == http.StatusServiceUnavailable, fmt.Sprintf("status %d", st)
	})
	srv.Restart()
	rc := srv.Client(t)
	poll(t, "/readyz 200 after Redis restarted", func() (bool, string) {
		st := readyStatus(client, hub.addr)
		return st == http.StatusOK, fmt.Sprintf("status %d", st)
	})
	// Events published before every shard has resubscribed are the subject
	// of TestFleetRedisRestartEmptyNoSilentGap; here, wait for them all.
	waitPubSub(t, rc, len(conns))
	first := mustPublish(t, client, hub.addr, "fleet/a", "after0")

	resumer.connect(t, hub.addr)
	resumer.waitEvents(t, len(before)+1)
	reset := resumer.events()[len(before)]
	var data struct{ Reason, LastEventID string }
	if err := json.Unmarshal([]byte(reset.Data), &data); err != nil || reset.Type != "ssehub.reset" {
		t.Fatalf("resume after the restart: first event = %+v, want ssehub.reset", reset)
	}
	if want := before[len(before)-1].id; data.Reason != "history_lost" || data.LastEventID != want {
		t.Errorf("ssehub.reset data = %s, want reason history_lost, lastEventId %s", reset.Data, want)
	}
	// The reset covers the history up to its id; the first event after the
	// restart is in that history.
	if reset.ID != first.id {
		t.Errorf("ssehub.reset id = %s, want the newest id %s", reset.ID, first.id)
	}
	var after []published
	for i := 1; i <= 3; i++ {
		after = append(after, mustPublish(t, client, hub.addr, "fleet/a", fmt.Sprintf("after%d", i)))
	}
	want := append(append(stayed.wants(before), reset.ID+" ssehub.reset "+reset.Data), resumer.wants(after)...)
	resumer.waitEvents(t, len(want))
	if diff := cmp.Diff(want, got(resumer.events())); diff != "" {
		t.Errorf("resuming client: events mismatch (-want +got):\n%s", diff)
	}
	stayed.checkAll(t, append(append(before, first), after...))
	if len(stayed.conns) != 1 || stayed.current().ended() {
		t.Errorf("the client that stayed was disconnected: %v", stayed.current().err)
	}
}

// TestFleetCluster: two hubs on a three-node Redis Cluster deliver as a
// fleet on one Redis does, and a client resuming on the other hub gets
// exactly what it missed, then live events.
func TestFleetCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	addrs := cluster.Addrs()
	url := "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 2, "--redis-mode", "cluster", "--redis-url", url)

	t.Run("delivery", func(t *testing.T) { checkDelivery(t, client, hubs) })

	t.Run("resume on the other hub", func(t *testing.T) { checkResumeElsewhere(t, client, hubs) })
}

// checkResumeElsewhere: subscribers on hubs[0] receive events, disconnect,
// miss some, and reconnect to hubs[1] with Last-Event-ID, as EventSource
// would behind a load balancer; each gets exactly what it follows, once and
// in order. Events are published through both hubs in turn.
func checkResumeElsewhere(t *testing.T, client *http.Client, hubs []*fleetHub) {
	t.Helper()
	subs := subscribeAll(t, hubs[:1], selExact, selPattern, selBoth)
	var evs []published
	pub := func(n int) {
		for range n {
			i := len(evs)
			evs = append(evs, mustPublish(t, client, hubs[i%2].addr, fleetTopics[i%len(fleetTopics)], fmt.Sprintf("r%d", i)))
		}
	}
	pub(8)
	checkEach(t, subs, evs)
	for _, s := range subs {
		s.current().close()
	}
	pub(8) // missed
	for _, s := range subs {
		s.connect(t, hubs[1].addr) // with Last-Event-ID
	}
	pub(4) // live
	checkIDsIncrease(t, evs)
	checkEach(t, subs, evs)
}

// TestFleetRedisRestartEmptyNoSilentGap: an event published after Redis
// restarted empty but before the hub has resubscribed must still reach a
// client that stayed connected, or the client must be told with
// ssehub.reset (docs/protocol.md#delivery-semantics: "It never silently
// skips events").
func TestFleetRedisRestartEmptyNoSilentGap(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	hub := startFleet(t, client, 1, "--redis-url", srv.URL())[0]
	stayed := newSubscriber("stayed", selExact.query, selExact.follows)
	stayed.connect(t, hub.addr)
	before := []published{mustPublish(t, client, hub.addr, "fleet/a", "before")}
	stayed.checkAll(t, before)
	ids, err := pubsubClients(srv.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	conns := len(ids)

	// Restart Redis empty and publish at once, straight into Redis as
	// another hub of the fleet would, while this hub's pub/sub connections
	// are still down (it retries them every 200ms): the gap.
	srv.Restart()
	rc := srv.Client(t)
	direct, err := redisbroker.New(context.Background(), redisbroker.Config{Client: rc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	if ids, err := pubsubClients(rc); err != nil || len(ids) != 0 {
		t.Skipf("the hub resubscribed before the test could publish (%d pub/sub clients, %v)", len(ids), err)
	}
	gapIDs, err := direct.Publish(context.Background(), []broker.Publication{{Topics: []string{"fleet/a"}, Data: []byte("in the gap")}}, broker.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	gap := published{id: gapIDs[0].String(), topic: "fleet/a", data: "in the gap"}
	waitPubSub(t, rc, conns)
	waitReady(t, client, "http://"+hub.addr+"/readyz", fleetTimeout)
	live := mustPublish(t, client, hub.addr, "fleet/a", "live")
	stayed.waitFor(t, "live event "+live.id, func() bool {
		if stayed.current().ended() {
			stayed.connect(t, hub.addr) // as EventSource would
		}
		return stayed.lastID() == live.id
	})

	afterRestart := got(stayed.events()[len(before):])
	if afterRestart[0] != gap.want() && !strings.Contains(afterRestart[0], " ssehub.reset ") {
		t.Errorf("client connected across the Redis restart: events after it = %q, want %q first or an ssehub.reset; %q was skipped silently; hub stderr:\n%s",
			afterRestart, gap.want(), gap.want(), hub.proc.stderr)
	}
}

// TestFleetRedisRestartEmptyResumeBeforePublish: a client resuming from an
// id of the history Redis lost, before anything was published on the
// restarted Redis, is told history_lost, as it is once something was.
func TestFleetRedisRestartEmptyResumeBeforePublish(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	hub := startFleet(t, client, 1, "--redis-url", srv.URL())[0]
	old := mustPublish(t, client, hub.addr, "fleet/a", "before")
	srv.Restart()
	waitReady(t, client, "http://"+hub.addr+"/readyz", fleetTimeout)

	s := newSubscriber("resumer", selExact.query, selExact.follows)
	s.connectWith(t, hub.addr, "Last-Event-ID: "+old.id)
	s.waitEvents(t, 1)
	e := s.events()[0]
	var data struct{ Reason, LastEventID string }
	if err := json.Unmarshal([]byte(e.Data), &data); err != nil || e.Type != "ssehub.reset" {
		t.Fatalf("resume from %s after Redis restarted empty: first event = %+v, want ssehub.reset", old.id, e)
	}
	if data.Reason != "history_lost" || data.LastEventID != old.id {
		t.Errorf("resume from %s after Redis restarted empty: ssehub.reset data = %s, want reason history_lost", old.id, e.Data)
	}
}

// TestFleetHubStartsBeforeRedis: a hub started while Redis is down does not
// exit (it would crash-loop under an orchestrator): it serves, answers
// /readyz 503, and once Redis comes up it is ready and delivers.
func TestFleetHubStartsBeforeRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	srv.Kill()
	client := newHTTPClient(t)
	_, addr := startServing(t, nil, "--redis-url", srv.URL())
	if status := readyStatus(client, addr); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down = %d, want 503", status)
	}
	srv.Restart()
	hub := &fleetHub{name: "hub0", addr: addr}
	waitReady(t, client, "http://"+addr+"/readyz", fleetTimeout)
	checkDelivery(t, client, []*fleetHub{hub})
}

// TestFleetNewStreamDuringRedisOutage: while Redis is down, a new stream is
// answered at once, 200 (an error status would stop EventSource for good)
// with a retry: longer than usual and a comment saying why, and ends. It
// used to wait 10 s for its subscriptions and get an empty reply.
func TestFleetNewStreamDuringRedisOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	_, addr := startServing(t, nil, "--redis-url", srv.URL(), "--retry", "1s")
	waitReady(t, client, "http://"+addr+"/readyz", fleetTimeout)
	srv.Kill()
	poll(t, "/readyz 503 while Redis is down", func() (bool, string) {
		st := readyStatus(client, addr)
		return st == http.StatusServiceUnavailable, fmt.Sprintf("status %d", st)
	})

	start := time.Now()
	resp, err := client.Get("http://" + addr + "/events?topic=news")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK || took > 2*time.Second {
		t.Fatalf("new stream with Redis down: %d %q (%v) after %s, want 200 that ends within about a second",
			resp.StatusCode, body, err, took.Round(time.Millisecond))
	}
	r := sse.NewReader(bytes.NewReader(body))
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	if ms, ok := r.Retry(); !ok || ms < 2000 || ms >= 4000 {
		t.Errorf("retry = %d ms (%v), want 2-4 s: twice the usual, jittered", ms, ok)
	}
	if !bytes.Contains(body, []byte(": broker unavailable")) {
		t.Errorf("body %q does not say why", body)
	}
}
