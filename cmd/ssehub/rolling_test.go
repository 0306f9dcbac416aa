package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/sse"
)

// rollingDrainWindow is the hubs' --drain-window in the rolling-restart
// test; their --retry is the default 3s, which openStream checks.
const (
	rollingDrainWindow = time.Second
	rollingRetry       = 3 * time.Second
)

// balancer stands for the load balancer in front of a fleet: it sends each
// new stream to the next hub it believes ready, in turn. Its methods are for
// the test goroutine.
type balancer struct {
	hubs []*fleetHub
	next int
}

func (b *balancer) pick() *fleetHub {
	h := b.hubs[b.next%len(b.hubs)]
	b.next++
	return h
}

func (b *balancer) remove(h *fleetHub) {
	b.hubs = slices.DeleteFunc(b.hubs, func(x *fleetHub) bool { return x == h })
}

func (b *balancer) add(h *fleetHub) { b.hubs = append(b.hubs, h) }

// moved is one stream a drain ended, and what its client did next.
type moved struct {
	sub          *subscriber
	ended, back  time.Duration // after SIGTERM: the stream's end, the reconnect
	retry        time.Duration // the delay the hub told it
	retryWasSent bool
	err          error  // how the stream ended
	to           string // the hub it reconnected to
}

// TestFleetRollingRestart: a rolling deploy nobody notices. Three hubs on
// one Redis serve subscribers spread across them under steady publishing;
// each hub in turn gets SIGTERM and is started again. The draining hub
// answers /readyz with 503 at once, keeps taking publishes, tells a stream
// that arrives meanwhile to retry, and ends its open streams one after
// another over --drain-window, each with a jittered retry. Its clients
// reconnect as EventSource does: after the retry they were told, through
// the balancer, with Last-Event-ID. In the end every subscriber has every
// event it follows exactly once, in order.
func TestFleetRollingRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	// A queue deep enough that no stream is evicted as slow when the
	// machine is busy: every stream here must end by the drain, and say
	// when to retry.
	args := []string{"--redis-url", srv.URL(), "--drain-window", rollingDrainWindow.String(), "--queue-size", "1024"}
	hubs := startFleet(t, client, 3, args...)
	exact2 := selExact
	exact2.name = "exact2"
	subs := subscribeAll(t, hubs, selExact, exact2, selPattern, selBoth)
	lb := &balancer{hubs: slices.Clone(hubs)}
	pub := startPublisher(t, client, hubs, fleetTopics...)
	pub.waitCount(t, stepEvents)
	for _, s := range subs {
		s.waitEvents(t, 1) // so each has an id to resume from, as a browser would
	}

	for i, victim := range hubs {
		sigterm := time.Now()
		if err := victim.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("SIGTERM %s: %v", victim.name, err)
		}
		poll(t, victim.name+" /readyz 503 once draining", func() (bool, string) {
			st := readyStatus(client, victim.addr)
			return st == http.StatusServiceUnavailable, fmt.Sprintf("status %d", st)
		})
		notReady := time.Since(sigterm)
		// A stream that reaches the draining hub before the balancer has
		// noticed is told to retry, and ends: EventSource retries rather
		// than giving up, as it would on an error status.
		checkRefusedWhileDraining(t, victim)
		// Publishing goes on through the draining hub until the balancer
		// has noticed; the publisher fails the test on any error.
		pub.waitCount(t, pub.count()+10)
		lb.remove(victim)
		pub.removeHub(victim.addr)

		var leaving []*subscriber
		for _, s := range subs {
			if s.current().hub == victim.addr {
				leaving = append(leaving, s)
			}
		}
		moves, exited := reconnectAfterRetry(t, leaving, lb, victim, sigterm)
		if code := victim.proc.wait(t, fleetTimeout); code != 0 {
			t.Errorf("%s after SIGTERM exit code = %d, want 0; stderr:\n%s", victim.name, code, victim.proc.stderr)
		}
		if exited == 0 { // after its streams had all reconnected elsewhere
			exited = time.Since(sigterm)
		}
		if !strings.Contains(victim.proc.stderr.String(), `msg="ssehub drained"`) {
			t.Errorf("%s did not log that it drained; stderr:\n%s", victim.name, victim.proc.stderr)
		}
		checkSpread(t, victim.name, moves)
		t.Logf("%s: /readyz 503 after %v, exited after %v; %s", victim.name, notReady.Round(time.Millisecond), exited.Round(time.Millisecond), spreadReport(moves))

		p, addr := startServing(t, nil, args...)
		hubs[i] = &fleetHub{name: victim.name + "'", addr: addr, proc: p}
		waitReady(t, client, "http://"+addr+"/readyz", fleetTimeout)
		lb.add(hubs[i])
		pub.addHub(addr)
		pub.waitCount(t, pub.count()+stepEvents)
	}
	evs := pub.finish(t)
	checkIDsIncrease(t, evs)
	checkEach(t, subs, evs)
	spreadAcross := map[string]int{}
	for _, s := range subs {
		spreadAcross[hubName(hubs, s.current().hub)]++
	}
	t.Logf("%d events to %d subscribers over %d restarts; subscribers per hub at the end: %v", len(evs), len(subs), len(hubs), spreadAcross)
}

