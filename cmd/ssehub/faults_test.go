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
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/sse"
)

// The fault suite (issue 16, docs/reliability.md): real faults against real
// processes while events stream in, each scenario counting what was
// published, delivered, lost, duplicated and reset.

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
	args []string // hub flags beyond --redis-url and --retry
	// fault is applied mid-run, from the test goroutine; it returns once
	// the fault is over (Redis answering again, the hub dead).
	fault func(t *testing.T, r *faultRun)
	// dataLoss is set where Redis loses its data: there, and only there,
	// ssehub.reset (history_lost) honestly covers a gap, and a client
	// resuming from before the loss must get one.
	dataLoss bool
}

// TestFaults runs each fault of issue 16 against two real hubs on one real
// redis-server, with subscribers on both following a topic and a pattern
// (reconnecting with Last-Event-ID, as EventSource does) and a publisher
// that retries every event with the same Idempotency-Key on 503, timeout or
// connection error. Every event answered 200 must reach every subscriber
// that follows it exactly once, in id order, or be covered by an
// ssehub.reset where Redis lost its data; no payload may arrive under two
// ids. Each scenario logs one "faults:" line that docs/reliability.md
// quotes.
func TestFaults(t *testing.T) {
	t.Parallel()
	scenarios := []faultScenario{
		{
			name: "redis paused 3s",
			fault: func(t *testing.T, r *faultRun) {
				resume := r.srv.Pause(t)
				// The stall is the scenario, not a wait for something.
				time.Sleep(3 * time.Second)
				resume()
			},
		},
		{
			name: "pubsub connections killed",
			fault: func(t *testing.T, r *faultRun) {
				old, err := pubsubClients(r.rc)
				if err != nil {
					t.Fatal(err)
				}
				n, err := r.rc.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
				if err != nil || int(n) != len(old) {
					t.Fatalf("CLIENT KILL TYPE pubsub = %d, %v; want the %d connections killed", n, err, len(old))
				}
				waitResubscribed(t, r.rc, old)
			},
		},
		{
			name:     "redis restarted empty",
			dataLoss: true,
			fault: func(t *testing.T, r *faultRun) {
				n, err := pubsubClients(r.rc)
				if err != nil {
					t.Fatal(err)
				}
				r.srv.Restart() // SIGKILL, then a fresh redis-server on the same port: no data
				waitPubSub(t, r.rc, len(n))
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
				resume := r.srv.Pause(t)
				time.Sleep(2500 * time.Millisecond) // the stall: 2.5 publish timeouts
				resume()
			},
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runFault(t, sc)
		})
	}
}

// faultRun is one scenario's fleet, clients and publisher.
type faultRun struct {
	srv    *redistest.Server
	rc     *redis.Client
	client *http.Client
	hubs   []*fleetHub
	subs   []*subscriber
	pub    *retryingPublisher
}

