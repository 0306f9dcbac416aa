//go:build !windows

package sockopt

import "syscall"

// setsockoptInt is syscall.SetsockoptInt for a descriptor as
// syscall.RawConn.Control passes it.
func setsockoptInt(fd uintptr, level, opt, value int) error {
	return syscall.SetsockoptInt(int(fd), level, opt, value)
}
