//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises this process's soft RLIMIT_NOFILE to the hard limit
// and returns the new soft limit. Each stream is one descriptor, so the soft
// limit bounds how many streams one generator, and one hub, can hold.
//
// The Go runtime already raises its own soft limit at start-up, but it
// restores the original for the processes it starts unless the program has
// called syscall.Setrlimit itself (syscall/rlimit.go). Calling this before
// StartHub is what makes the hub, which does not raise its limit through
// exec, inherit the raised one. StartHub, StartWorker and RunWorker call
// it.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit nofile: %w", err)
	}
	// Set even when Cur == Max: the call itself is what stops os/exec
	// from lowering the child's limit again.
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit nofile=%d: %w", lim.Max, err)
	}
	return lim.Cur, nil
}
