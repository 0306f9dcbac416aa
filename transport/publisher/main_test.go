package publisher_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The client starts no goroutine of its own, and its waits between
// retries are timers, not goroutines; what its HTTP connections start,
// CloseIdleConnections ends. The hubs the tests publish to stop on
// Shutdown. Nothing may be left behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's worker-pool cleaner notices a stopped pool only after
		// its current sleep (MaxIdleWorkerDuration, 10s); it then returns.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// fasthttp keeps one process-wide goroutine refreshing the Date
		// header, started once on first use.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}
