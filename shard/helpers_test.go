package shard

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/internal/testenv"
)

// waitIdle waits for c's writer to let go of it; what names the writer.
func waitIdle(t testing.TB, c *client, what string) {
	t.Helper()
	testenv.WaitFor(t, what+" to let go of its client", func() bool { return c.writer.owner() == writeIdle })
}

// waitFlushers waits for s's flushers to exit.
func waitFlushers(t testing.TB, s *Shard) {
	t.Helper()
	testenv.WaitAll(t, "the flushers to exit", &s.flushers)
}

// tcpClients joins n streams over real loopback TCP to s, whose loop is not
// running: the test calls its methods in the loop's place. It returns the
// clients and the peers' ends, once every head has been written.
func tcpClients(t *testing.T, s *Shard, n int) ([]*client, []net.Conn) {
	t.Helper()
	return tcpClientsOn(t, s, n, func(int) []string { return []string{"news"} })
}

// tcpClientsOn is tcpClients with client i following topics(i).
func tcpClientsOn(t *testing.T, s *Shard, n int, topics func(i int) []string) ([]*client, []net.Conn) {
	t.Helper()
	t.Cleanup(s.peers.close) // the loop, which would close it, does not run
	clients := make([]*client, n)
	peers := make([]net.Conn, n)
	for i := range clients {
		peer, conn := hubtest.TCPPair(t)
		c := newClient(conn, Stream{Head: []byte("head\n"), Selection: broker.Selection{Topics: topics(i)}}, s.cfg.QueueSize)
		if c.direct != directWrites {
			t.Fatalf("a TCP conn's direct = %v on a system with directWrites = %v", c.direct, directWrites)
		}
		s.join(c) // queues the joined marker and starts a flusher for the head
		clients[i], peers[i] = c, peer
	}
	for _, c := range clients {
		waitIdle(t, c, "the head's flusher")
	}
	return clients, peers
}

// readAll reads what each peer receives until it is closed, into got[i],
// which holds up to max bytes. It reads into buffers allocated up front, so
// that an allocation test is not disturbed. wait waits for the peers to be
// closed, and fails the test if one is not within testenv.Timeout.
func readAll(t testing.TB, peers []net.Conn, max int) (got [][]byte, wait func()) {
	var wg sync.WaitGroup
	got = make([][]byte, len(peers))
	for i, p := range peers {
		buf := make([]byte, max)
		// Then a peer the shard never closes stops reading, and wait fails
		// instead of hanging.
		_ = p.SetReadDeadline(time.Now().Add(testenv.Timeout))
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
	return got, func() {
		t.Helper()
		testenv.WaitAll(t, "the peers to be closed", &wg)
	}
}

// writeMode is one of the shard loop's two ways to write: batches through
// io_uring, where the kernel offers it, or one write(2) per socket.
type writeMode struct {
	name      string
	noIOUring bool
}

var writeModes = []writeMode{{"io_uring", false}, {"write", true}}

// forEachWriteMode runs test once per write mode, with a shard made from
// cfg that writes that way. The io_uring run is skipped where the kernel
// refuses it.
func forEachWriteMode(t *testing.T, cfg Config, test func(t *testing.T, s *Shard)) {
	for _, mode := range writeModes {
		t.Run(mode.name, func(t *testing.T) {
			cfg.NoIOUring = mode.noIOUring
			s, err := New(cfg, nopBroker{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.closeRing)
			if !mode.noIOUring && s.ring == nil {
				t.Skip("no io_uring here")
			}
			if got := s.Stats().IOUring; got == mode.noIOUring {
				t.Fatalf("Stats().IOUring = %v with NoIOUring %v", got, mode.noIOUring)
			}
			test(t, s)
		})
	}
}
