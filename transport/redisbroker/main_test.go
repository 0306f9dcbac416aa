package redisbroker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every subscriber's goroutines (receive loop, command sender) must be
// gone once it is closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