func runFault(t *testing.T, sc faultScenario) {
	start := time.Now()
	r := &faultRun{srv: redistest.Start(t), client: newHTTPClient(t)}
	r.rc = r.srv.Client(t)
	args := append([]string{"--redis-url", r.srv.URL(), "--retry", faultRetry.String()}, sc.args...)
	r.hubs = startFleet(t, r.client, 2, args...)
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
	for i, h := range r.hubs {
		for _, sel := range []selection{selExact, selPattern, selBoth, {"away", selBoth.query, selBoth.follows}} {
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
	r.pub = startRetryingPublisher(r.client, addrs, fleetTopics, !*faultsWithoutKey)
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
	end := mustPublish(t, r.client, r.hubs[0].addr, "fleet/a", faultEndMarker) // every selection follows fleet/a
	for _, s := range r.subs {
		s.waitFor(t, "the end marker "+end.id, func() bool {
			return slices.ContainsFunc(s.events(), func(e sse.Event) bool { return e.ID == end.id })
		})
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
			t.Logf("subscriber %s over %d connections: %s", s.name, len(s.connections()), r.figuresOf(s))
		}
	}
	if f.unexpectedResets > 0 {
		t.Errorf("%s: %d ssehub.reset with a reason other than history_lost", sc.name, f.unexpectedResets)
	}
	if sc.dataLoss {
		for s := range away {
			if g := r.figuresOf(s); g.resets == 0 {
				t.Errorf("%s: subscriber %s resumed from before Redis lost its data without an ssehub.reset: %s", sc.name, s.name, g)
			}
		}
	}
	t.Logf("faults: scenario=%q fault_took=%v load=%q %s publisher=%s took=%v",
		sc.name, faultTook.Round(100*time.Millisecond),
		fmt.Sprintf("%d/s via 2 hubs to %d subscribers", faultRate, len(r.subs)), f, r.pub, time.Since(start).Round(100*time.Millisecond))
}

// faultFigures are what one scenario counts, over every subscriber: each
// event answered 200 counts once per subscriber that follows it.
type faultFigures struct {
	published  int // events answered 200 (each once)
	expected   int // deliveries they are due: one per subscriber that follows the event
	delivered  int // of those, received
	lost       int // of those, neither received nor covered by a reset
	covered    int // of those, not received but inside the gap of an ssehub.reset
	duplicated int // receipts of an id already received, or of a payload already received under another id
	reordered  int // receipts of an id not after the one before (resets included)
	unanswered int // receipts of an event whose publish was never answered 200 (its retries gave up)
	leaked     int // receipts of an event the subscriber does not follow
	resets     int // ssehub.reset events
	// unexpectedResets are resets with another reason than history_lost.
	unexpectedResets int
	reconnects       int
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
	f.reconnects += g.reconnects
}

func (r *faultRun) figures() faultFigures {
	f := faultFigures{published: len(r.pub.accepted())}
	for _, s := range r.subs {
		f.add(r.figuresOf(s))
	}
	return f
}

// figuresOf counts what s received against what was published.
func (r *faultRun) figuresOf(s *subscriber) faultFigures {
	f := faultFigures{published: len(r.pub.accepted())}
	accepted := map[string]published{}
	for _, p := range r.pub.accepted() {
		accepted[p.id] = p
	}
	type gap struct{ after, upTo eventid.ID } // an ssehub.reset covers (after, upTo]
	var gaps []gap
	ids := map[string]int{}
	idOf := map[string]string{} // payload -> the first id it came with
	var last eventid.ID
	for _, e := range s.events() {
		id, _ := eventid.Parse(e.ID)
		if !last.IsZero() && !last.Less(id) {
			f.reordered++
		}
		last = id
		if e.Type == "ssehub.reset" {
			f.resets++
			var d struct{ Reason, LastEventID string }
			_ = json.Unmarshal([]byte(e.Data), &d)
			if d.Reason != "history_lost" {
				f.unexpectedResets++
			}
			after, _ := eventid.Parse(d.LastEventID)
			gaps = append(gaps, gap{after, id})
			continue
		}
		if e.Data == faultEndMarker {
			continue
		}
		if ids[e.ID]++; ids[e.ID] > 1 {
			f.duplicated++
			continue
		}
		if first, ok := idOf[e.Data]; ok && first != e.ID {
			f.duplicated++
		} else if !ok {
			idOf[e.Data] = e.ID
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(e.Data, "e")); err != nil || !s.follows(fleetTopics[n%len(fleetTopics)]) {
			f.leaked++
		}
		if _, ok := accepted[e.ID]; !ok {
			f.unanswered++
		}
	}
	for _, p := range r.pub.accepted() {
		if !s.follows(p.topic) {
			continue
		}
		f.expected++
		id, _ := eventid.Parse(p.id)
		switch {
		case ids[p.id] > 0:
			f.delivered++
		case slices.ContainsFunc(gaps, func(g gap) bool { return g.after.Less(id) && !g.upTo.Less(id) }):
			f.covered++
		default:
			f.lost++
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
