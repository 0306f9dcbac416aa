//go:build unix

package redistest

import (
	"sync"
	"syscall"
	"testing"
)

// Pause stops the redis-server process (SIGSTOP), as a stalled Redis
// would be: connections stay open and nothing answers. It returns the
// function that resumes it (SIGCONT); the test resumes it at its end in
// any case.
func (s *Server) Pause(t testing.TB) (resume func()) {
	t.Helper()
	pid := s.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP redis-server: %v", err)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT redis-server: %v", err)
			}
		})
	}
	t.Cleanup(resume)
	return resume
}
