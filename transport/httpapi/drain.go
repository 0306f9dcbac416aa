package httpapi

import (
	"context"
	"time"
)

// Drain prepares the server to stop without its clients noticing (see
// hub.Drain): /readyz answers 503 at once, new streams are answered with a
// stream that tells them to retry and ends, and the open streams are ended
// one after another over window, each after its queued events and a "retry:"
// field (frontdoor.Door.Goodbye). Publishing goes on. Every retry is
// jittered around Retry, so the reconnects spread over the rest of the
// fleet. The streams of front doors mounted on the server are drained too:
// they are the same hub's. Call Shutdown afterwards.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	return s.hub.Drain(ctx, window, s.door.Goodbye)
}
