package hub

import (
	"context"
	"math"
	"time"
)

// drainTick is how often Drain retires the streams that have come due, and
// then checks whether they have gone.
const drainTick = 10 * time.Millisecond

// Drain prepares the hub to stop without its clients noticing. From now on
// Ready reports ErrDraining, so that load balancers send no more streams
// here, and Stream refuses new streams with it; publishing goes on. The
// streams open now are retired one after another at even intervals over
// window (stream k of n at (k-½)/n of it; all at once for a window of zero):
// each is written what is queued for it, then goodbye(), and closed. So their
// clients reconnect to the rest of the fleet spread over the window rather
// than in one burst. goodbye runs on the shard loops (see shard.Retire).
//
// Drain returns once every stream has ended, or with ctx's error. Call it
// once, then Shutdown.
func (h *Hub) Drain(ctx context.Context, window time.Duration, goodbye func() []byte) error {
	h.mu.Lock()
	h.draining = true
	h.mu.Unlock()

	// Every stream that Stream accepted has been taken by its shard by now
	// (Stream joins under the read lock), and no more will come. A shard
	// may not have counted the very last one yet: the final round below
	// retires it.
	open := make([]int, len(h.shards))
	total := 0
	for i, s := range h.shards {
		open[i] = int(s.Stats().Clients)
		total += open[i]
	}
	// Streams are numbered across the shards in shard order; retired[i] is
	// how many of shard i's have been retired.
	retired := make([]int, len(h.shards))
	start := time.Now()
	tick := time.NewTicker(drainTick)
	defer tick.Stop()
	for {
		due := dueBy(time.Since(start), window, total)
		first := 0 // number of shard i's first stream, less one
		for i, s := range h.shards {
			if n := min(max(due-first, 0), open[i]) - retired[i]; n > 0 {
				s.Retire(n, goodbye)
				retired[i] += n
			}
			first += open[i]
		}
		if due == total {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, s := range h.shards {
		s.Retire(math.MaxInt, goodbye)
	}
	for h.streams() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// dueBy returns how many of total streams are due to be retired after
// elapsed of window: stream k (from 1) is due at (k-½)/total of the window.
func dueBy(elapsed, window time.Duration, total int) int {
	if elapsed >= window {
		return total
	}
	// k <= elapsed/window*total + ½, in integers.
	return int((2*int64(elapsed)*int64(total) + int64(window)) / (2 * int64(window)))
}

// streams returns how many streams are open on all shards.
func (h *Hub) streams() int64 {
	var n int64
	for _, s := range h.shards {
		n += s.Stats().Clients
	}
	return n
}
