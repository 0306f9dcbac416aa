package mercure_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The door's tests run real hubs and servers: every goroutine must be
// gone when they end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's worker-pool cleaner and Date refresher, as in
		// transport/httpapi.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}
