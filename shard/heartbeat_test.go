package shard

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
)

// TestHeartbeatsOnlyAfterSilence: clients with events on different
// schedules. One with an event every tick gets no heartbeat; an idle one
// gets one at each visit of the bucket it was dealt, as before; none goes
// more than an interval without a write (checked by heartbeatRun).
func TestHeartbeatsOnlyAfterSilence(t *testing.T) {
	forEachWriteMode(t, Config{}, func(t *testing.T, s *Shard) {
		const n, ticks = 48, 8 * heartbeatBuckets
		odds := [4]float64{0, 1, 0.2, 0.05} // client i's chance of an event in a tick
		rng := rand.New(rand.NewPCG(1, 2))
		run := newHeartbeatRun(t, s, n)
		dealt := run.buckets()
		run.ticks(ticks, func(_, i int) bool { return rng.Float64() < odds[i%4] })
		for i := range n {
			switch odds[i%4] {
			case 0:
				if want := visits(dealt[i], 1, ticks); !slices.Equal(run.beats[i], want) {
					t.Errorf("idle client %d: heartbeats at ticks %v, want %v", i, run.beats[i], want)
				}
			case 1:
				// Its first event comes in tick 1, after the visit.
				if slices.ContainsFunc(run.beats[i], func(b int) bool { return b > 1 }) {
					t.Errorf("client %d, with an event every tick, got heartbeats at ticks %v", i, run.beats[i])
				}
			}
		}
		run.checkPeers()
	})
}

// TestHeartbeatsAfterABroadcastAreSpread: every client gets an event in
// the same tick, then nothing. Their heartbeats come within an interval,
// at most twice as many in one tick as when they are spread evenly, and
// then one per interval each.
func TestHeartbeatsAfterABroadcastAreSpread(t *testing.T) {
	forEachWriteMode(t, Config{}, func(t *testing.T, s *Shard) {
		const n, ticks = 48, 4 * heartbeatBuckets
		run := newHeartbeatRun(t, s, n)
		run.ticks(ticks, func(tick, _ int) bool { return tick == heartbeatBuckets })
		perTick := make(map[int]int)
		for i, beats := range run.beats {
			first := slices.IndexFunc(beats, func(b int) bool { return b > heartbeatBuckets })
			if first < 0 {
				t.Fatalf("client %d: no heartbeat after the broadcast", i)
			}
			for k, b := range beats[first:] {
				perTick[b]++
				if want := 2*heartbeatBuckets + k*heartbeatBuckets; b > want || b <= want-heartbeatBuckets {
					t.Errorf("client %d: heartbeat %d after the broadcast at tick %d, want it in (%d, %d]", i, k+1, b, want-heartbeatBuckets, want)
				}
			}
		}
		for tick, k := range perTick {
			if k > 2*n/heartbeatBuckets {
				t.Errorf("tick %d: %d heartbeats, want at most %d", tick, k, 2*n/heartbeatBuckets)
			}
		}
		run.checkPeers()
	})
}

// heartbeatRun drives a shard's ticks by hand, its loop not running, and
// records what each client is written.
type heartbeatRun struct {
	t       *testing.T
	s       *Shard
	clients []*client
	peers   []net.Conn
	got     [][]byte
	wait    func()
	seq     uint64
	tick    int
	last    []int   // tick of each client's last write; the head at 0
	events  []int   // events dispatched to each
	beats   [][]int // the ticks of each one's heartbeats
}

func newHeartbeatRun(t *testing.T, s *Shard, n int) *heartbeatRun {
	r := &heartbeatRun{t: t, s: s, last: make([]int, n), events: make([]int, n), beats: make([][]int, n)}
	r.clients, r.peers = tcpClientsOn(t, s, n, func(i int) []string { return []string{fmt.Sprint("c/", i)} })
	r.got, r.wait = readAll(t, r.peers, 64<<10)
	return r
}

// buckets returns each client's heartbeat bucket.
func (r *heartbeatRun) buckets() []int {
	b := make([]int, len(r.clients))
	for i, c := range r.clients {
		b[i] = c.bucket
	}
	return b
}

// ticks runs n ticks: each the heartbeat visit, then an event to each
// client i for which event(tick, i). It fails the test as soon as a
// client has been silent for more than an interval.
func (r *heartbeatRun) ticks(n int, event func(tick, i int) bool) {
	r.t.Helper()
	for range n {
		r.tick++
		r.s.heartbeat()
		for i, c := range r.clients {
			if c.lastWrite == r.tick {
				r.beats[i] = append(r.beats[i], r.tick)
				r.last[i] = r.tick
			}
			if r.tick-r.last[i] > heartbeatBuckets {
				r.t.Fatalf("tick %d: client %d silent since tick %d", r.tick, i, r.last[i])
			}
		}
		for i := range r.clients {
			if event(r.tick, i) {
				r.seq++
				r.s.dispatch(message(r.seq, fmt.Sprint("c/", i)))
				r.events[i]++
				r.last[i] = r.tick
			}
		}
		for _, c := range r.clients {
			waitIdle(r.t, c, "a flusher the loop handed a write to")
		}
	}
}

// checkPeers ends the streams and checks that each peer received the
// events and heartbeats recorded.
func (r *heartbeatRun) checkPeers() {
	r.t.Helper()
	for _, c := range r.clients {
		r.s.remove(c, ReasonShutdown)
	}
	waitFlushers(r.t, r.s)
	r.wait()
	for i := range r.clients {
		events := bytes.Count(r.got[i], message(0).Frame)
		beats := bytes.Count(r.got[i], heartbeat.Frame)
		if events != r.events[i] || beats != len(r.beats[i]) {
			r.t.Errorf("peer %d got %d events and %d heartbeats, want %d and %d", i, events, beats, r.events[i], len(r.beats[i]))
		}
	}
}

// visits returns the ticks from first to last at which bucket b is
// visited.
func visits(b, first, last int) []int {
	var ticks []int
	for tick := first; tick <= last; tick++ {
		if tick%heartbeatBuckets == b {
			ticks = append(ticks, tick)
		}
	}
	return ticks
}
