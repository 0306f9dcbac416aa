package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/ssehub/ssehub/internal/childproc"
)

// workerRoleEnv is set in a worker process's environment: a program that
// calls MaybeRunWorker first thing becomes a worker when started with it.
// The coordinator starts workers by running its own executable again, so
// the bench is one binary, and a test binary can be a worker too.
const workerRoleEnv = "SSEHUB_BENCH_ROLE=worker"

// MaybeRunWorker runs this process as a load-generator worker and exits
// if it was started as one by StartWorker; otherwise it returns at once.
// Call it at the top of main (and of TestMain in tests that start
// workers).
func MaybeRunWorker() {
	if os.Getenv("SSEHUB_BENCH_ROLE") != "worker" {
		return
	}
	if err := RunWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// WorkerProcess is a running load-generator worker: a child process
// holding some of a run's streams, driven over its stdin and stdout.
type WorkerProcess struct {
	// Spec is what it was started with.
	Spec WorkerSpec
	// PID is its process id.
	PID int

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *logWatcher

	mu      sync.Mutex // serializes commands: one in flight at a time
	replies *bufio.Scanner
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // written before exited is closed
}

// StartWorker starts a worker process running spec, with GOMAXPROCS procs
// if positive. The worker is killed if this process dies, like the hubs.
func StartWorker(spec WorkerSpec, procs int) (*WorkerProcess, error) {
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), workerRoleEnv)
	if procs > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", procs))
	}
	cmd.SysProcAttr = childproc.SysProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	w := &WorkerProcess{Spec: spec, cmd: cmd, stdin: stdin, stderr: newLogWatcher(nil), exited: make(chan struct{})}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w.PID = cmd.Process.Pid
	w.replies = bufio.NewScanner(stdout)
	w.replies.Buffer(make([]byte, 64<<10), 64<<20)
	go func() {
		w.waitErr = cmd.Wait()
		close(w.exited)
	}()
	if err := json.NewEncoder(stdin).Encode(spec); err != nil {
		w.Kill()
		return nil, fmt.Errorf("start worker: send spec: %w", err)
	}
	return w, nil
}

// Name is the worker's name in reports.
func (w *WorkerProcess) Name() string { return fmt.Sprintf("worker-%d", w.Spec.ID) }

// call sends cmd and decodes the reply into reply.
func (w *WorkerProcess) call(cmd workerCommand, reply any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := json.NewEncoder(w.stdin).Encode(cmd); err != nil {
		return fmt.Errorf("%s %s: %w%s", w.Name(), cmd.Op, err, w.logTail())
	}
	if !w.replies.Scan() {
		err := w.replies.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%s %s: no reply: %w%s", w.Name(), cmd.Op, err, w.logTail())
	}
	if err := json.Unmarshal(w.replies.Bytes(), reply); err != nil {
		return fmt.Errorf("%s %s: bad reply: %w", w.Name(), cmd.Op, err)
	}
	return nil
}

func (w *WorkerProcess) logTail() string {
	if t := w.stderr.tail(); t != "" {
		return "; worker log:\n" + t
	}
	return ""
}

// Sample asks for the worker's counters and the latencies since the last
// sample.
func (w *WorkerProcess) Sample() (WorkerSample, error) {
	var s WorkerSample
	return s, w.call(workerCommand{Op: "sample"}, &s)
}

// Stall tells the worker's stall candidates to stop reading.
func (w *WorkerProcess) Stall() error {
	var ack struct{}
	return w.call(workerCommand{Op: "stall"}, &ack)
}

// Check waits up to wait for the worker's streams to have every event up
// to final and reports what they lack or have extra.
func (w *WorkerProcess) Check(final map[string]uint64, wait time.Duration) (WorkerCheck, error) {
	var c WorkerCheck
	return c, w.call(workerCommand{Op: "check", Final: final, Wait: wait}, &c)
}

// Evictions lets the stalled streams read again and counts those the
// server had closed, waiting up to wait for them.
func (w *WorkerProcess) Evictions(wait time.Duration) (WorkerEvictions, error) {
	var e WorkerEvictions
	return e, w.call(workerCommand{Op: "evictions", Wait: wait}, &e)
}

// Stop closes the worker's stdin, which makes it close its streams and
// exit, and waits for that up to ctx, then kills it.
func (w *WorkerProcess) Stop(ctx context.Context) error {
	_ = w.stdin.Close()
	select {
	case <-w.exited:
		if w.waitErr != nil {
			return fmt.Errorf("%s: %w%s", w.Name(), w.waitErr, w.logTail())
		}
		return nil
	case <-ctx.Done():
		w.Kill()
		return fmt.Errorf("%s: killed, no exit after stdin closed: %w", w.Name(), ctx.Err())
	}
}

// Kill ends the worker at once.
func (w *WorkerProcess) Kill() {
	_ = w.cmd.Process.Kill()
	<-w.exited
}

// splitStreams divides n streams into workers of at most
// MaxGeneratorStreams each, as evenly as possible, returning each
// worker's first index and count.
func splitStreams(n, workers int) (first, count []int, err error) {
	if workers <= 0 {
		workers = (n + MaxGeneratorStreams - 1) / MaxGeneratorStreams
	}
	if n <= 0 {
		return nil, nil, errors.New("bench: no streams")
	}
	workers = min(workers, n)
	if (n+workers-1)/workers > MaxGeneratorStreams {
		return nil, nil, fmt.Errorf("bench: %d streams need at least %d workers of %d", n, (n+MaxGeneratorStreams-1)/MaxGeneratorStreams, MaxGeneratorStreams)
	}
	at := 0
	for k := range workers {
		c := n / workers
		if k < n%workers {
			c++
		}
		first, count = append(first, at), append(count, c)
		at += c
	}
	return first, count, nil
}

// sourceFor is the loopback source address of worker k: 127.0.0.2,
// 127.0.0.3, ... up to 127.0.0.9, then round again (docs/platform-notes.md#machine-limits).
func sourceFor(k int) string {
	return fmt.Sprintf("127.0.0.%d", 2+k%8)
}
