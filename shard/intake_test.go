package shard

import (
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
)

// dispatchAsRun dispatches m and regulates, as Run does for each message
// it takes from the inbox.
func dispatchAsRun(s *Shard, m *broker.Message) {
	s.dispatch(m)
	s.wakeDeferred()
	s.regulate()
}

// received drains c's queue and returns the sequence numbers it held.
func received(c *client) []uint64 {
	var seqs []uint64
	for len(c.queue) > 0 {
		seqs = append(seqs, (<-c.queue).ID.Seq)
	}
	return seqs
}

// TestBusyShardPausesInsteadOfEvicting: when every client falls behind
// together, the shard is short of time, not the clients slow: it stops
// taking messages, evicts no one, and each message that found a queue full
// waits in that client's overflow slot and is delivered, in order, once
// the client has caught up.
func TestBusyShardPausesInsteadOfEvicting(t *testing.T) {
	const queue = 40
	hw := highWater(queue)
	s, clients := newTestShard(t, 16, queue)
	var congestion []bool
	s.cfg.OnCongestion = func(c bool) { congestion = append(congestion, c) }

	// No client drains: at the high-water mark every one is behind, and
	// the shard pauses then. Dispatching on regardless, as if the loop had not
	// paused, fills every queue and then overflows.
	seq := uint64(0)
	for s.intake == intakeOpen {
		seq++
		dispatchAsRun(s, message(seq, "news"))
		if seq > queue {
			t.Fatalf("still open after %d messages to clients that take none", seq)
		}
	}
	if seq != uint64(hw) {
		t.Errorf("paused after %d messages, want %d (the high-water mark)", seq, hw)
	}
	for range queue - hw + 1 {
		seq++
		s.dispatch(message(seq, "news"))
	}
	s.regulate()
	st := s.Stats()
	if st.Clients != 16 || st.Ended[ReasonSlow] != 0 {
		t.Fatalf("stats = %+v: want 16 clients and no eviction", st)
	}
	if !st.Paused || !st.Congested || st.Pauses != 1 || st.Behind != 16 {
		t.Errorf("stats = %+v: want paused and congested once, 16 behind", st)
	}
	if len(s.overflown) != 16 {
		t.Fatalf("%d clients hold an overflow message, want 16", len(s.overflown))
	}

	// The clients catch up: the overflow goes to the queues, the shard
	// resumes and the gate is told.
	var got [16][]uint64
	for i, c := range clients {
		got[i] = received(c)
	}
	s.resumeIfCaughtUp()
	if s.intake != intakeOpen || len(s.overflown) != 0 {
		t.Fatalf("intake %v with %d overflown after every client caught up", s.intake, len(s.overflown))
	}
	for i, c := range clients {
		got[i] = append(got[i], received(c)...)
		for j, n := range got[i] {
			if n != uint64(j+1) {
				t.Fatalf("client %d got %v, want 1 to %d in order", i, got[i], seq)
			}
		}
		if len(got[i]) != int(seq) {
			t.Fatalf("client %d got %d messages, want %d", i, len(got[i]), seq)
		}
	}
	if want := []bool{true, false}; len(congestion) != 2 || congestion[0] != want[0] || congestion[1] != want[1] {
		t.Errorf("OnCongestion calls %v, want %v", congestion, want)
	}
	if st := s.Stats(); st.Paused || st.Congested || st.PausedFor <= 0 {
		t.Errorf("stats after resuming = %+v: want open, not congested, time paused counted", st)
	}
}

