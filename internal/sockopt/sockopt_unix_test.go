//go:build unix

package sockopt

import (
	"net"
	"syscall"
	"testing"
)

// TestRecvBuffer: a connection dialled with a small RecvBuffer has a
// smaller receive buffer than one dialled with a large one. Only roughly:
// Linux doubles what it is asked for, for its bookkeeping, and caps it at
// net.core.rmem_max. Unix only, for syscall.GetsockoptInt.
func TestRecvBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var small, big int
	for _, n := range []int{4096, 1 << 20} {
		d := net.Dialer{Control: RecvBuffer(n)}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		var gerr error
		if err := raw.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if n == 4096 {
			small = got
		} else {
			big = got
		}
	}
	if small >= big {
		t.Errorf("receive buffer %d for 4 KiB, %d for 1 MiB: RecvBuffer set nothing", small, big)
	}
}
