package bench

import (
	"fmt"
	"syscall"
	"time"
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

// MaxGeneratorStreams is the most streams one load-generator process
// opens. The open-file hard limit here is 20000 and cannot be raised
// (docs/platform-notes.md#machine-limits); the rest is headroom for the
// generator's other descriptors and for sockets still closing.
const MaxGeneratorStreams = 15000

// DefaultConcurrency is how many streams each worker has connecting at
// once when Config.Concurrency is 0. The machine's listen backlog
// (somaxconn) is 4096 and tcp_max_syn_backlog 2048
// (docs/platform-notes.md#machine-limits): a few hundred in flight ramp up
// fast without overflowing them into SYN retransmits.
const DefaultConcurrency = 200

// HandshakeTimeout bounds connecting one stream: the dial, the request and
// the response head.
const HandshakeTimeout = 10 * time.Second
