//go:build linux

package shard

import "golang.org/x/sys/unix"

// peerWatching: the shard watches its direct clients' sockets (see
// peerwatch.go), so the loop runs checkPeers.
const peerWatching = true

// peerWatch is a shard's epoll set of its direct clients' sockets, created
// at the first watch. Owned by the shard loop.
//
// The set is level-triggered for EPOLLIN and EPOLLRDHUP (EPOLLHUP and
// EPOLLERR come unasked): a socket stays reported until its client is
// removed, so a report the loop did not get to (peerRounds) comes again at
// the next check. It is the same socket Go's poller watches, in the
// runtime's own set, edge-triggered; the two do not interfere.
type peerWatch struct {
	epfd    int
	open    bool              // epfd is an epoll instance
	failed  bool              // epoll_create1 failed: heartbeat writes are the only sign
	clients map[int32]*client // the watched clients, by socket descriptor
	events  []unix.EpollEvent // epoll_wait's results, reused by every look
}

// watch adds c's socket to the set, if c has one. A client the set cannot
// take (epoll refused) is found out by its heartbeat writes, as without a
// watch.
func (w *peerWatch) watch(c *client) {
	if !c.direct || w.failed || !w.open && !w.start() {
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}
	if unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev) != nil {
		return
	}
	w.clients[int32(c.fd)] = c
	c.watched = true
}

// start creates the epoll instance.
func (w *peerWatch) start() bool {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		w.failed = true
		return false
	}
	w.epfd, w.open = epfd, true
	w.clients = make(map[int32]*client)
	w.events = make([]unix.EpollEvent, peerEvents)
	return true
}

// unwatch takes c's socket out of the set. The loop calls it before it
// closes c's conn: the descriptor then cannot be another socket's while it
// is in the set.
func (w *peerWatch) unwatch(c *client) {
	if !c.watched {
		return
	}
	c.watched = false
	delete(w.clients, int32(c.fd))
	// It cannot fail for a socket in the set that is still open; if it
	// did, closing the socket would take it out all the same.
	_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
}

// wait looks at the set without waiting and returns how many sockets it
// reports, at most peerEvents; at returns each. An interrupted or failed
// look reports none: the next check looks again.
func (w *peerWatch) wait() int {
	if !w.open {
		return 0
	}
	n, err := unix.EpollWait(w.epfd, w.events, 0)
	if err != nil {
		return 0
	}
	return n
}

// at returns the client of the i-th socket the last wait reported and what
// happened to it, or nil for a socket of no watched client, which it takes
// out of the set (it cannot be there: unwatch takes each out as its client
// goes).
func (w *peerWatch) at(i int) (*client, peerEvent) {
	ev := &w.events[i]
	c := w.clients[ev.Fd]
	if c == nil {
		_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
		return nil, 0
	}
	if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		return c, peerClosed
	}
	return c, peerSentData
}

// close releases the epoll instance, once every client is removed.
func (w *peerWatch) close() {
	if w.open {
		_ = unix.Close(w.epfd)
		w.open = false
		w.clients = nil
	}
}
