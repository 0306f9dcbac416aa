package shard

import (
	"slices"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/transport"
)

// dispatch queues m to every local client that follows one of its topics,
// once per client. It never blocks: a full queue evicts its client.
func (s *Shard) dispatch(m *broker.Message) {
	if s.cursor != nil {
		if m = s.advance(m); m == nil {
			return
		}
	} else if m.ID.Compare(s.lastID) <= 0 {
		// A message that matched both a topic and a pattern of this shard
		// may arrive twice (Redis sends message and pmessage); ids are
		// totally ordered, so anything not newer was already handled.
		s.duplicates.Add(1)
		return
	} else {
		s.lastID = m.ID
	}
	s.dispatches++
	var start time.Time
	if s.cfg.Observer != nil {
		start = time.Now()
	}
	n := s.deliver(m)
	s.messages.Add(1)
	s.deliveries.Add(uint64(n))
	if n > 0 && s.cfg.Observer != nil {
		s.cfg.Observer.Delivered(m, n, start)
	}
}

// deliver offers m to every local client that follows one of its topics,
// and reports to how many it was queued or written.
func (s *Shard) deliver(m *broker.Message) (n int) {
	f := s.beginFanOut()
	defer f.end()
	// The one test native messages pay for Mercure: Mercure streams are
	// indexed apart (mercure.go), so neither kind reaches the other.
	if m.Mercure != nil {
		return s.deliverMercure(f, m)
	}
	for _, t := range m.Topics {
		if sub := s.exact[t]; sub != nil {
			for c := range sub.clients {
				n += f.offer(c, m)
			}
		}
	}
	for p, sub := range s.patterns {
		if topic.MatchAny(p, m.Topics) {
			for c := range sub.clients {
				n += f.offer(c, m)
			}
		}
	}
	return n
}

// offer queues m to c unless c already has it, is not open yet or is
// dead, and reports 1 if queued. A stream that is not open has written
// nothing yet; what it misses before it opens, a resume replays. A dead
// stream is written nothing more: queueing to it would only fill its queue
// and have it evicted as slow before the loop removes it for the reason
// its writer gave.
func (f fanOut) offer(c *client, m *broker.Message) int {
	if c.lastQueued == f.s.dispatches || c.pending > 0 || c.writer.dead() {
		return 0
	}
	// Only an event published in several partitions comes as copies, of
	// which a stream takes one; checked here to keep the call off the
	// path of every other delivery.
	if m.Spread != nil && !c.sel.Takes(m) {
		return 0
	}
	c.lastQueued = f.s.dispatches
	c.lastWrite = f.s.tick
	if f.writeNow(c, m) {
		return 1
	}
	if !f.s.enqueue(c, m) {
		return 0
	}
	f.s.wakeLater(c, f.backlog)
	return 1
}

// enqueue queues m to c and reports true, or reports false if c's queue
// was full and c was evicted as slow (see queueFull). The caller wakes
// c's flusher.
func (s *Shard) enqueue(c *client, m *broker.Message) bool {
	select {
	case c.queue <- m:
		if len(c.queue) >= s.highWater && !c.behind {
			s.fallBehind(c)
		}
		return true
	default:
		return s.queueFull(c, m)
	}
}

// wakeEvery bounds how many messages may queue up for a client during a
// backlog before its flusher is woken: well below the queue size, so
// deferring never evicts anyone.
const wakeEvery = 16

// wakeLater wakes c's flusher now, or, during a backlog (more messages
// waiting in the inbox), once the shard has dispatched them
// (wakeDeferred): under load a flusher then finds several messages to
// coalesce into one write, instead of being started for each. It is a
// method of the shard, not of fanOut, so that it stays small enough to
// inline into offer: it runs once per recipient (BenchmarkDispatch).
func (s *Shard) wakeLater(c *client, backlog bool) {
	if !backlog {
		s.wake(c)
		return
	}
	if !c.deferred {
		c.deferred = true
		s.deferred = append(s.deferred, c)
	}
}

// wakeDeferred wakes the flushers wakeLater put off, or writes the one
// message a client has queued itself.
func (s *Shard) wakeDeferred() {
	f := s.beginFanOut()
	defer f.end()
	for i, c := range s.deferred {
		c.deferred = false
		if !c.removed && !f.writeQueuedNow(c) {
			s.wake(c)
		}
		s.deferred[i] = nil
	}
	s.deferred = s.deferred[:0]
	s.sinceWake = 0
}

// advance moves the shard's cursor to m, a message of a partitioned
// broker, and returns the shard's copy of it: its frame under the cursor,
// shared by the shard's streams. It returns nil for a message not newer
// than the cursor in its partition (one that matched a topic and a
// pattern comes twice), for a head (Observed), which only moves the
// cursor, and for a subscription now in force (Subscribed), which it
// activates.
func (s *Shard) advance(m *broker.Message) *broker.Message {
	if m.Partition < 0 { // Subscribed, in order behind the heads
		s.activate(subscribed{name: m.Topics[0], pattern: m.Partition == activatePattern})
		return nil
	}
	if m.ID.Compare(s.cursor[m.Partition]) <= 0 {
		if m.Frame != nil {
			s.duplicates.Add(1)
		}
		return nil
	}
	s.cursor[m.Partition] = m.ID
	if m.Frame == nil {
		return nil
	}
	cur := slices.Clone(s.cursor)
	return &broker.Message{ID: m.ID, Topics: m.Topics, Trace: m.Trace, Partition: m.Partition,
		Cursor: cur, Body: m.Frame, Frame: transport.CursorFrame(cur, m.Frame), Spread: m.Spread}
}
