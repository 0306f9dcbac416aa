//go:build unix

package shard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard/uring"
)

func TestWriteNowDispatchDoesNotAllocate(t *testing.T) {
	forEachWriteMode(t, Config{}, testWriteNowDispatchDoesNotAllocate)
}

func testWriteNowDispatchDoesNotAllocate(t *testing.T, s *Shard) {
	clients, peers := tcpClients(t, s, 50)
	got, wait := readAll(t, peers, 64<<10)
	msgs := make([]*broker.Message, 200)
	for i := range msgs {
		msgs[i] = message(uint64(i+1), "news")
	}
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		s.dispatch(msgs[i])
		i++
	})
	if allocs != 0 {
		t.Errorf("dispatch over TCP: %v allocs per message, want 0", allocs)
	}
	for _, c := range clients {
		if c.writer.owner() != writeIdle || len(c.queue) > 0 {
			t.Fatalf("a flusher ran or a message was queued: the socket took every frame, so none should")
		}
		s.remove(c, ReasonShutdown)
	}
	waitFlushers(t, s)
	for _, p := range peers {
		_ = p.(*net.TCPConn).CloseWrite()
	}
	wait()
	want := "head\n" + string(bytes.Repeat(msgs[0].Frame, i))
	for k, g := range got {
		if string(g) != want {
			t.Fatalf("peer %d got %d bytes, want %d: %.60q", k, len(g), len(want), g)
		}
	}
}

// TestWriteNowHandsTheRestToAFlusher fills a socket whose peer does not
// read, so that writeNow can write only part of a frame, or nothing: the
// flusher must then write the rest of that frame and everything queued
// after it, in order, once the peer reads again.
func TestWriteNowHandsTheRestToAFlusher(t *testing.T) {
	forEachWriteMode(t, Config{QueueSize: 1 << 14, WriteTimeout: time.Minute}, testWriteNowHandsTheRestToAFlusher)
}

func testWriteNowHandsTheRestToAFlusher(t *testing.T, s *Shard) {
	clients, peers := tcpClients(t, s, 1)
	c := clients[0]
	// A small buffer fills after a few frames, so the test is quick.
	if err := syscallSetSendBuffer(c); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	want.WriteString("head\n")
	queued := 0
	for seq := uint64(1); queued < 20; seq++ {
		m := &broker.Message{ID: eventid.ID{Time: 1, Seq: seq}, Topics: []string{"news"},
			Frame: fmt.Appendf(nil, "id: %d\ndata: %s\n\n", seq, bytes.Repeat([]byte{'a' + byte(seq%26)}, 1000))}
		s.dispatch(m)
		want.Write(m.Frame)
		if c.writer.owner() != writeIdle {
			queued++ // the socket is full: later frames go through the queue
		}
		if seq > 100000 {
			t.Fatal("the socket never filled up")
		}
	}
	got, wait := readAll(t, peers, want.Len()+1)
	testenv.WaitFor(t, "the flusher to write everything queued", func() bool {
		return c.writer.owner() == writeIdle && len(c.queue) == 0
	})
	s.remove(c, ReasonShutdown)
	waitFlushers(t, s)
	_ = peers[0].(*net.TCPConn).CloseWrite()
	wait()
	if !bytes.Equal(got[0], want.Bytes()) {
		t.Fatalf("peer got %d bytes, want %d, equal up to byte %d", len(got[0]), want.Len(), commonPrefix(got[0], want.Bytes()))
	}
}

// TestWriteNowEndsTheStreamOfAResetPeer: a write the peer's reset makes
// fail ends that stream, and only that one.
func TestWriteNowEndsTheStreamOfAResetPeer(t *testing.T) {
	forEachWriteMode(t, Config{}, func(t *testing.T, s *Shard) {
		clients, peers := tcpClients(t, s, 2)
		_, wait := readAll(t, peers[1:], 1<<10)
		_ = peers[0].(*net.TCPConn).SetLinger(0)
		peers[0].Close() // a reset
		time.Sleep(20 * time.Millisecond)
		for seq := uint64(1); seq <= 3 && !clients[0].removed; seq++ {
			s.dispatch(message(seq, "news")) // the first write may still pass
		}
		if !clients[0].removed {
			t.Fatal("writes to a reset peer did not end its stream")
		}
		if clients[1].removed {
			t.Fatal("the other stream ended too")
		}
		if got := s.ended[ReasonWriteFailed].Load(); got != 1 {
			t.Errorf("%d streams ended for a failed write, want 1", got)
		}
		s.remove(clients[1], ReasonShutdown)
		waitFlushers(t, s)
		wait()
	})
}

