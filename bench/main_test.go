package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The end-to-end tests' workers are this test binary run again
	// (StartWorker): there MaybeRunWorker runs the worker and exits.
	MaybeRunWorker()
	if len(os.Args) > 1 && os.Args[1] == "ref-server" {
		// Run(ServerNetHTTP) would start this binary as the reference
		// server, and it would run every test again instead: the tests
		// run the reference server through the ssehub-bench binary.
		fmt.Fprintln(os.Stderr, "bench test binary: no ref-server here; use the ssehub-bench binary (benchBinary)")
		os.Exit(2)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
		os.Exit(code)
	}))
}

// binDir holds the binaries the end-to-end tests build, once per test
// binary; TestMain removes it.
var (
	binDirOnce sync.Once
	binDir     string
	binDirErr  error
)

func binaryDir() (string, error) {
	binDirOnce.Do(func() { binDir, binDirErr = os.MkdirTemp("", "bench-test-") })
	return binDir, binDirErr
}

// buildOnce returns a function that builds a binary with build on first
// call and returns its path, or the error, on every call.
func buildOnce(build func(ctx context.Context, dir string) (string, error)) func(t *testing.T) string {
	once := sync.OnceValues(func() (string, error) {
		dir, err := binaryDir()
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		return build(ctx, dir)
	})
	return func(t *testing.T) string {
		t.Helper()
		bin, err := once()
		if err != nil {
			t.Fatal(err)
		}
		return bin
	}
}

// hubBinary is ssehub built from this tree.
var hubBinary = buildOnce(BuildHub)

// benchBinary is ssehub-bench built from this tree: the compare scenario
// runs the reference server as "<its own executable> ref-server", which
// only the command serves.
var benchBinary = buildOnce(func(ctx context.Context, dir string) (string, error) {
	const pkg = "github.com/ssehub/ssehub/cmd/ssehub-bench"
	bin := filepath.Join(dir, "ssehub-bench")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
})

// startE2E begins an end-to-end test that runs real processes, in
// parallel with the others: it skips t where they cannot run (not Linux,
// or -short) and returns a context that bounds the test.
func startE2E(t *testing.T) context.Context {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc and Linux sockets")
	}
	if testing.Short() {
		t.Skip("-short: skipping an end-to-end run of real hub and worker processes")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer collects what processes and the runner log, for a failing
// test to show. Writes come from exec's copying goroutines.
type logBuffer struct{ testenv.Buffer }

// showOnFailure logs the buffer's last lines at the end of t if it failed.
func (l *logBuffer) showOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		lines := strings.Split(l.String(), "\n")
		t.Logf("log (last lines):\n%s", strings.Join(lines[max(len(lines)-60, 0):], "\n"))
	})
}