// checkRefusedWhileDraining opens a stream on a draining hub: it must be a
// 200 stream that sets a retry within the jitter and ends.
func checkRefusedWhileDraining(t *testing.T, h *fleetHub) {
	t.Helper()
	st := openStream(t, h.addr, selExact.query) // checks 200, text/event-stream and the head
	r := sse.NewReader(st.body)
	st.conn.SetReadDeadline(time.Now().Add(fleetTimeout))
	if e, err := r.Next(); err != io.EOF {
		t.Errorf("stream opened on draining %s: Next = %+v, %v; want its end", h.name, e, err)
	}
	ms, ok := r.Retry()
	if d := time.Duration(ms) * time.Millisecond; !ok || d < rollingRetry/2 || d >= 3*rollingRetry/2 {
		t.Errorf("stream opened on draining %s: retry %dms (sent %v), want within [%v, %v)", h.name, ms, ok, rollingRetry/2, 3*rollingRetry/2)
	}
}

// reconnectAfterRetry waits for the streams of subs to end and reconnects
// each, as EventSource does, once the retry it was told has passed: to the
// balancer's next hub, with Last-Event-ID. It also notes when the draining
// hub exited, if it did by then. Times are after sigterm.
func reconnectAfterRetry(t *testing.T, subs []*subscriber, lb *balancer, draining *fleetHub, sigterm time.Time) (moves []*moved, exited time.Duration) {
	t.Helper()
	var waiting []*moved
	for _, s := range subs {
		m := &moved{sub: s}
		moves, waiting = append(moves, m), append(waiting, m)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := sigterm.Add(fleetTimeout)
	for len(waiting) > 0 {
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("%d streams still not reconnected %v after SIGTERM", len(waiting), fleetTimeout)
		}
		select {
		case <-draining.proc.exited:
			if exited == 0 {
				exited = now.Sub(sigterm)
			}
		default:
		}
		waiting = slices.DeleteFunc(waiting, func(m *moved) bool {
			c := m.sub.current()
			if !c.ended() {
				return false
			}
			if m.ended == 0 {
				var endedAt time.Time
				m.retry, m.retryWasSent, endedAt, m.err = c.retry()
				m.ended = endedAt.Sub(sigterm)
				if !m.retryWasSent {
					m.retry = rollingRetry // what its head said
				}
			}
			if now.Sub(sigterm) < m.ended+m.retry {
				return false
			}
			h := lb.pick()
			m.sub.connect(t, h.addr)
			m.back, m.to = time.Since(sigterm), h.name
			return true
		})
		<-tick.C
	}
	return moves, exited
}

// checkSpread checks that the drain ended the streams gradually over the
// window, each with a retry within the jitter.
func checkSpread(t *testing.T, hub string, moves []*moved) {
	t.Helper()
	var ends []time.Duration
	for _, m := range moves {
		if !m.retryWasSent || m.retry < rollingRetry/2 || m.retry >= 3*rollingRetry/2 {
			t.Errorf("%s: subscriber %s was told retry %v (sent %v) before its stream ended (%v) %v after SIGTERM, want within [%v, %v)",
				hub, m.sub.name, m.retry, m.retryWasSent, m.err, m.ended, rollingRetry/2, 3*rollingRetry/2)
		}
		ends = append(ends, m.ended)
	}
	if len(ends) < 2 {
		return
	}
	// n streams end at (k-½)/n of the window: first to last is (n-1)/n of it.
	spread := slices.Max(ends) - slices.Min(ends)
	if spread < rollingDrainWindow/3 || slices.Max(ends) > rollingDrainWindow+2*time.Second {
		t.Errorf("%s: %d streams ended %v after SIGTERM; want them spread over the %v drain window", hub, len(ends), ends, rollingDrainWindow)
	}
}

// spreadReport summarizes when the drained streams ended and came back, and
// where to.
func spreadReport(moves []*moved) string {
	if len(moves) == 0 {
		return "no streams to move"
	}
	var ends, backs []time.Duration
	to := map[string]int{}
	for _, m := range moves {
		ends, backs = append(ends, m.ended), append(backs, m.back)
		to[m.to]++
	}
	slices.Sort(ends)
	slices.Sort(backs)
	r := func(ds []time.Duration) []time.Duration {
		out := make([]time.Duration, len(ds))
		for i, d := range ds {
			out[i] = d.Round(10 * time.Millisecond)
		}
		return out
	}
	return fmt.Sprintf("%d streams ended at %v, reconnected at %v (spread %v) to %v",
		len(moves), r(ends), r(backs), (backs[len(backs)-1] - backs[0]).Round(time.Millisecond), to)
}

func hubName(hubs []*fleetHub, addr string) string {
	for _, h := range hubs {
		if h.addr == addr {
			return h.name
		}
	}
	return addr
}
