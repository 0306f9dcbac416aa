// Package uring sends one frame to many sockets with one system call,
// through a minimal Linux io_uring.
//
// A shard's fan-out writes the same small frame to thousands of sockets.
// With one write(2) each, the system call itself, and looking up the file
// behind the descriptor, are a large part of a delivery's cost; an
// io_uring submits a whole batch of sends in one io_uring_enter(2). On
// this project's 2-core VM that cut the CPU per send by a fifth to a third
// (BENCHMARKS.md, "Writes through io_uring").
//
// Only what the shard needs is here: writes to non-blocking descriptors,
// submitted and reaped as one batch, from one goroutine at a time, and a
// table of registered descriptors, which saves the kernel looking up the
// file behind a descriptor, and taking and dropping a reference to it, on
// every send. It needs Linux 5.6 (IORING_OP_WRITE and IORING_OP_SEND) and
// uses two set-up flags of 5.18 and 5.19 where the kernel has them. An
// older kernel, or a sandbox without io_uring (seccomp,
// kernel.io_uring_disabled), makes New fail, and the caller falls back to
// write(2).
//
// Other systems have no io_uring. The package builds there, with the same
// API, so that its callers do, but New always returns [ErrUnsupported].
package uring

import (
	"errors"
	"syscall"
)

// ErrUnsupported is New's error on systems other than Linux. Like any
// error of New, it tells the caller to write(2) instead.
var ErrUnsupported = errors.New("uring: io_uring is only available on Linux")

// Completion is the result of one send: Tag as given to Send, and Res,
// the bytes sent or a negated errno (-EAGAIN: the socket's buffer was
// full).
type Completion struct {
	Tag uint64
	Res int32
}

// Err returns c's error, or nil if it sent something.
func (c Completion) Err() error {
	if c.Res >= 0 {
		return nil
	}
	return syscall.Errno(-c.Res)
}
