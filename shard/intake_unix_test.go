//go:build unix

package shard

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// TestFullQueueOfStarvedFlusherPauses: over real TCP, a client whose queue
// is full while its socket would take more is not slow: its flusher has not
// had a CPU. The shard holds the message and pauses instead of evicting.
// A client whose peer stopped reading, so its socket is full, is evicted.
func TestFullQueueOfStarvedFlusherPauses(t *testing.T) {
	const queue = 40
	// Behind for long enough as soon as behind.
	s, err := New(Config{QueueSize: queue, NoIOUring: true, StallTimeout: time.Nanosecond}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.closeRing()
	clients, peers := tcpClients(t, s, 16) // two may be behind before the shard counts as busy
	starved, stuck := clients[0], clients[1]
	starved.writer.acquire(writeFlusher) // as if its flusher were waiting for a CPU
	fillSocket(t, stuck, peers[1])
	stuck.writer.acquire(writeFlusher) // blocked in a write, as its flusher would be
	for _, c := range clients[2:] {
		c.writer.acquire(writeFlusher) // the test drains their queues, as their flushers would
	}
	for seq := uint64(1); seq <= queue+1; seq++ {
		s.dispatch(message(seq, "news"))
		s.wakeDeferred()
		for _, c := range clients[2:] {
			received(c)
		}
	}
	if !stuck.removed {
		t.Errorf("a client whose peer reads nothing and whose queue is full was kept")
	}
	if starved.removed || starved.overflow == nil || starved.overflow.ID.Seq != queue+1 {
		t.Fatalf("a starved client: removed %v, overflow %v; want kept, holding message %d", starved.removed, starved.overflow, queue+1)
	}
	s.regulate()
	if s.intake != intakePaused {
		t.Errorf("intake %v with a message waiting in an overflow slot, want paused", s.intake)
	}
	received(starved)
	s.resumeIfCaughtUp()
	if got := received(starved); s.intake != intakeOpen || len(got) != 1 || got[0] != queue+1 {
		t.Errorf("after the starved client caught up: intake %v, queued %v; want open and message %d", s.intake, got, queue+1)
	}
	for _, p := range peers {
		p.Close()
	}
}

// TestStarvedClientThatNeverMovesIsEvictedAtTheSecondStall: a client whose
// flusher takes nothing for two stall timeouts in a row is stuck (in a slow
// replay, say), even with a socket that would take more: it is evicted,
// so that its shard does not stay paused.
func TestStarvedClientThatNeverMovesIsEvictedAtTheSecondStall(t *testing.T) {
	const queue = 40
	s, err := New(Config{QueueSize: queue, NoIOUring: true}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.closeRing()
	clients, peers := tcpClients(t, s, 1)
	c := clients[0]
	c.writer.acquire(writeFlusher) // its flusher never takes anything
	for seq := uint64(1); seq <= queue+1; seq++ {
		s.dispatch(message(seq, "news"))
	}
	s.regulate()
	if s.intake != intakePaused || c.overflow == nil {
		t.Fatalf("intake %v, overflow %v: want paused with the last message in the overflow slot", s.intake, c.overflow)
	}
	s.stalled()
	if c.removed {
		t.Fatal("evicted at the first stall with a socket that takes more; want one more stall timeout")
	}
	s.stalled()
	if !c.removed || s.intake != intakeOpen {
		t.Fatalf("after a second stall with no progress: removed %v, intake %v; want evicted and open", c.removed, s.intake)
	}
	if st := s.Stats(); st.Ended[ReasonSlow] != 1 {
		t.Errorf("ended %v, want one slow eviction", st.Ended)
	}
	peers[0].Close()
}

// fillSocket writes to c's socket until the kernel takes no more, as a
// flusher writing to a peer that reads nothing would.
func fillSocket(t *testing.T, c *client, peer net.Conn) {
	t.Helper()
	sc, ok := peer.(syscall.Conn)
	if !ok {
		t.Fatal("the peer is no socket")
	}
	raw, _ := sc.SyscallConn()
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.tryWrite(buf); err != nil {
			if c.peerBehind() {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	t.Fatal("the socket still takes writes")
}
