package frontdoor

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: the lingering closes and the
// readers the tests start end with their connections.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
