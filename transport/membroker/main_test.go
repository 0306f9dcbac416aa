package membroker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The embedded broker starts no goroutine; its tests' publishers and
// subscribers must be gone when they end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
