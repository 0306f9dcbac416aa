package shard

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
)

// wake starts a flusher for c unless one is running. Called by the shard
// loop after queueing to c.
func (s *Shard) wake(c *client) {
	if c.writer.acquire(writeFlusher) {
		s.flushers.Add(1)
		go s.flush(c)
	}
}

// fanOut is one pass of the shard loop's writes over its clients: the
// delivery of a message, a heartbeat visit, or the waking of deferred
// clients. It is used on the shard loop only. The loop writes to a client
// directly (writeNow, writeQueuedNow) only through a fanOut, which it gets
// from beginFanOut and ends with end, deferred right away.
//
// That is what keeps the ring's rule: a send queued in the ring must be
// submitted before the loop does anything else. Until it is, its client is
// owned by the loop (write state loop), so without a submit no flusher
// would ever write to it again; and the send names the client's socket by
// descriptor, which stays that socket only while the loop does not close
// the conn: a leave or a removal handled first could close it, and the
// descriptor be reused by another connection, before the send went out.
// So no direct write can be queued except within a fanOut, and every
// fanOut submits as it ends.
type fanOut struct {
	s *Shard
	// backlog: more messages waited in the inbox when the fan-out began
	// (read once per fan-out, not per client). See writeNow and wakeLater.
	backlog bool
}

// beginFanOut starts a fan-out. The caller must defer its end at once.
func (s *Shard) beginFanOut() fanOut {
	return fanOut{s: s, backlog: len(s.inbox) > 0}
}

// end submits the sends the fan-out queued in the ring, if any, and
// finishes each as writeNow would have.
func (f fanOut) end() { f.s.submitSends() }

// writeNow writes m to c from the shard loop, when that needs no flusher:
// nothing is queued for c, no flusher runs, and the socket takes the frame
// at once. It reports whether it took care of m: written, skipped as
// already replayed, handed to a flusher with what the socket did not take,
// or ended with the stream on a failed write. If not, the caller queues m.
// With a ring, the write is a send queued in it, which the fan-out's end
// finishes the same ways.
//
// A flusher goroutine costs a start, a wake-up and a write deadline per
// write; at a few events per second per stream that is most of a
// delivery's cost besides the write itself. writeNow skips it unless more
// messages wait in the inbox: then queueing lets a flusher coalesce them
// into fewer writes, which is cheaper under load.
func (f fanOut) writeNow(c *client, m *broker.Message) bool {
	if !c.direct || f.backlog || len(c.queue) > 0 || !c.writer.acquire(writeLoop) {
		return false
	}
	f.send(c, m)
	return true
}

// writeQueuedNow writes the one message queued for c from the shard loop,
// as writeNow would have without a backlog: a flusher started for it
// would have nothing to coalesce it with (under load, a targeted event;
// a broadcast when the backlog was short). It reports false, leaving the
// queue as it was, if more than one message is queued, a flusher runs, or
// c has no socket of its own.
func (f fanOut) writeQueuedNow(c *client) bool {
	if !c.direct || len(c.queue) != 1 || !c.writer.acquire(writeLoop) {
		return false
	}
	// As c's writer, the loop may read the queue; the length
	// is read again because a flusher may have emptied it since.
	var m *broker.Message
	if len(c.queue) == 1 {
		m = <-c.queue
	}
	if m == nil || m == joinedMarker || m == retireMarker {
		// A flusher is started along with the markers, so none should be
		// here with c idle; if one is, it is the flusher's.
		if m != nil {
			c.queue <- m // cannot block: the queue was just emptied
		}
		c.writer.release(writeLoop)
		return false
	}
	f.send(c, m)
	return true
}

// send writes m to c from the shard loop, which is c's writer until the
// write is done. With a ring, the write is a send queued in it, finished
// by the fan-out's end.
func (f fanOut) send(c *client, m *broker.Message) {
	if c.covered(m) {
		c.writer.release(writeLoop)
		return
	}
	frame := c.frame(m)
	if f.s.ring != nil {
		f.queueSend(c, frame)
		return
	}
	n, err := c.tryWrite(frame)
	f.s.wrote(c, frame, n, err)
}

// wrote finishes a write of frame to c by the shard loop, c's writer for
// it: n bytes went out, and err is errWouldBlock if the socket did not
// take the rest.
func (s *Shard) wrote(c *client, frame []byte, n int, err error) {
	switch {
	case err == nil:
		c.writer.release(writeLoop)
	case errors.Is(err, errWouldBlock):
		c.partial = frame[n:]
		c.writer.handOff() // the flusher owns c, and partial, from here
		s.flushers.Add(1)
		go s.flush(c)
	default:
		c.writer.kill(writeLoop)
		s.remove(c, ReasonWriteFailed)
	}
}

// flush writes what is queued for c and exits when the queue is empty. It
// runs in its own goroutine, started by wake or writeNow; at most one runs
// per client.
func (s *Shard) flush(c *client) {
	defer s.flushers.Done()
	for {
		if reason, ended := s.writeQueued(c); ended {
			// Dead, c is written to no more, and neither queued to nor
			// evicted, until the loop removes it for reason.
			c.writer.kill(writeFlusher)
			select {
			case s.leaves <- leave{c, reason}:
			case <-s.done: // the loop removes every client itself
			}
			return
		}
		c.writer.release(writeFlusher)
		// The loop may have queued after the last receive and found c
		// still taken; whoever acquires it now owns the queue.
		if len(c.queue) == 0 {
			s.signalDrained()
			return
		}
		if !c.writer.acquire(writeFlusher) {
			return
		}
	}
}

