package bench

import (
	"errors"
	"fmt"
	"sync/atomic"
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
// The poller goroutine owns its buffer and the epoll wait; everything it
// touches on a stream it touches under the stream's mu.
type poller struct {
	epfd    int
	streams []*stream // the worker's, indexed by stream key
	buf     []byte    // read buffer; owned by the poller goroutine
	stop    atomic.Bool
}

// pollWaitMillis bounds one epoll wait, so the poller notices stop.
const pollWaitMillis = 100

func newPoller(streams []*stream) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("bench worker: epoll_create1: %w", err)
	}
	return &poller{epfd: epfd, streams: streams, buf: make([]byte, 64<<10)}, nil
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

// run reads ready sockets until stop is set, then closes the epoll
// instance. Closing a stream's fd removes it from the epoll set by
// itself.
func (p *poller) run() error {
	defer syscall.Close(p.epfd)
	events := make([]syscall.EpollEvent, 512)
	for !p.stop.Load() {
		n, err := syscall.EpollWait(p.epfd, events, pollWaitMillis)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("bench worker: epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			p.streams[ev.Fd].readable(p, int(ev.Pad))
		}
	}
	return nil
}
