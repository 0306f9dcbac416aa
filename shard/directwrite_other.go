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