// writeQueued writes everything queued for c, coalescing it into as few
// writes as possible. It reports ended, with the reason, when the stream
// must end: a write failed, or a retired stream's goodbye was written.
func (s *Shard) writeQueued(c *client) (reason Reason, ended bool) {
	b := batch{timeout: s.cfg.WriteTimeout}
	defer b.release()
	if c.partial != nil {
		err := b.add(c, c.partial)
		c.partial = nil
		if err != nil {
			return ReasonWriteFailed, true
		}
	}
	for {
		var m *broker.Message
		open := true
		select {
		case m, open = <-c.queue:
		default:
		}
		var err error
		switch {
		case !open: // removed by the shard, which closed the conn
			return 0, false
		case m == nil: // nothing more queued
			if b.flush(c) != nil {
				return ReasonWriteFailed, true
			}
			return 0, false
		case m == joinedMarker && c.mercure != nil:
			if reason, failed := s.openMercure(c, &b); failed {
				return reason, true
			}
		case m == joinedMarker:
			err = b.add(c, c.head)
			if err == nil && c.lastEventID != "" {
				if reason, failed := s.replay(c, &b); failed {
					return reason, true
				}
			}
		case m == retireMarker:
			if b.add(c, c.goodbye) != nil || b.flush(c) != nil {
				return ReasonWriteFailed, true
			}
			return ReasonDrained, true
		case c.covered(m):
		default:
			err = b.add(c, c.frame(m))
		}
		if err != nil {
			return ReasonWriteFailed, true
		}
	}
}

// replay adds what the client missed, or the reset event, to b, and sets
// the point up to which live messages are already covered.
//
// A long history comes in pages (broker.Replay.Next): each is added, and
// so written but for the batch's last 64 KiB, before the next is read,
// which bounds the memory of a resume. Each page has ReplayTimeout. A page
// that fails ends the stream: what it got is a prefix of the replay in id
// order, so its client resumes from the last id and gets the rest.
func (s *Shard) replay(c *client, b *batch) (Reason, bool) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReplayTimeout)
	r, err := s.broker.Replay(ctx, c.sel, c.lastEventID)
	cancel()
	if err != nil {
		return ReasonReplayFailed, true
	}
	if r.Reset != nil {
		s.resets.Add(1)
		if err := b.add(c, r.Reset.Frame); err != nil {
			return ReasonWriteFailed, true
		}
		if len(r.Messages) == 0 && r.Next == nil {
			c.skipThrough = r.Head
			c.caughtUp(r)
			return 0, false
		}
		// A partitioned broker's reset of some partitions: the others'
		// events follow.
	}
	s.replays.Add(1)
	for msgs := r.Messages; ; {
		s.replayed.Add(uint64(len(msgs)))
		for _, m := range msgs {
			if m.Mercure != nil {
				// A native pattern (*, @*) matches the Mercure door's
				// mapped topics in history too; a native stream has no
				// Mercure grants and never takes its updates, live or
				// replayed (docs/mercure-design.md, "Topic mapping").
				continue
			}
			if err := b.add(c, m.Frame); err != nil {
				return ReasonWriteFailed, true
			}
		}
		if r.Next == nil || len(msgs) == 0 {
			break
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReplayTimeout)
		msgs, err = r.Next(ctx)
		cancel()
		if err != nil {
			return ReasonReplayFailed, true
		}
	}
	c.skipThrough = r.Head
	c.caughtUp(r)
	return 0, false
}

// caughtUp records where a partitioned broker's replay r left c: live
// messages up to its head are covered, and c's frames are at least there.
func (c *client) caughtUp(r broker.Replay) {
	if r.HeadCursor != nil {
		c.skipCursor, c.floor = r.HeadCursor, slices.Clone(r.HeadCursor)
	}
}

// maxBatchBytes bounds how many queued bytes one write coalesces.
const maxBatchBytes = 64 << 10

// batchPool holds write buffers for coalescing. A flusher holds one only
// while it writes, so the pool stays near the number of concurrent writes
// rather than the number of streams.
var batchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// batch collects frames into one write of at most maxBatchBytes (a single
// larger frame goes alone). It is owned by the flusher that made it.
type batch struct {
	buf     *[]byte
	single  []byte // the only frame so far, written without a copy
	timeout time.Duration
}

// add adds frame to the batch, first writing what it holds if frame would
// not fit.
func (b *batch) add(c *client, frame []byte) error {
	switch {
	case b.single == nil && (b.buf == nil || len(*b.buf) == 0):
		b.single = frame
		return nil
	case b.buf == nil:
		b.buf = batchPool.Get().(*[]byte)
		*b.buf = (*b.buf)[:0]
	}
	if b.single != nil {
		*b.buf = append(*b.buf, b.single...)
		b.single = nil
	}
	if len(*b.buf)+len(frame) > maxBatchBytes {
		if err := b.flush(c); err != nil {
			return err
		}
		b.single = frame
		return nil
	}
	*b.buf = append(*b.buf, frame...)
	return nil
}

// flush writes what the batch holds.
func (b *batch) flush(c *client) error {
	var err error
	switch {
	case b.single != nil:
		err = c.write(b.single, b.timeout)
		b.single = nil
	case b.buf != nil && len(*b.buf) > 0:
		err = c.write(*b.buf, b.timeout)
		*b.buf = (*b.buf)[:0]
	}
	return err
}

// release gives the batch's buffer back to the pool.
func (b *batch) release() {
	if b.buf != nil {
		batchPool.Put(b.buf)
		b.buf = nil
	}
}
