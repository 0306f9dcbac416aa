package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const install = "apt-get install -y thing"

// fakeTB records how Require ends a test. Ending it panics with endTest,
// as the real methods end the test's goroutine, so nothing after the
// call runs.
type fakeTB struct {
	testing.TB  // nil: any other method panics
	fatal, skip string
}

// endTest is the panic value with which fakeTB ends a test.
type endTest struct{}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatal(args ...any) {
	f.fatal = fmt.Sprint(args...)
	panic(endTest{})
}

func (f *fakeTB) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }

func (f *fakeTB) Skip(args ...any) {
	f.skip = fmt.Sprint(args...)
	panic(endTest{})
}

func (f *fakeTB) Skipf(format string, args ...any) { f.Skip(fmt.Sprintf(format, args...)) }

// require calls Require with f and reports whether it ended the test.
func require(f *fakeTB, name string, alternatives ...string) (path string, ended bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(endTest); !ok {
				panic(r)
			}
			ended = true
		}
	}()
	return Require(f, install, name, alternatives...), false
}

func TestRequireMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{
		{ci: "true", wantFatal: true},
		{ci: "1", wantFatal: true},
		{ci: "", wantFatal: false},
		{ci: "false", wantFatal: false},
		{ci: "yes", wantFatal: false}, // not a boolean: not CI
	} {
		t.Setenv("CI", tc.ci)
		f := &fakeTB{}
		path, ended := require(f, "thing", "thing-ng")
		got, other := f.skip, f.fatal
		if tc.wantFatal {
			got, other = f.fatal, f.skip
		}
		if !ended || other != "" || !strings.Contains(got, "thing") || !strings.Contains(got, install) {
			t.Errorf("CI=%q: Require = %q, ended %v, fatal %q, skip %q; want the test ended with a %s naming thing and %q",
				tc.ci, path, ended, f.fatal, f.skip, map[bool]string{true: "failure", false: "skip"}[tc.wantFatal], install)
		}
	}
}

func TestRequireFound(t *testing.T) {
	t.Setenv("CI", "true")
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	onPath := filepath.Join(dir, "thing")
	elsewhere := filepath.Join(t.TempDir(), "thing-ng")
	for _, p := range []string{onPath, elsewhere} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"thing"}, onPath},
		{[]string{"missing", "thing"}, onPath},                     // the first found
		{[]string{"thing", elsewhere}, onPath},                     // in order
		{[]string{"thing-ng", elsewhere}, elsewhere},               // by absolute path, off the PATH
		{[]string{filepath.Join(dir, "missing"), "thing"}, onPath}, // an absolute path that is not there
	} {
		f := &fakeTB{}
		if path, ended := require(f, tc.names[0], tc.names[1:]...); ended || path != tc.want {
			t.Errorf("Require(%q) = %q, ended %v (fatal %q, skip %q); want %q", tc.names, path, ended, f.fatal, f.skip, tc.want)
		}
	}
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Recv(t, "a value", ch); got != 7 {
		t.Errorf("Recv = %d, want 7", got)
	}
	close(ch)
	if got := Recv(t, "the end", ch); got != 0 {
		t.Errorf("Recv of a closed channel = %d, want 0", got)
	}
}

func TestWaitAll(t *testing.T) {
	var wg sync.WaitGroup
	var done atomic.Int32
	for range 3 {
		wg.Go(func() { done.Add(1) })
	}
	WaitAll(t, "three goroutines", &wg)
	if n := done.Load(); n != 3 {
		t.Errorf("after WaitAll %d of 3 goroutines done", n)
	}
}
