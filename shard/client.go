package shard

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
)

// Conn is the connection a stream is written to; net.Conn satisfies it.
// Close must be safe to call concurrently with a blocked Write: the shard
// closes the conn of an evicted client to unblock its flusher.
type Conn interface {
	Write(p []byte) (int, error)
	SetWriteDeadline(t time.Time) error
	Close() error
}

// client is one SSE stream. It has no goroutine of its own while idle: the
// shard starts a flusher when messages are queued and none is running, and
// the flusher exits once the queue is empty. A parked writer goroutine per
// stream would keep a stack (grown to 4 KiB by its first write) for the
// stream's whole life; see BENCHMARKS.md.
type client struct {
	conn        Conn
	head        []byte // written first: HTTP response head and SSE preamble
	sel         broker.Selection
	lastEventID string    // the resume point as sent
	expires     time.Time // when its credentials expire; zero means never
	onEnd       func(Reason)

	// queue is sent to only by the shard loop, which closes it when it
	// removes the client.
	queue chan *broker.Message
	// flushing is true while a flusher runs (or after a write failed, so
	// that no flusher ever runs again). Whoever sets it from false to true
	// starts the flusher; that handover orders the flushers' accesses to
	// the fields below.
	flushing atomic.Bool

	// Owned by the running flusher.
	skipThrough eventid.ID // live messages up to it were covered by a replay

	// Owned by the shard loop.
	bucket     int
	lastQueued eventid.ID // dedupes a message that matches several topics
	pending    int        // subscriptions not yet active; the stream opens at 0
	joinedAt   time.Time  // when it joined, to time out pending subscriptions
	removed    bool
}

// Sentinel queue entries. They are compared by pointer.
var (
	// joinedMarker is queued first to every client once its subscriptions
	// are active: from then on no event can be missed, so the flusher may
	// tell the client the stream is open and read history for a resume
	// with no gap to live delivery.
	joinedMarker = &broker.Message{}
	// heartbeat is an SSE comment line: EventSource ignores it, while its
	// write finds dead peers and keeps proxies from timing the stream out.
	heartbeat = &broker.Message{Frame: []byte(":\n")}
)

// maxBatchBytes bounds how many queued bytes one write coalesces.
const maxBatchBytes = 64 << 10

// batchPool holds write buffers for coalescing. A flusher holds one only
// while it writes, so the pool stays near the number of concurrent writes
// rather than the number of streams.
var batchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// covered reports whether m was already sent by the replay.
func (c *client) covered(m *broker.Message) bool {
	return !m.ID.IsZero() && m.ID.Compare(c.skipThrough) <= 0
}

// write sends p under the write deadline.
func (c *client) write(p []byte, timeout time.Duration) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := c.conn.Write(p)
	return err
}

// batch collects frames into one write of at most maxBatchBytes (a single
// larger frame goes alone).
type batch struct {
	buf     *[]byte
	single  []byte // the only frame so far, written without a copy
	timeout time.Duration
}

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

func (b *batch) release() {
	if b.buf != nil {
		batchPool.Put(b.buf)
		b.buf = nil
	}
}
