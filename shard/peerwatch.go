package shard

import "time"

// Noticing a peer's departure.
//
// Left to itself, a shard learns that a client closed its socket only when
// a write to it fails: the first heartbeat after the close still succeeds
// (the kernel takes it, and the peer answers with a reset), the next one
// fails, 15 to 30 s after the close with the default heartbeat. All that
// time the stream counts as open and holds its per-address and per-user
// slot, so a user who reconnects at the limit is refused (issue 16, item 8).
//
// So on Linux a shard also keeps an epoll set of its direct clients'
// sockets (peerwatch_linux.go) and looks at it every peerCheckEvery with a
// zero timeout: no goroutine per stream, none per shard, and no thread
// parked in epoll_wait. A join costs one epoll_ctl, a removal another. Only
// the shard loop closes a client's conn, and it takes the socket out of the
// set first, so a descriptor the set reports is always the client's own.
//
// Elsewhere (peerwatch_other.go) the failed heartbeat write is still the
// only sign, and the watch does nothing.

// peerCheckEvery is how often the shard loop looks at its peer watch: well
// within the second in which a departure should free its slots, and cheap
// (one epoll_wait that returns at once) when nothing happened.
const peerCheckEvery = 250 * time.Millisecond

// peerEvents is how many sockets one look at the watch reports, and
// peerRounds how many looks one check makes at most, so that a mass
// departure (a network partition healing into resets) does not keep the
// loop from its mailbox for long: the rest is handled at the next check.
const (
	peerEvents = 128
	peerRounds = 16
)

// peerEvent is what the watch saw on a client's socket.
type peerEvent uint8

const (
	// peerClosed: the peer closed its end (FIN: EPOLLRDHUP) or the
	// connection broke (reset: EPOLLHUP, EPOLLERR).
	peerClosed peerEvent = iota + 1
	// peerSentData: bytes arrived. An SSE client has nothing to send after
	// its GET; see ReasonPeerSentData.
	peerSentData
)

// checkPeers removes the clients whose peers the watch reports gone
// (ReasonPeerClosed) or sending (ReasonPeerSentData). Run by the shard
// loop, never within a fanOut.
//
// Why a client that sends bytes is ended rather than read and ignored: the
// watch is level-triggered, so unread bytes would be reported at every
// look, and bytes no one reads fill the hub's receive buffer (1,000 such
// streams held 111 MB). Reading them on the loop would cost a read per
// chunk for as long as the client cares to send, for a stream that is not
// following the protocol anyway: an EventSource sends nothing after its
// request, and HTTP/1.1 lets no next request come before a response that
// never ends. Ending it frees the buffer at once, costs nothing to read,
// and the client, if it is a real one, reconnects and resumes with
// Last-Event-ID.
func (s *Shard) checkPeers() {
	for range peerRounds {
		n := s.peers.wait()
		for i := range n {
			if c, ev := s.peers.at(i); c != nil {
				s.peerGone(c, ev)
			}
		}
		if n < peerEvents {
			return
		}
	}
}

// peerGone ends c's stream for what its watch saw.
func (s *Shard) peerGone(c *client, ev peerEvent) {
	switch {
	case c.writer.dead():
		// Its writer failed already, and its leave is on the way: the loop
		// removes it for the reason the writer gave (see doc.go). It is
		// only taken out of the watch, which would report it at every look
		// meanwhile.
		s.peers.unwatch(c)
	case ev == peerSentData:
		s.remove(c, ReasonPeerSentData)
	default:
		s.remove(c, ReasonPeerClosed)
	}
}
