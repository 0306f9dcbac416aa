package httpapi

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/ssehub/ssehub/transport/sse"
)

// Drain prepares the server to stop without its clients noticing (see
// hub.Drain): /readyz answers 503 at once, new streams are answered with a
// stream that tells them to retry and ends, and the open streams are ended
// one after another over window, each after its queued events and a "retry:"
// field. Publishing goes on. Every retry is jittered around Retry, so the
// reconnects spread over the rest of the fleet. Call Shutdown afterwards.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	return s.hub.Drain(ctx, window, s.goodbye)
}

// goodbye returns the last frame of a drained stream: its reconnect delay,
// drawn uniformly from [Retry/2, 3·Retry/2) so that its mean stays Retry.
// A blank line ends the frame; with no data, EventSource dispatches nothing.
// It is called on the shard loops, and math/rand/v2's top-level functions
// are safe for concurrent use.
func (s *Server) goodbye() []byte {
	retry := s.cfg.Retry/2 + rand.N(s.cfg.Retry)
	return append(sse.AppendRetry(nil, retry), '\n')
}