// TestStallEvictsOnlyClientsThatTookNothing: a shard paused for the stall
// timeout evicts the clients behind that took nothing from their queue
// since the pause began, and keeps those that did.
func TestStallEvictsOnlyClientsThatTookNothing(t *testing.T) {
	const queue = 40
	hw := highWater(queue)
	s, clients := newTestShard(t, 8, queue)
	for seq := uint64(1); seq <= uint64(hw+2); seq++ {
		s.dispatch(message(seq, "news"))
	}
	s.regulate() // pauses with hw+2 queued for each: all behind
	if s.intake != intakePaused {
		t.Fatal("not paused with every client behind")
	}
	stuck, progressing := clients[:4], clients[4:]
	for _, c := range progressing {
		<-c.queue // one message written since the pause: progress, though still behind
	}
	s.stalled()
	for _, c := range stuck {
		if !c.removed {
			t.Errorf("a client that took nothing during the stall was kept")
		}
	}
	for _, c := range progressing {
		if c.removed {
			t.Errorf("a client that made progress during the stall was evicted")
		}
	}
	if st := s.Stats(); st.Ended[ReasonSlow] != 4 || !st.Paused {
		t.Errorf("stats = %+v: want 4 slow evictions, still paused (the others are still behind)", st)
	}
	drainAll(progressing)
	s.resumeIfCaughtUp()
	if s.intake != intakeOpen {
		t.Errorf("still paused once the remaining clients caught up")
	}
}

// A retired stream holding an overflow message gets it before its goodbye:
// the stream ends at the goodbye, and an event after it would be lost.
func TestRetireWritesTheOverflowFirst(t *testing.T) {
	const queue = 40
	s, clients := newTestShard(t, 2, queue)
	for seq := uint64(1); seq <= queue+1; seq++ {
		s.dispatch(message(seq, "news"))
	}
	s.regulate()
	c := clients[0]
	if c.overflow == nil {
		t.Fatal("no overflow message to retire with")
	}
	<-c.queue // its writer takes one: room for the overflow
	s.retire(retire{n: 2, goodbye: func() []byte { return []byte("bye") }})
	var last uint64
	for len(c.queue) > 0 {
		m := <-c.queue
		if m == retireMarker {
			if last != queue+1 {
				t.Errorf("goodbye after message %d, want after the overflow message %d", last, queue+1)
			}
			if len(c.queue) > 0 {
				t.Errorf("%d messages after the goodbye", len(c.queue))
			}
			break
		}
		last = m.ID.Seq
	}
	if !clients[1].removed {
		t.Errorf("a full client with an overflow message and no room was not closed at once")
	}
}

// A shard that stops while congested tells the gate it is relieved: a
// stopped shard holds no publish back.
func TestShutdownRelievesTheGate(t *testing.T) {
	const queue = 40
	s, _ := newTestShard(t, 4, queue)
	var congested []bool
	s.cfg.OnCongestion = func(c bool) { congested = append(congested, c) }
	for seq := uint64(1); s.intake == intakeOpen; seq++ {
		dispatchAsRun(s, message(seq, "news"))
	}
	s.shutdown()
	if len(congested) != 2 || !congested[0] || congested[1] {
		t.Errorf("OnCongestion calls %v, want [true false]", congested)
	}
	if st := s.Stats(); st.Congested {
		t.Errorf("Stats().Congested after shutdown")
	}
}

// A client that has just fallen behind is not evicted when its queue
// fills, even among clients that keep up: its reader may only have missed
// a CPU for a moment. The shard pauses for it instead; once it has been
// behind for a stall timeout, a full queue evicts it
// (TestFullQueueEvictsOnlyThatClient).
func TestBrieflySlowClientIsNotEvicted(t *testing.T) {
	const queue = 8
	s, clients := newTestShard(t, 4, queue)
	slow := clients[0]
	for seq := uint64(1); seq <= queue+1; seq++ {
		s.dispatch(message(seq, "news"))
		for _, c := range clients[1:] {
			received(c)
		}
	}
	if slow.removed || slow.overflow == nil {
		t.Fatalf("removed %v, overflow %v: want kept, holding the message that found its queue full", slow.removed, slow.overflow)
	}
	s.regulate()
	if s.intake != intakePaused {
		t.Errorf("intake %v, want paused for the client to catch up", s.intake)
	}
}
