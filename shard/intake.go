package shard

import (
	"time"

	"github.com/ssehub/ssehub/hub/broker"
)

// intake says whether the shard loop takes messages from its inbox. It is
// how a shard tells a slow consumer from a busy hub (see the package doc,
// "Overload").
type intake uint8

const (
	// intakeOpen: the loop dispatches messages as they come. A client whose
	// queue is full is evicted: few of its shard's clients are behind, so it
	// is the one that cannot keep up.
	intakeOpen intake = iota
	// intakePaused: more than a tolerated share of the shard's clients are
	// behind, so the shard, not one client, is short of time. The loop
	// leaves its inbox alone, which makes the broker wait and, through the
	// hub's gate, publishers, until enough clients have caught up.
	intakePaused
)

// behindTolerance is how many of n clients may be behind while the shard
// keeps dispatching: one in eight, and at least one, so that in a small
// shard one slow client is still told from a busy shard. A client is
// behind while its queue is at least half full (highWater).
func behindTolerance(n int) int { return max(n/8, 1) }

// resumeTolerance is how many of n clients may still be behind when a
// paused shard dispatches again: half of behindTolerance, so that a shard
// does not pause again after a message or two.
func resumeTolerance(n int) int { return n / 16 }

// highWater returns the queue length at which a client counts as behind:
// half the queue, but above wakeEvery, the backlog a healthy client may
// build while its flusher is not yet woken, so that only a client whose
// flusher is not keeping up counts; and below a full queue.
func highWater(queueSize int) int { return max(min(max(queueSize/2, wakeEvery+1), queueSize-1), 1) }

// fallBehind notes that c's queue reached the high-water mark. Kept out of
// enqueue so that its common path stays small.
func (s *Shard) fallBehind(c *client) {
	c.behind = true
	c.behindSince = time.Now()
	c.queuedAtPause = len(c.queue)
	c.stalls = 0
	s.behind = append(s.behind, c)
	s.behindCount.Store(int64(len(s.behind)))
}

// queueFull handles m for c, whose queue is full; the intake is open, as
// no event is queued while it is paused. If few of the shard's clients are
// behind, c has been behind for a stall timeout already, and its peer is
// not reading, c is the slow one: it is evicted (ReasonSlow) and queueFull
// reports false. Otherwise the shard is short of time (many are behind, or
// c's flusher has not had a CPU to write what its peer would take), or c
// may be only briefly slower (its reader did not get a CPU either): m
// waits in c's overflow slot, the intake pauses after this dispatch, and
// queueFull reports true.
func (s *Shard) queueFull(c *client, m *broker.Message) bool {
	slow := len(s.behind) <= behindTolerance(s.clientCount()) &&
		time.Since(c.behindSince) >= s.cfg.StallTimeout && c.peerBehind()
	if slow || c.overflow != nil {
		s.remove(c, ReasonSlow)
		return false
	}
	c.overflow = m
	s.overflown = append(s.overflown, c)
	return true
}

// regulate runs after each dispatch: it pauses the intake when a message
// overflowed a queue or too many clients are behind, and reports
// congestion to the hub's gate.
func (s *Shard) regulate() {
	if s.intake == intakeOpen && (len(s.overflown) > 0 || len(s.behind) > behindTolerance(s.clientCount())) {
		s.prune()
		if len(s.overflown) > 0 || len(s.behind) > behindTolerance(s.clientCount()) {
			s.pause()
		}
	}
	s.reportCongestion()
}

// pause stops the intake until enough clients have caught up (resumeIfCaughtUp)
// or the stall timeout has passed.
func (s *Shard) pause() {
	// A client queued to during a backlog has no flusher yet; paused, the
	// loop would otherwise never wake it, and it would never catch up.
	if len(s.deferred) > 0 {
		s.wakeDeferred()
	}
	s.intake = intakePaused
	s.paused.Store(true)
	s.pauses.Add(1)
	s.pausedAt = time.Now()
	s.startStallClock()
	// A flusher that emptied its queue before paused was set sent no
	// signal; if they all did, none will come. Look once more.
	s.resumeIfCaughtUp()
}

// startStallClock notes how much each client behind has queued, and fires
// stalled after the stall timeout unless the shard resumes first.
func (s *Shard) startStallClock() {
	for _, c := range s.behind {
		c.queuedAtPause = len(c.queue)
	}
	s.stall.Reset(s.cfg.StallTimeout)
}

