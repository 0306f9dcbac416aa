// Package childproc starts child processes that do not outlive their
// parent, where the system allows it: a benchmark or a test interrupted
// without running its clean-ups (a -timeout panic, a SIGKILL) then leaves
// no hub, worker or redis-server behind.
package childproc
