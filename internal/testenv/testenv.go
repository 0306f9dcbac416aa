// Package testenv has what ssehub's tests share about their environment:
// the system components a test needs, and waiting for a condition with a
// deadline.
package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Timeout is how long WaitFor waits. It is generous: the race detector and
// a loaded 2-core CI machine slow everything down, and a wait that passes
// returns as soon as its condition holds.
const Timeout = 10 * time.Second

// WaitFor polls cond until it holds, failing t with what was awaited if it
// does not within Timeout. It must be called from the test's goroutine.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(Timeout); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Timeout, what)
		}
	}
}

// inCI reports whether the tests run in CI (CI=true), where every system
// component a test needs has been installed, so a missing one is a failure.
func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Require returns the path of name, or else of the first of alternatives,
// found on the PATH or as an absolute path. If none is there it ends t:
// with a failure under CI, where .ci/deps installed everything, and with a
// skip elsewhere, so that a developer without, say, chromium can still run
// the rest. Both say how to install it, with the command install
// (docs/contributing.md#rule-15). Like t.Fatal, it must be called from the
// test's goroutine.
func Require(t testing.TB, install, name string, alternatives ...string) string {
	t.Helper()
	for _, n := range append([]string{name}, alternatives...) {
		if path, err := exec.LookPath(n); err == nil {
			return path
		}
	}
	msg := name + " not found; install it with: " + install
	if inCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Recv returns the next value received from ch, failing t with what was
// awaited if none comes within Timeout. A closed channel yields its zero
// value, as a receive does. It must be called from the test's goroutine.
func Recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v waiting for %s", Timeout, what)
		var zero T
		return zero
	}
}

// WaitAll waits for wg, failing t with what was awaited if it is not done
// within Timeout. It must be called from the test's goroutine.
func WaitAll(t testing.TB, what string, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	Recv(t, what, done)
}

// Buffer collects what several goroutines write, such as a logger's or a
// child process's output, for a test to read. The zero Buffer is ready.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer. Safe to call from any goroutine.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