// resumeIfCaughtUp opens the intake again once few enough clients are
// behind. It runs while paused, whenever a flusher emptied a queue or a
// client left.
func (s *Shard) resumeIfCaughtUp() {
	if s.intake != intakePaused {
		return
	}
	s.moveOverflow()
	s.prune()
	if len(s.overflown) > 0 || len(s.behind) > resumeTolerance(s.clientCount()) {
		return
	}
	s.intake = intakeOpen
	s.paused.Store(false)
	s.pausedFor.Add(int64(time.Since(s.pausedAt)))
	s.stall.Stop()
	s.reportCongestion()
}

// stalled runs when the shard has been paused for the stall timeout. A
// client that is behind and has not taken a single message from its queue
// since the clock started is stuck, not slow because the shard is busy, if
// its socket is full too (its peer reads nothing); or, whatever its
// socket, if it took nothing for a second stall timeout in a row (its
// flusher is stuck elsewhere, such as in a slow replay). Stuck clients are
// evicted, so that the others do not wait for them any longer.
func (s *Shard) stalled() {
	if s.intake != intakePaused {
		return
	}
	s.prune()
	for _, c := range s.behind {
		if len(c.queue) < c.queuedAtPause {
			c.stalls = 0
			continue
		}
		if c.stalls++; c.stalls >= 2 || c.peerBehind() {
			s.remove(c, ReasonSlow)
		}
	}
	s.resumeIfCaughtUp()
	if s.intake == intakePaused {
		// Still short of time: the ones behind now made progress since the
		// pause began; give them another stall timeout from here.
		s.startStallClock()
	}
}

// moveOverflow queues each overflow message whose client's queue has room
// again, and drops the removed clients from the overflow list.
func (s *Shard) moveOverflow() {
	kept := s.overflown[:0]
	for _, c := range s.overflown {
		if !c.removed && !s.tryQueue(c, c.overflow) {
			kept = append(kept, c)
			continue
		}
		c.overflow = nil
	}
	clear(s.overflown[len(kept):])
	s.overflown = kept
}

// tryQueue queues m to c if there is room, waking its flusher.
func (s *Shard) tryQueue(c *client, m *broker.Message) bool {
	select {
	case c.queue <- m:
		s.wake(c)
		return true
	default:
		return false
	}
}

// prune drops from the behind list the clients that caught up (their
// queue is below the high-water mark again) or were removed.
func (s *Shard) prune() {
	kept := s.behind[:0]
	for _, c := range s.behind {
		if !c.removed && len(c.queue) >= s.highWater {
			kept = append(kept, c)
			continue
		}
		c.behind, c.stalls = false, 0
	}
	clear(s.behind[len(kept):])
	s.behind = kept
	s.behindCount.Store(int64(len(s.behind)))
}

// relieve tells the hub's gate the shard is congested no more, as it
// stops: a stopped shard holds no publish back.
func (s *Shard) relieve() {
	if s.congested {
		s.setCongested(false)
	}
}

// reportCongestion tells the hub's gate when the shard becomes congested
// (its intake paused, or its inbox three quarters full) and when it is
// relieved (open, and its inbox at most a quarter full). The gap between
// the two marks keeps the gate from flapping at every message.
func (s *Shard) reportCongestion() {
	queued, size := len(s.inbox), cap(s.inbox)
	switch {
	case !s.congested && (s.intake == intakePaused || queued >= size*3/4):
		s.setCongested(true)
	case s.congested && s.intake == intakeOpen && queued <= size/4:
		s.setCongested(false)
	}
}

// setCongested records a change of congestion and tells the hub's gate.
func (s *Shard) setCongested(congested bool) {
	s.congested = congested
	s.congestedNow.Store(congested)
	if s.cfg.OnCongestion != nil {
		s.cfg.OnCongestion(congested)
	}
}

// signalDrained tells a paused shard loop that a flusher emptied its
// client's queue, so that it can check whether enough clients caught up.
// Called by flushers; it never blocks.
func (s *Shard) signalDrained() {
	if !s.paused.Load() {
		return
	}
	select {
	case s.drained <- struct{}{}:
	default: // a signal is pending already; the loop checks every client then
	}
}

// clientCount is the number of open streams, as the loop counts them.
func (s *Shard) clientCount() int { return int(s.clients.Load()) }
