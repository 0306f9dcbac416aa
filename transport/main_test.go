package transport_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The conformance tests start subscribers on both brokers; each must leave
// no goroutine behind once closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
