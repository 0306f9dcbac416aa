package redisbroker

import (
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
)

// replayCoalescer merges identical resume requests that arrive together.
// When a hub dies, thousands of its clients resume at once, most with the
// same selection and Last-Event-ID; one Redis read then serves a whole batch.
//
// Unlike a plain singleflight, a request never joins a read that has already
// started: the read must begin after the caller's subscriptions became
// active, or events published in between would be neither replayed nor
// delivered live. So the first request of a batch waits window before
// reading, and only requests that arrive during that wait share it.
//
// Only a replay that fits in one page is shared. A longer one is read by a
// cursor (Replay.Next) that follows one writer's pace, page by page, so the
// others of its batch each read their own, starting then: later than the
// batch's read, which is safe, since a read that begins after a caller's
// subscriptions became active leaves that caller no gap. A resume storm
// after a short outage misses a page or less, which is what sharing is for.
type replayCoalescer struct {
	window time.Duration

	mu      sync.Mutex
	pending map[string]*replayBatch // batches not yet started, by request key
}

type replayBatch struct {
	done chan struct{}
	r    broker.Replay
	err  error
}

func newReplayCoalescer(window time.Duration) *replayCoalescer {
	return &replayCoalescer{window: window, pending: make(map[string]*replayBatch)}
}

// do returns read's answer for the request, shared with identical requests
// that arrived within the window if it is complete (no Next). The answer is
// immutable, so sharing it is safe.
func (c *replayCoalescer) do(sel broker.Selection, lastEventID string, read func() (broker.Replay, error)) (broker.Replay, error) {
	key := lastEventID + "\x00" + strings.Join(sel.Topics, "\x01") + "\x00" + strings.Join(sel.Patterns, "\x01")
	c.mu.Lock()
	if b, ok := c.pending[key]; ok {
		c.mu.Unlock()
		<-b.done
		if b.r.Next != nil {
			return read() // the batch's cursor is its first caller's
		}
		return b.r, b.err
	}
	b := &replayBatch{done: make(chan struct{})}
	c.pending[key] = b
	c.mu.Unlock()

	time.Sleep(c.window) // gather the batch
	c.mu.Lock()
	delete(c.pending, key) // later requests start a batch of their own
	c.mu.Unlock()
	b.r, b.err = read()
	close(b.done)
	return b.r, b.err
}
