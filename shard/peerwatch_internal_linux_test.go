//go:build linux

package shard

import (
	"testing"

	"github.com/ssehub/ssehub/internal/testenv"
)

// A client whose writer failed is dead, and its leave is on the way: when
// its peer's close shows in the watch too, the loop only takes it out of
// the watch (which would report it at every look), and removes it for the
// reason its writer gives, counted once.
func TestPeerWatchLeavesADeadClientToItsWriter(t *testing.T) {
	s, err := New(Config{NoIOUring: true}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.peers.close)
	clients, peers := tcpClients(t, s, 1)
	c := clients[0]
	if !c.watched {
		t.Fatal("a TCP client joined unwatched")
	}
	if !c.writer.acquire(writeLoop) {
		t.Fatal("the client's writer is busy")
	}
	c.writer.kill(writeLoop) // as a failed write does
	peers[0].Close()
	testenv.WaitFor(t, "the watch to see the close", func() bool {
		s.checkPeers()
		return !c.watched
	})
	if c.removed || s.Stats().Ended[ReasonPeerClosed] != 0 {
		t.Fatalf("dead client with a closed peer: removed %v, peer_closed %d; want left to its writer",
			c.removed, s.Stats().Ended[ReasonPeerClosed])
	}
	if n := s.peers.wait(); n != 0 {
		t.Errorf("the watch reports %d sockets after the dead client left it, want 0", n)
	}
	s.remove(c, ReasonWriteFailed) // the writer's leave, as the loop takes it
	if st := s.Stats(); st.Ended[ReasonWriteFailed] != 1 || st.Ended[ReasonPeerClosed] != 0 || st.Clients != 0 {
		t.Errorf("after the leave: write_failed %d, peer_closed %d, open %d; want 1, 0, 0",
			st.Ended[ReasonWriteFailed], st.Ended[ReasonPeerClosed], st.Clients)
	}
}
