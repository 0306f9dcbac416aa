package shard

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestHeartbeatsOnlyAfterASilentInterval drives the shard loop's ticks by
// hand, with clients that get events on different schedules, and checks
// what the peers receive:
//   - no client goes more than one interval (heartbeatBuckets ticks)
//     without a write, counting from its head;
//   - a client with an event every tick gets no heartbeat, an idle one
//     one per interval, at each visit of the bucket it was dealt (home);
//   - once all are idle again, every client is back at home, so the
//     heartbeats are spread over the interval as before.
func TestHeartbeatsOnlyAfterASilentInterval(t *testing.T) {
	forEachWriteMode(t, Config{}, func(t *testing.T, s *Shard) {
		const (
			n           = 48
			activeTicks = 120
			idleTicks   = 3 * heartbeatBuckets
		)
		// Client i gets an event in a tick with probability odds[i%4].
		odds := [4]float64{0, 1, 0.2, 0.05}
		clients, peers := tcpClientsOn(t, s, n, func(i int) []string { return []string{fmt.Sprint("c/", i)} })
		got, wait := readAll(peers, 64<<10)
		rng := rand.New(rand.NewPCG(1, 2))

		last := make([]int, n)    // tick of each client's last write; the head at 0
		events := make([]int, n)  // events dispatched to each
		beats := make([][]int, n) // the ticks of each one's heartbeats
		var seq uint64
		for tick := 1; tick <= activeTicks+idleTicks; tick++ {
			s.heartbeat(time.Now())
			for i, c := range clients {
				if c.lastWrite == tick {
					beats[i] = append(beats[i], tick)
					last[i] = tick
				}
				if tick-last[i] > heartbeatBuckets {
					t.Fatalf("tick %d: client %d silent since tick %d", tick, i, last[i])
				}
			}
			for i := range clients {
				if tick <= activeTicks && rng.Float64() < odds[i%4] {
					seq++
					s.dispatch(message(seq, fmt.Sprint("c/", i)))
					events[i]++
					last[i] = tick
				}
			}
			waitFlushers(clients)
		}
		for i, c := range clients {
			switch {
			case odds[i%4] == 0 && !slices.Equal(beats[i], homeVisits(c.home, 1, activeTicks+idleTicks)):
				t.Errorf("idle client %d (home %d): heartbeats at ticks %v, want one at each visit of its home", i, c.home, beats[i])
			case odds[i%4] == 1 && slices.ContainsFunc(beats[i], func(b int) bool { return b > 1 && b <= activeTicks }):
				// Its first event comes in tick 1, after the visit.
				t.Errorf("client %d, with an event every tick, got heartbeats at ticks %v", i, beats[i])
			}
			// Idle for the last two intervals: back at home, spread.
			final := activeTicks + idleTicks - heartbeatBuckets + 1
			if c.bucket != c.home || !slices.Equal(tail(beats[i], final), homeVisits(c.home, final, activeTicks+idleTicks)) {
				t.Errorf("client %d (home %d, in bucket %d): last heartbeats at %v, want one at the visit of its home", i, c.home, c.bucket, tail(beats[i], final))
			}
		}

		for _, c := range clients {
			s.remove(c, ReasonShutdown)
		}
		s.flushers.Wait()
		wait()
		for i := range clients {
			frames := bytes.Count(got[i], message(0).Frame)
			comments := bytes.Count(got[i], heartbeat.Frame)
			if frames != events[i] || comments != len(beats[i]) {
				t.Errorf("peer %d got %d events and %d heartbeats, want %d and %d", i, frames, comments, events[i], len(beats[i]))
			}
		}
	})
}

// homeVisits returns the ticks from first to last at which bucket home is
// visited.
func homeVisits(home, first, last int) []int {
	var ticks []int
	for tick := first; tick <= last; tick++ {
		if tick%heartbeatBuckets == home {
			ticks = append(ticks, tick)
		}
	}
	return ticks
}

// tail returns the ticks from first on.
func tail(ticks []int, first int) []int {
	i, _ := slices.BinarySearch(ticks, first)
	return ticks[i:]
}

// waitFlushers waits until no flusher runs for clients: the writes a tick
// started are done.
func waitFlushers(clients []*client) {
	for _, c := range clients {
		for c.flushing.Load() {
			time.Sleep(100 * time.Microsecond)
		}
	}
}
