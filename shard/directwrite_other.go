//go:build !unix

package shard

// Off Unix the shard loop does not write to sockets itself: a descriptor
// there (a Windows handle) is not one write(2) takes. No client is direct,
// so every write goes through a flusher, by Conn.Write.

// directWrites: the shard loop writes to the sockets of conns that have
// one (see client.direct).
const directWrites = false

// directFD reports that conn has no socket the loop can write to.
func directFD(Conn) (fd int, ok bool) { return 0, false }

// tryWrite is never called: it is only for direct clients.
func (*client) tryWrite([]byte) (int, error) {
	panic("shard: direct write on a system without direct writes")
}

// wouldBlock reports false: there are no non-blocking writes to read.
func wouldBlock(error) bool { return false }

// peerBehind reports true: with no socket to look at, a client with a full
// queue among few that are behind is taken to be the slow one, whether its
// peer or its flusher is late.
func (*client) peerBehind() bool { return true }
