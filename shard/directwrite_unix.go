//go:build unix

package shard

import "syscall"

// directWrites: the shard loop writes to the sockets of conns that have
// one (see client.direct).
const directWrites = true

// directFD returns the descriptor of conn's socket, for the shard loop's
// non-blocking writes, and whether it has one.
func directFD(conn Conn) (fd int, ok bool) {
	sc, isSyscallConn := conn.(syscall.Conn)
	if !isSyscallConn {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	_ = raw.Control(func(s uintptr) { fd, ok = int(s), true })
	return fd, ok
}

// tryWrite makes one non-blocking write of p straight to the socket,
// bypassing the runtime poller, which would park the caller when the
// socket is full. It returns how much of p the socket took, and
// errWouldBlock, with n < len(p), if that was not all (or the write was
// interrupted): a flusher writes the rest. Any other error means the
// stream is broken.
func (c *client) tryWrite(p []byte) (n int, err error) {
	n, err = syscall.Write(c.fd, p)
	return nonBlockingResult(n, err, len(p))
}

// wouldBlock reports whether a non-blocking write's error means only that
// the socket took less than all now: its buffer was full, or a signal
// came.
func wouldBlock(err error) bool {
	return err == syscall.EAGAIN || err == syscall.EINTR
}
