package childproc

import "syscall"

// SysProcAttr returns the attributes to start a child with (as
// exec.Cmd.SysProcAttr) so that the kernel SIGKILLs it when its parent
// dies. Each call returns a new value.
//
// The kernel ties the signal to the OS thread that started the child, not
// to the process: the child is killed when that thread ends. Go ends a
// thread only when a goroutine locked to it (runtime.LockOSThread) exits
// without unlocking, which this project does not do, so in practice the
// child dies with the process.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
