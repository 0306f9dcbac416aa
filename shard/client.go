package shard

import (
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
)

// Conn is the connection a stream is written to; net.Conn satisfies it.
// Close must be safe to call concurrently with a blocked Write: the shard
// closes the conn of an evicted client to unblock its writer.
type Conn interface {
	Write(p []byte) (int, error)
	SetWriteDeadline(t time.Time) error
	Close() error
}

// client is one SSE stream. Its writer goroutine (the caller of Shard.Serve)
// drains queue into conn; the shard loop fills queue.
type client struct {
	conn        Conn
	sel         broker.Selection // immutable
	lastEventID string           // immutable: the resume point as sent

	// queue is sent to only by the shard loop, which closes it when it
	// removes the client, after setting reason.
	queue  chan *broker.Message
	reason Reason // written by the shard loop before close(queue)

	// Owned by the shard loop.
	bucket     int
	lastQueued eventid.ID // dedupes a message that matches several topics
	removed    bool
}

// Sentinel queue entries. They are compared by pointer.
var (
	// joinedMarker is queued first to every client once its subscriptions
	// are active: from then on no event can be missed, so the writer may
	// tell the client the stream is open and read history for a resume
	// with no gap to live delivery.
	joinedMarker = &broker.Message{}
	// heartbeat is an SSE comment line: EventSource ignores it, while its
	// write finds dead peers and keeps proxies from timing the stream out.
	heartbeat = &broker.Message{Frame: []byte(":\n")}
)

// maxBatchBytes bounds how many queued bytes one write coalesces.
const maxBatchBytes = 64 << 10

// batchPool holds write buffers for coalescing. A writer holds one only while
// it writes, so the pool stays near the number of concurrent writes rather
// than the number of streams.
var batchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// streamWriter writes one client's frames, coalescing what is queued.
// It runs in the client's writer goroutine.
type streamWriter struct {
	c       *client
	timeout time.Duration
	// skipThrough: live messages with ids up to it were covered by a replay.
	skipThrough eventid.ID
}

// covered reports whether m was already sent by the replay.
func (w *streamWriter) covered(m *broker.Message) bool {
	return !m.ID.IsZero() && m.ID.Compare(w.skipThrough) <= 0
}

// write sends p under the write deadline.
func (w *streamWriter) write(p []byte) error {
	if err := w.c.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return err
	}
	_, err := w.c.conn.Write(p)
	return err
}

// writeFrames writes msgs, a batch of up to maxBatchBytes at a time.
func (w *streamWriter) writeFrames(msgs []*broker.Message) error {
	bp := batchPool.Get().(*[]byte)
	defer batchPool.Put(bp)
	buf := (*bp)[:0]
	for _, m := range msgs {
		if len(buf) > 0 && len(buf)+len(m.Frame) > maxBatchBytes {
			if err := w.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		buf = append(buf, m.Frame...)
	}
	*bp = buf[:0]
	if len(buf) == 0 {
		return nil
	}
	return w.write(buf)
}

// drain writes first and whatever else is queued behind it in one write.
// It reports closed when the queue was closed while draining.
func (w *streamWriter) drain(first *broker.Message) (closed bool, err error) {
	if len(w.c.queue) == 0 {
		return false, w.write(first.Frame) // common case: no copy
	}
	bp := batchPool.Get().(*[]byte)
	defer batchPool.Put(bp)
	buf := append((*bp)[:0], first.Frame...)
	for len(buf) < maxBatchBytes && !closed {
		select {
		case m, ok := <-w.c.queue:
			switch {
			case !ok:
				closed = true
			case !w.covered(m):
				buf = append(buf, m.Frame...)
			}
		default:
			*bp = buf[:0]
			return false, w.write(buf)
		}
	}
	*bp = buf[:0]
	return closed, w.write(buf)
}
