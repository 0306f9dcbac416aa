//go:build !linux

package bench

import (
	"errors"
	"net"
	"syscall"
)

// errNeedsLinux is why a worker fails off Linux.
var errNeedsLinux = errors.New("bench worker: the load generator needs Linux: it reads its streams through epoll")

// poller, and the descriptor functions below, are Linux's
// (poller_linux.go). Elsewhere newPoller fails, so newWorker, and with it
// RunWorker, fails before any stream dials: the rest is never called, and
// only keeps the package, and cmd/ssehub-bench with it, building.
//
// Why not a portable poller, a goroutine per stream reading through the
// standard library: a stream's connection is a raw descriptor, read with
// read(2), closed with close(2) and duplicated with dup(2) (worker.go),
// which Windows does not have; moving the worker to net.Conn would
// change the Linux generator, whose CPU per delivery BENCHMARKS.md
// measures.
type poller struct {
	buf []byte // for stream.readable, which never runs here
}

func newPoller([]*stream) (*poller, error) { return nil, errNeedsLinux }

func (p *poller) add(fd, key int) error { return errNeedsLinux }

func (p *poller) remove(fd int) {}

func (p *poller) run() error { return errNeedsLinux }

func (p *poller) close() {}

func dialControl(recvBuffer int) func(network, address string, c syscall.RawConn) error {
	return nil
}

func detach(conn *net.TCPConn) (int, error) { return -1, errNeedsLinux }

func readFD(fd int, p []byte) (int, error) { return 0, errNeedsLinux }

func closeFD(fd int) {}
