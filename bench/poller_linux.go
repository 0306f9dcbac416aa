package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// A poller reads the sockets of many streams from one goroutine, through
// an epoll instance of its own.
//
// Why not a goroutine per stream blocked in the Go netpoller, as the
// first version did: each event then cost a goroutine wake-up, a read, a
// second read to see EAGAIN, and locks shared by every stream. On this
// two-core machine the generator competes with the hubs it measures, so
// its CPU per delivery is latency the hubs are charged with. A poller
// wakes once for every batch of ready sockets and reads each once:
// level-triggered readiness reports a socket again if the read left
// something, the end of the stream included.
//
// The poller does not block in epoll_wait: it waits for its epoll
// instance to become readable in the Go runtime's netpoller, like any
// socket, then collects the ready events without waiting. A goroutine
// blocked in a system call keeps its P until the runtime notices, and
// there is one poller per P. With pollers blocking in epoll_wait, the
// streams of a 30k-stream resume storm started dialing up to 1.6 s after
// their retry time; with pollers in the netpoller (and the faster dial of
// stream.dial), at most 0.54 s after.
//
// The poller goroutine owns its buffer and the epoll wait; everything it
// touches on a stream it touches under the stream's mu.
type poller struct {
	epfd    int
	file    *os.File        // epfd, for the netpoller; Close stops run
	raw     syscall.RawConn // file's
	streams []*stream       // the worker's, indexed by stream key
	buf     []byte          // read buffer; owned by the poller goroutine
}

func newPoller(streams []*stream) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("bench worker: epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile hands it to the netpoller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("bench worker: epoll fd: %w", err)
	}
	p := &poller{epfd: epfd, file: os.NewFile(uintptr(epfd), "epoll"), streams: streams, buf: make([]byte, 64<<10)}
	if p.raw, err = p.file.SyscallConn(); err != nil {
		p.file.Close()
		return nil, fmt.Errorf("bench worker: epoll fd: %w", err)
	}
	return p, nil
}

// add starts watching fd, stream key's connection. The epoll data holds
// both, so an event for an fd the stream no longer has (closed, and the
// number reused) is recognised and dropped.
func (p *poller) add(fd, key int) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(key), Pad: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("bench worker: epoll_ctl add: %w", err)
	}
	return nil
}

// remove stops watching fd without closing it.
func (p *poller) remove(fd int) {
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// run reads ready sockets until close. Closing a stream's fd removes it
// from the epoll set by itself.
func (p *poller) run() error {
	events := make([]syscall.EpollEvent, 512)
	for {
		var n int
		var werr error
		err := p.raw.Read(func(fd uintptr) bool {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			return n > 0 || werr != nil && werr != syscall.EINTR // else wait for readiness
		})
		switch {
		case errors.Is(err, os.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("bench worker: wait for epoll: %w", err)
		case werr != nil:
			return fmt.Errorf("bench worker: epoll_wait: %w", werr)
		}
		for _, ev := range events[:n] {
			p.streams[ev.Fd].readable(p, int(ev.Pad))
		}
	}
}

// close makes run return and closes the epoll instance.
func (p *poller) close() { p.file.Close() }

// A stream's connection is a descriptor of its own, detached from the Go
// runtime's netpoller, for a poller to read; what follows makes, reads
// and closes one.

// dialControl returns the net.Dialer Control function of a stream: it
// sets the socket's options before it connects, and a receive buffer
// (SO_RCVBUF) of recvBuffer bytes if positive.
func dialControl(recvBuffer int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			// Binding the source address would pick a port there and
			// then, unique to that address: with thousands of ports in
			// use and more in TIME_WAIT, a storm of reconnects spent
			// about a second per dial in that search. This defers the
			// port to connect, which only needs the whole 4-tuple free.
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			if serr == nil && recvBuffer > 0 {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, recvBuffer)
			}
		})
		return errors.Join(err, serr)
	}
}

// detach returns a duplicate of conn's descriptor, which outlives conn's
// Close. It shares the socket's non-blocking mode.
func detach(conn *net.TCPConn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(orig uintptr) {
		fd, derr = syscall.Dup(int(orig))
		if derr == nil {
			syscall.CloseOnExec(fd)
		}
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("bench worker: dup: %w", derr)
	}
	return fd, nil
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h), which the
// syscall package lacks.
const ipBindAddressNoPort = 24

// readFD reads from a stream's connection into p.
func readFD(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }

// closeFD closes a stream's connection, which closing also removes from
// any epoll set.
func closeFD(fd int) { syscall.Close(fd) }
