//go:build linux

package redistest

import "syscall"

// sysProcAttr makes the kernel SIGKILL the server if the test binary dies
// without running its cleanups (a -timeout panic, a SIGKILL), so no
// redis-server outlives its test. The kernel ties the signal to the OS
// thread that started the child, and Go ends a thread only when a goroutine
// locked to it (runtime.LockOSThread) exits without unlocking, which
// ssehub's tests do not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
