package auth

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: a RemoteJWKS's refresh
// goroutine and its HTTP connections end on Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
