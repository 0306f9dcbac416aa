package shard

// Retiring a stream is how a draining hub ends it gracefully: the stream gets
// everything already queued for it, then a goodbye frame (the hub sends a
// "retry:" field, so the client waits that long before reconnecting), and is
// then closed. Draining retires a few streams at a time, so their clients
// reconnect spread out over the rest of the fleet rather than all at once.

// retire asks the shard loop to retire up to n streams.
type retire struct {
	n       int
	goodbye func() []byte
}

// Retire asks the shard to end up to n of its streams gracefully: each is
// written what is queued for it, then goodbye(), and is closed (counted as
// ReasonDrained). A stream still waiting for its subscriptions has written
// nothing yet, so it is closed at once. Streams already retiring are not
// counted again. goodbye runs on the shard loop, once per stream: it must be
// quick and must not block.
//
// Retire returns once the shard loop has taken the request, or at once if the
// shard has stopped.
func (s *Shard) Retire(n int, goodbye func() []byte) {
	select {
	case s.retires <- retire{n, goodbye}:
	case <-s.done:
	}
}

// retire handles Retire on the shard loop.
func (s *Shard) retire(r retire) {
	n := r.n
	for _, b := range s.buckets {
		for c := range b {
			if n <= 0 {
				return
			}
			if c.retiring {
				continue
			}
			n--
			switch {
			case c.pending > 0:
				s.remove(c, ReasonDrained)
				continue
			case c.writer.dead():
				// Ending already: it counts as retired, and is removed
				// for the reason its writer gave.
				c.retiring = true
				continue
			}
			if c.overflow != nil {
				// Its overflow message must be written before the goodbye,
				// or never: the stream ends at the marker.
				if !s.tryQueue(c, c.overflow) {
					s.remove(c, ReasonDrained)
					continue
				}
				c.overflow = nil
			}
			// The flusher reads goodbye after taking retireMarker from the
			// queue, which orders this write before that read.
			c.goodbye = r.goodbye()
			select {
			case c.queue <- retireMarker:
				c.retiring = true
				s.wake(c)
			default: // a full queue: it could not have taken the goodbye in time
				s.remove(c, ReasonDrained)
			}
		}
	}
}
