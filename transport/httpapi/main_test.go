package httpapi_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: the hub, its shards, stream
// writers and the server all stop on Shutdown.
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
