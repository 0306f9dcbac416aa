//go:build unix

package shard

import (
	"syscall"

	"golang.org/x/sys/unix"
)

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

// peerBehind reports whether c's peer is not taking what it is sent: its
// socket is not writable, the kernel's buffer for it being full. A full
// client queue with a writable socket means the hub, not the peer, is
// short of time: the client's flusher is waiting for a CPU. Conns with no
// socket of their own count as behind.
func (c *client) peerBehind() bool {
	if !c.direct {
		return true
	}
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err != nil || n == 0 || fds[0].Revents&unix.POLLOUT == 0
}
