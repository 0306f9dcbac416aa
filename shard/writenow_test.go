package shard

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/hubtest"
)

// tcpClients joins n streams over real loopback TCP to s, whose loop is not
// running: the test calls its methods in the loop's place. It returns the
// clients and the peers' ends, once every head has been written.
func tcpClients(t *testing.T, s *Shard, n int) ([]*client, []net.Conn) {
	t.Helper()
	clients := make([]*client, n)
	peers := make([]net.Conn, n)
	for i := range clients {
		peer, conn := hubtest.TCPPair(t)
		c := newClient(conn, Stream{Head: []byte("head\n"), Selection: broker.Selection{Topics: []string{"news"}}}, s.cfg.QueueSize)
		if !c.direct {
			t.Fatal("a TCP conn gave no socket for direct writes")
		}
		s.join(c) // queues the joined marker and starts a flusher for the head
		clients[i], peers[i] = c, peer
	}
	for _, c := range clients {
		for c.flushing.Load() {
			time.Sleep(time.Millisecond)
		}
	}
	return clients, peers
}

// readAll reads what each peer receives until it is closed, into got[i],
// which holds up to max bytes. It reads into buffers allocated up front, so
// that an allocation test is not disturbed.
func readAll(peers []net.Conn, max int) (got [][]byte, wait func()) {
	var wg sync.WaitGroup
	got = make([][]byte, len(peers))
	for i, p := range peers {
		buf := make([]byte, max)
		wg.Go(func() {
			n := 0
			for n < len(buf) {
				m, err := p.Read(buf[n:])
				n += m
				if err != nil {
					break
				}
			}
			got[i] = buf[:n]
		})
	}
	return got, wg.Wait
}

func TestWriteNowDispatchDoesNotAllocate(t *testing.T) {
	s, err := New(Config{}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	clients, peers := tcpClients(t, s, 50)
	got, wait := readAll(peers, 64<<10)
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
		if c.flushing.Load() || len(c.queue) > 0 {
			t.Fatalf("a flusher ran or a message was queued: the socket took every frame, so none should")
		}
		s.remove(c, ReasonShutdown)
	}
	s.flushers.Wait()
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
	s, err := New(Config{QueueSize: 1 << 14, WriteTimeout: time.Minute}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
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
		if c.flushing.Load() {
			queued++ // the socket is full: later frames go through the queue
		}
		if seq > 100000 {
			t.Fatal("the socket never filled up")
		}
	}
	got, wait := readAll(peers, want.Len()+1)
	for c.flushing.Load() || len(c.queue) > 0 {
		time.Sleep(time.Millisecond)
	}
	s.remove(c, ReasonShutdown)
	s.flushers.Wait()
	_ = peers[0].(*net.TCPConn).CloseWrite()
	wait()
	if !bytes.Equal(got[0], want.Bytes()) {
		t.Fatalf("peer got %d bytes, want %d, equal up to byte %d", len(got[0]), want.Len(), commonPrefix(got[0], want.Bytes()))
	}
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
