//go:build !unix

package redistest

import "testing"

// Pause skips the test: stopping a process needs Unix signals.
func (s *Server) Pause(t testing.TB) (resume func()) {
	t.Helper()
	t.Skip("pausing redis-server needs SIGSTOP")
	return func() {}
}
