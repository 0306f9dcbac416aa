// Package sockopt sets socket options on every system, through the
// descriptors that syscall.RawConn.Control passes as uintptr: the syscall
// package takes them as an int on Unix and as a Handle on Windows, so the
// same call does not compile on both.
package sockopt

import (
	"errors"
	"syscall"
)

// RecvBuffer returns a net.Dialer Control function that sets the
// socket's receive buffer (SO_RCVBUF) to n bytes before it connects. A
// small one makes a client that stops reading fill up soon.
func RecvBuffer(n int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = setsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		})
		return errors.Join(err, serr)
	}
}
