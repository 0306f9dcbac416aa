package shard

import (
	"testing"

	"github.com/ssehub/ssehub/hub/hubtest"
)

// waitFlushers waits for s's flushers to exit.
func waitFlushers(t testing.TB, s *Shard) {
	t.Helper()
	done := make(chan struct{})
	go func() { s.flushers.Wait(); close(done) }()
	hubtest.WaitFor(t, "the flushers to exit", hubtest.Closed(done))
}
