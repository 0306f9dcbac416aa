package frontdoor

import (
	"sync"
)

// streamLimiter counts open streams per client IP and per user, so one
// address or one account cannot take all of a process's file descriptors.
// Safe for concurrent use; release runs on a shard loop and is quick.
type streamLimiter struct {
	perIP, perUser int // zero means unlimited

	mu    sync.Mutex
	ips   map[string]int
	users map[string]int
}

func newStreamLimiter(perIP, perUser int) *streamLimiter {
	return &streamLimiter{perIP: perIP, perUser: perUser, ips: make(map[string]int), users: make(map[string]int)}
}

// acquire reserves a stream for ip and user (empty for anonymous). It
// returns the limit that refused it ("ip" or "user"), or "" and a release
// function to call exactly once when the stream ends.
func (l *streamLimiter) acquire(ip, user string) (refused string, release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.perIP > 0 && l.ips[ip] >= l.perIP:
		return "ip", nil
	case user != "" && l.perUser > 0 && l.users[user] >= l.perUser:
		return "user", nil
	}
	l.ips[ip]++
	if user != "" {
		l.users[user]++
	}
	return "", func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		decrement(l.ips, ip)
		if user != "" {
			decrement(l.users, user)
		}
	}
}

// decrement lowers m[k], deleting it at zero so the map does not keep every
// address ever seen.
func decrement(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}
