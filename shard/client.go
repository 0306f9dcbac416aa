package shard

import (
	"errors"
	"slices"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/transport"
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
	user        string    // its subject, for presence; "" when anonymous
	lastEventID string    // the resume point as sent
	expires     time.Time // when its credentials expire; zero means never
	onOpen      func()
	onEnd       func(Reason)
	// joining is a Mercure stream's request, from Join until the shard
	// loop interns it into mercure as the stream joins (joinMercure); nil
	// for a native stream.
	joining *MercureStream
	// mercure is a joined Mercure stream's profile, shared with the
	// streams of the same selectors, grants and head; nil for a native
	// stream. Set by the shard loop before the stream's flusher first
	// runs, which reads it.
	mercure *profile

	// queue is sent to only by the shard loop, which closes it when it
	// removes the client.
	queue chan *broker.Message
	// writer says who writes to conn: no one, the shard loop, a flusher,
	// or, once the stream is over for writing, no one ever again. See
	// writeOwner for the transitions, which order the writers' accesses to
	// the fields below.
	writer writeState

	// fd is conn's socket, for the shard loop's non-blocking writes
	// (writeNow) when direct is set; conns without one, such as net.Pipe
	// in tests, and every conn off Unix (directwrite_other.go), always go
	// through a flusher. Only the shard loop closes
	// conn, after taking c out of its index, so the fd cannot be closed or
	// reused under a writeNow.
	fd     int
	direct bool

	// Owned by whoever writer names: the running flusher, or the shard
	// loop during a writeNow.
	skipThrough eventid.ID // live messages up to it were covered by a replay
	// On a partitioned broker: live messages up to it in their partition
	// were covered by a replay (Replay.HeadCursor); and floor, until the
	// shard's cursor covers it, the cursor the stream's frames must be at
	// least at, since the replay took it there (docs/fleet-design.md#resume).
	skipCursor, floor eventid.Cursor
	partial           []byte // the rest of a frame writeNow could not finish

	// Owned by the shard loop.
	bucket     int       // heartbeat bucket it is in; see Shard.heartbeat
	lastWrite  int       // heartbeat tick of its last event or heartbeat
	lastQueued uint64    // the dispatch last offered; dedupes a message that matches several topics
	pending    int       // subscriptions not yet active; the stream opens at 0
	joinedAt   time.Time // when it joined, to time out pending subscriptions
	removed    bool
	watched    bool // its socket is in the shard's peer watch (peerwatch.go)
	deferred   bool // in the shard's deferred list (wakeLater)
	behind     bool // in the shard's behind list (fallBehind)
	// expiry is its index in the shard's expiry heap plus one; zero when
	// not in it (no expiry, or removed). An int32 fills the bools'
	// padding.
	expiry int32
	// behindSince is when it last fell behind: a client is slow only once
	// it has been behind for a stall timeout.
	behindSince time.Time
	// overflow is the message that found the queue full while the shard
	// was short of time; it goes to the queue before the intake resumes.
	overflow *broker.Message
	// queuedAtPause is its queue length when the stall clock started: a
	// client that has not gone below it when the clock runs out is stuck.
	queuedAtPause int
	stalls        int  // stall timeouts in a row it took nothing in
	retiring      bool // counted by Retire: retireMarker is queued, or it was dead already

	// goodbye is the last frame of a retired stream: written by the shard
	// loop before it queues retireMarker, read by the flusher after.
	goodbye []byte
}

// newClient returns the client of a stream to conn with a queue of
// queueSize messages.
func newClient(conn Conn, st Stream, queueSize int) *client {
	c := &client{
		conn:        conn,
		head:        st.Head,
		sel:         st.Selection,
		user:        st.User,
		lastEventID: st.LastEventID,
		expires:     st.Expires,
		onOpen:      st.OnOpen,
		onEnd:       st.OnEnd,
		joining:     st.Mercure,
		queue:       make(chan *broker.Message, queueSize),
	}
	c.fd, c.direct = directFD(conn)
	return c
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
	// retireMarker is queued last to a retired stream: the flusher writes
	// the client's goodbye frame and ends the stream (see Retire).
	retireMarker = &broker.Message{}
)

// covered reports whether m was already sent by the replay.
func (c *client) covered(m *broker.Message) bool {
	if m.Cursor != nil {
		return c.skipCursor != nil && m.ID.Compare(c.skipCursor[m.Partition]) <= 0
	}
	return !m.ID.IsZero() && m.ID.Compare(c.skipThrough) <= 0
}

// frame is what c is sent for m: m's own frame, unless a replay took c
// past m's cursor in some partition; then m's event under the cursor
// raised to c's floor, so that a resume from it repeats nothing. It drops
// the floor once m's cursor covers it. Called by c's writer.
func (c *client) frame(m *broker.Message) []byte {
	if c.floor == nil || m.Cursor == nil {
		return m.Frame
	}
	if m.Cursor.Covers(c.floor) {
		c.floor = nil // from here on the shard's cursor is ahead
		return m.Frame
	}
	cur := slices.Clone(m.Cursor)
	cur.Raise(c.floor)
	return transport.CursorFrame(cur, m.Body)
}

// write sends p under the write deadline.
func (c *client) write(p []byte, timeout time.Duration) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := c.conn.Write(p)
	return err
}

// errWouldBlock is tryWrite's report of a socket that could not take all
// of p at once.
var errWouldBlock = errors.New("shard: write would block")

// nonBlockingResult reads the outcome of a non-blocking write of size
// bytes, by write(2) or through the shard's ring, as tryWrite reports it.
func nonBlockingResult(n int, err error, size int) (int, error) {
	n = max(n, 0)
	switch {
	case err == nil && n < size || wouldBlock(err):
		return n, errWouldBlock
	case err != nil:
		return n, err
	}
	return n, nil
}
