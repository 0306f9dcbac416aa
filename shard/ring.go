package shard

import "github.com/ssehub/ssehub/shard/uring"

// batchSender sends frames to many sockets in batches: a *uring.Ring, or
// in tests one that fails on purpose.
type batchSender interface {
	Register(fd int) error // before the first send to fd; optional
	Unregister(fd int) error
	Send(fd int, p []byte, tag uint64) bool
	Submit() ([]uring.Completion, error)
	Cap() int // sends per batch
	Close() error
}

// ringEntries is how many sends one io_uring batch holds: enough that a
// fan-out to a whole shard takes a few system calls, small enough that
// the ring's memory (96 KiB) does not matter.
const ringEntries = 1024

// ringSend is a send queued in the shard's ring.
type ringSend struct {
	c     *client
	frame []byte
}

// useRing makes r carry the loop's writes.
func (s *Shard) useRing(r batchSender) {
	s.ring = r
	s.sends = make([]ringSend, 0, r.Cap())
	s.usesRing.Store(true)
}

// queueSend queues a send of frame to c in the ring, submitting the batch
// first if it is full. The loop is c's writer; the fan-out's end submits
// the send (see fanOut).
func (f fanOut) queueSend(c *client, frame []byte) {
	s := f.s
	if !s.ring.Send(c.fd, frame, uint64(len(s.sends))) {
		s.submitSends()
		// An empty batch has room, unless submitting just failed and
		// closed the ring: then write as without one.
		if s.ring == nil || !s.ring.Send(c.fd, frame, uint64(len(s.sends))) {
			n, err := c.tryWrite(frame)
			s.wrote(c, frame, n, err)
			return
		}
	}
	s.sends = append(s.sends, ringSend{c, frame})
}

// submitSends submits the queued sends and finishes each as writeNow
// would have. If the ring itself fails, the shard goes back to write(2)
// for good, and ends the streams whose sends it could not account for:
// they resume from their last event, so nothing is lost or repeated.
// A fan-out's end calls it, and queueSend when the batch is full.
func (s *Shard) submitSends() {
	if len(s.sends) == 0 {
		return
	}
	done, err := s.ring.Submit()
	for _, d := range done {
		snd := &s.sends[d.Tag]
		n, werr := nonBlockingResult(int(d.Res), d.Err(), len(snd.frame))
		s.wrote(snd.c, snd.frame, n, werr)
		snd.c = nil
	}
	if err != nil {
		for _, snd := range s.sends {
			if snd.c != nil {
				snd.c.writer.kill(writeLoop) // its send's fate is unknown
				s.remove(snd.c, ReasonWriteFailed)
			}
		}
	}
	clear(s.sends)
	s.sends = s.sends[:0]
	if err != nil || s.ringFailed {
		s.closeRing()
	}
}

// registerWithRing lets the ring, if any, send to c's socket by a slot of
// its registered files. Called by the loop when c joins. Without a slot
// (the table full, say) sends go by descriptor, which costs a little more.
func (s *Shard) registerWithRing(c *client) {
	if s.ring != nil && c.direct {
		_ = s.ring.Register(c.fd)
	}
}

// unregisterFromRing takes c's socket out of the ring's registered files,
// before its conn is closed: the ring would hold the socket open. If it
// cannot, the ring is closed, which releases every file it holds, at once
// or, during a fan-out, once the queued sends are finished.
func (s *Shard) unregisterFromRing(c *client) {
	if s.ring == nil || !c.direct || s.ring.Unregister(c.fd) == nil {
		return
	}
	s.ringFailed = true
	if len(s.sends) == 0 {
		s.closeRing()
	}
}

// closeRing closes the ring, if any; the loop writes with write(2) after.
func (s *Shard) closeRing() {
	if s.ring != nil {
		_ = s.ring.Close()
		s.ring = nil
		s.ringFailed = false
		s.usesRing.Store(false)
	}
}
