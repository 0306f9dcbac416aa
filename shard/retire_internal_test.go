package shard

import (
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
)

// recordConn records whether it was written to and closed.
type recordConn struct {
	discardConn
	written, closed bool
}

func (c *recordConn) Write(p []byte) (int, error) { c.written = true; return len(p), nil }
func (c *recordConn) Close() error                { c.closed = true; return nil }

// TestRetireClosesPendingStreamsAtOnce: a stream still waiting for its
// subscriptions has written nothing, not even its head, so it gets no
// goodbye: it is closed, and counted, at once.
func TestRetireClosesPendingStreamsAtOnce(t *testing.T) {
	s, err := New(Config{}, pendingBroker{})
	if err != nil {
		t.Fatal(err)
	}
	conn := &recordConn{}
	c := &client{conn: conn, queue: make(chan *broker.Message, 8), sel: broker.Selection{Topics: []string{"a"}}}
	s.join(c)
	s.retire(retire{n: 1, goodbye: func() []byte {
		t.Error("goodbye asked for a stream that has not opened")
		return nil
	}})
	if !c.removed || !conn.closed || conn.written || s.Stats().Ended[ReasonDrained] != 1 {
		t.Errorf("pending stream after retire: removed %v, closed %v, written %v, drained %d; want removed, closed, not written, 1",
			c.removed, conn.closed, conn.written, s.Stats().Ended[ReasonDrained])
	}
}

// TestRetireFullQueue: a stream whose queue is full could not take its
// goodbye in time; it is closed at once rather than left open.
func TestRetireFullQueue(t *testing.T) {
	s, clients := newTestShard(t, 2, 2)
	full := clients[0]
	for seq := uint64(1); len(full.queue) < cap(full.queue); seq++ {
		full.queue <- message(seq, "news")
	}
	s.retire(retire{n: 2, goodbye: func() []byte { return []byte("retry: 1\n\n") }})
	if !full.removed || s.Stats().Ended[ReasonDrained] != 1 {
		t.Errorf("stream with a full queue: removed %v, drained %d; want removed, 1", full.removed, s.Stats().Ended[ReasonDrained])
	}
	other := clients[1]
	if other.removed || !other.retiring || <-other.queue != retireMarker || string(other.goodbye) != "retry: 1\n\n" {
		t.Errorf("stream with room: removed %v, retiring %v, goodbye %q; want its goodbye queued", other.removed, other.retiring, other.goodbye)
	}
	// Retired once is enough.
	s.retire(retire{n: 2, goodbye: func() []byte { t.Error("goodbye asked twice"); return nil }})
}
