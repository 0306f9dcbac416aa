//go:build !linux

package childproc

import "syscall"

// SysProcAttr returns nil, the default attributes: off Linux there is no
// parent-death signal, and a child outlives a parent that dies without
// stopping it.
func SysProcAttr() *syscall.SysProcAttr { return nil }
