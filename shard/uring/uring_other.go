//go:build !linux

package uring

// Ring would be an io_uring, which only Linux has: New returns
// ErrUnsupported, and Ring and its methods are only here so that callers
// build on every system. The methods do nothing.
type Ring struct{}

// New returns ErrUnsupported.
func New(entries uint32) (*Ring, error) { return nil, ErrUnsupported }

// Register returns ErrUnsupported.
func (r *Ring) Register(fd int) error { return ErrUnsupported }

// Unregister returns nil: no descriptor is registered.
func (r *Ring) Unregister(fd int) error { return nil }

// Close returns nil.
func (r *Ring) Close() error { return nil }

// Cap returns 0: a batch holds no send.
func (r *Ring) Cap() int { return 0 }

// Send queues nothing and reports false.
func (r *Ring) Send(fd int, p []byte, tag uint64) bool { return false }

// Submit returns ErrUnsupported.
func (r *Ring) Submit() ([]Completion, error) { return nil, ErrUnsupported }