func syscallSetSendBuffer(c *client) error {
	return syscall.SetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// brokenRing stands in for an io_uring that fails on purpose. It holds
// up to capacity sends; with failSubmit, Submit really sends the first
// half of them, reports those, and fails; with failUnregister, Unregister
// fails.
type brokenRing struct {
	capacity       int
	failSubmit     bool
	failUnregister bool
	sends          []brokenSend
	closed         bool
}

type brokenSend struct {
	fd  int
	p   []byte
	tag uint64
}

func (r *brokenRing) Register(fd int) error { return nil }

func (r *brokenRing) Unregister(fd int) error {
	if r.failUnregister {
		return errors.New("io_uring register: the ring broke")
	}
	return nil
}

func (r *brokenRing) Send(fd int, p []byte, tag uint64) bool {
	if len(r.sends) == r.capacity {
		return false
	}
	r.sends = append(r.sends, brokenSend{fd, p, tag})
	return true
}

func (r *brokenRing) Submit() ([]uring.Completion, error) {
	sends := r.sends
	r.sends = nil
	if r.failSubmit {
		sends = sends[:len(sends)/2]
	}
	var done []uring.Completion
	for _, snd := range sends {
		n, err := syscall.Write(snd.fd, snd.p)
		if err != nil {
			return done, err
		}
		done = append(done, uring.Completion{Tag: snd.tag, Res: int32(n)})
	}
	if r.failSubmit {
		return done, errors.New("io_uring_enter: the ring broke")
	}
	return done, nil
}

func (r *brokenRing) Cap() int { return r.capacity }

func (r *brokenRing) Close() error {
	r.closed = true
	return nil
}

// shardWithRing returns a shard, its loop not running, whose loop writes
// through ring.
func shardWithRing(t *testing.T, ring batchSender) *Shard {
	t.Helper()
	s, err := New(Config{NoIOUring: true}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	s.useRing(ring)
	return s
}

// TestRingFailureEndsOnlyTheUnaccountedStreams: when the ring fails, the
// streams whose sends it reported go on, those it did not are ended (they
// resume from their last event, so nothing is lost or repeated), and the
// shard writes with write(2) from then on. The ring fails when the fan-out
// fills it: 4 sends queued, 2 reported, the 2 other streams ended, and the
// 2 streams left in the fan-out written to directly.
func TestRingFailureEndsOnlyTheUnaccountedStreams(t *testing.T) {
	ring := &brokenRing{capacity: 4, failSubmit: true}
	s := shardWithRing(t, ring)
	clients, peers := tcpClients(t, s, 6)
	got, wait := readAll(t, peers, 1<<10)
	first, second := message(1, "news"), message(2, "news")
	s.dispatch(first)
	if !ring.closed || s.ring != nil || s.Stats().IOUring {
		t.Fatalf("after the ring failed: closed %v, ring %v, Stats().IOUring %v; want it closed and dropped", ring.closed, s.ring, s.Stats().IOUring)
	}
	var kept []*client
	for _, c := range clients {
		if !c.removed {
			kept = append(kept, c)
		}
	}
	if len(kept) != 4 || s.ended[ReasonWriteFailed].Load() != 2 {
		t.Fatalf("%d streams kept, %d ended for a failed write; want 4 and 2", len(kept), s.ended[ReasonWriteFailed].Load())
	}
	s.dispatch(second) // through write(2) now
	for _, c := range kept {
		s.remove(c, ReasonShutdown)
	}
	waitFlushers(t, s)
	wait()
	for i, c := range clients {
		want := "head\n"
		if slices.Contains(kept, c) {
			want += string(first.Frame) + string(second.Frame)
		}
		if string(got[i]) != want {
			t.Errorf("peer %d got %q, want %q", i, got[i], want)
		}
	}
}

// TestRingThatCannotUnregisterIsClosed: a ring that may still hold a
// removed stream's socket open is closed, which releases it; during a
// fan-out, only once the sends queued in it are finished, so that those
// streams get their event.
func TestRingThatCannotUnregisterIsClosed(t *testing.T) {
	ring := &brokenRing{capacity: 4, failUnregister: true}
	s := shardWithRing(t, ring)
	clients, peers := tcpClients(t, s, 3)
	got, wait := readAll(t, peers, 1<<10)
	m := message(1, "news")
	f := s.beginFanOut()
	for _, c := range clients[:2] {
		if !f.writeNow(c, m) {
			t.Fatal("writeNow refused an idle stream")
		}
	}
	s.remove(clients[2], ReasonShutdown) // as a slow stream is, mid-fan-out
	if ring.closed {
		t.Fatal("the ring was closed with sends queued in it")
	}
	f.end()
	if !ring.closed || s.ring != nil {
		t.Fatalf("after the fan-out: ring closed %v, dropped %v; want both", ring.closed, s.ring == nil)
	}
	for _, c := range clients[:2] {
		s.remove(c, ReasonShutdown)
	}
	waitFlushers(t, s)
	wait()
	for i, want := range []string{"head\n" + string(m.Frame), "head\n" + string(m.Frame), "head\n"} {
		if string(got[i]) != want {
			t.Errorf("peer %d got %q, want %q", i, got[i], want)
		}
	}

	// Outside a fan-out the ring is closed at once.
	s.useRing(&brokenRing{capacity: 4, failUnregister: true})
	c, _ := tcpClients(t, s, 1)
	s.remove(c[0], ReasonShutdown)
	if s.ring != nil {
		t.Fatal("the ring was kept after it failed to unregister a socket")
	}
}

// pipeConn is a stream whose descriptor is a pipe, not a socket.
type pipeConn struct{ *os.File }

func (pipeConn) SetWriteDeadline(time.Time) error { return nil }

// TestWriteNowWritesToAnyDescriptor: the loop writes to whatever
// descriptor a stream's conn has, as write(2) does, through the ring too.
// A pipe is not a socket: a send would fail on it.
func TestWriteNowWritesToAnyDescriptor(t *testing.T) {
	forEachWriteMode(t, Config{}, func(t *testing.T, s *Shard) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		c := newClient(pipeConn{w}, Stream{Head: []byte("head\n"), Selection: broker.Selection{Topics: []string{"news"}}}, s.cfg.QueueSize)
		if !c.direct {
			t.Fatal("a pipe gave no descriptor for direct writes")
		}
		s.join(c)
		waitIdle(t, c, "the head's flusher")
		m := message(1, "news")
		s.dispatch(m)
		if c.removed || c.writer.owner() != writeIdle {
			t.Fatalf("writing to a pipe: removed %v, flusher started %v; want neither", c.removed, c.writer.owner() != writeIdle)
		}
		s.remove(c, ReasonShutdown) // closes w
		waitFlushers(t, s)
		got, err := io.ReadAll(r)
		if want := "head\n" + string(m.Frame); err != nil || string(got) != want {
			t.Fatalf("pipe got %q, %v; want %q", got, err, want)
		}
	})
}

// TestDeferredSingleMessagesAreWrittenByTheLoop: during a backlog,
// messages are queued and the flushers woken afterwards; a client with
// one message queued then has it written by the loop, as without a
// backlog, and one with several gets a flusher that coalesces them.
func TestDeferredSingleMessagesAreWrittenByTheLoop(t *testing.T) {
	forEachWriteMode(t, Config{}, func(t *testing.T, s *Shard) {
		const n = 20
		clients, peers := tcpClientsOn(t, s, n, func(i int) []string { return []string{fmt.Sprint("c/", i)} })
		got, wait := readAll(t, peers, 1<<10)
		s.inbox <- message(99, "elsewhere") // a backlog: more waits in the inbox
		var seq uint64
		var want []string
		for i := range clients {
			frames := ""
			for range 1 + i%2 { // even clients get one message, odd ones two
				seq++
				m := message(seq, fmt.Sprint("c/", i))
				m.Frame = fmt.Appendf(nil, "id: %d\ndata: x\n\n", seq)
				s.dispatch(m)
				frames += string(m.Frame)
			}
			want = append(want, "head\n"+frames)
		}
		if len(s.deferred) != n {
			t.Fatalf("%d clients deferred during the backlog, want %d", len(s.deferred), n)
		}
		<-s.inbox
		s.wakeDeferred()
		for i := 0; i < n; i += 2 {
			// A flusher would own the client until it had written, on
			// another goroutine; the loop's own write is done by now.
			if clients[i].writer.owner() != writeIdle || len(clients[i].queue) > 0 {
				t.Errorf("client %d, with one message queued, was left to a flusher", i)
			}
		}
		for _, c := range clients {
			waitIdle(t, c, "the flusher of a client with two messages")
			s.remove(c, ReasonShutdown)
		}
		waitFlushers(t, s)
		wait()
		for i := range clients {
			if string(got[i]) != want[i] {
				t.Errorf("peer %d got %q, want %q", i, got[i], want[i])
			}
		}
	})
}
