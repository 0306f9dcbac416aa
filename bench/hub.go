package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ssehub/ssehub/internal/childproc"
)

// HubPackage is the import path of the ssehub command, built by BuildHub.
const HubPackage = "github.com/ssehub/ssehub/cmd/ssehub"

// BuildHub compiles the ssehub command into dir and returns the binary's
// path. It runs `go build`, so the working directory must be inside the
// ssehub module.
func BuildHub(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "ssehub")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, HubPackage).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", HubPackage, err, out)
	}
	return bin, nil
}

// HubOptions says how to start an ssehub process.
type HubOptions struct {
	// Binary is the path of the ssehub executable (see BuildHub).
	Binary string
	// Subcommand comes first on the command line, before the flags; the
	// bench's reference server runs as "ssehub-bench ref-server".
	Subcommand []string
	// Args follow "--listen 127.0.0.1:0 --log-level info"; a flag repeated
	// here wins. The log level must leave info on: the bound address is
	// read from the "ssehub listening" line.
	Args []string
	// Env is added to this process's environment for the hub, such as
	// "GODEBUG=gctrace=1"; for a repeated variable the last entry wins.
	Env []string
	// Log, if not nil, receives a copy of the hub's stderr (its log).
	Log io.Writer
	// ReadyTimeout bounds waiting for the address and a 200 from /readyz.
	// Zero means 10s.
	ReadyTimeout time.Duration
}

// HubProcess is a running ssehub child process. Stop it with Stop.
type HubProcess struct {
	// Addr is the host:port the hub serves HTTP on.
	Addr string
	// PID is the hub's process id.
	PID int

	cmd    *exec.Cmd
	log    *logWatcher
	exited chan struct{} // closed once cmd.Wait has returned
	// waitErr is cmd.Wait's result, written before exited is closed.
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// StartHub starts the hub, waits until it listens and answers /readyz with
// 200, and returns it. On Linux the hub is killed if this process dies
// (package internal/childproc), so an interrupted benchmark leaves nothing
// behind.
func StartHub(ctx context.Context, opts HubOptions) (*HubProcess, error) {
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	args := append(append(opts.Subcommand[:len(opts.Subcommand):len(opts.Subcommand)],
		"--listen", "127.0.0.1:0", "--log-level", "info"), opts.Args...)
	cmd := exec.Command(opts.Binary, args...)
	cmd.Env = append(os.Environ(), opts.Env...)
	lw := newLogWatcher(opts.Log)
	cmd.Stderr = lw // exec copies in a goroutine that Wait waits for
	cmd.SysProcAttr = childproc.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hub %s: %w", opts.Binary, err)
	}
	h := &HubProcess{PID: cmd.Process.Pid, cmd: cmd, log: lw, exited: make(chan struct{})}
	go func() {
		h.waitErr = cmd.Wait()
		close(h.exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if err := h.awaitReady(ctx); err != nil {
		_ = cmd.Process.Kill()
		<-h.exited
		return nil, fmt.Errorf("start hub %s: %w; hub log tail:\n%s", opts.Binary, err, lw.tail())
	}
	return h, nil
}

// awaitReady waits for the listening address, then for /readyz to answer 200.
func (h *HubProcess) awaitReady(ctx context.Context) error {
	select {
	case h.Addr = <-h.log.addr:
	case <-h.exited:
		return fmt.Errorf("hub exited before listening: %v", h.waitErr)
	case <-ctx.Done():
		return fmt.Errorf("no %q line: %w", "ssehub listening", ctx.Err())
	}
	// No keep-alive: an idle probe connection would stay in the hub's
	// socket count and memory for the rest of the benchmark.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		if resp, err := client.Get("http://" + h.Addr + "/readyz"); err != nil {
			last = err.Error()
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		}
		select {
		case <-tick.C:
		case <-h.exited:
			return fmt.Errorf("hub exited before ready: %v", h.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("/readyz on %s never answered 200 (last: %s): %w", h.Addr, last, ctx.Err())
		}
	}
}

// RSS returns the hub's resident set size in bytes (VmRSS in
// /proc/PID/status).
func (h *HubProcess) RSS() (int64, error) { return processRSS(h.PID) }

// Sockets returns how many sockets the hub process holds open: its
// listener, its streams and anything else it connected to (a broker). It is
// the kernel's view of the hub's descriptors, an independent check on the
// streams the generator believes are open.
func (h *HubProcess) Sockets() (int, error) { return countSockets(h.PID) }

// CPU returns the CPU time (user + system, all threads) the hub has used
// so far, from /proc/PID/stat.
func (h *HubProcess) CPU() (time.Duration, error) { return processCPU(h.PID) }

// Stop sends the hub SIGTERM and waits for it to exit; when ctx is done
// first, it sends SIGKILL and waits for that. It returns the hub's exit error,
// if any. Stop may be called more than once; later calls return the first
// result.
func (h *HubProcess) Stop(ctx context.Context) error {
	h.stopOnce.Do(func() { h.stopErr = h.stop(ctx) })
	return h.stopErr
}

func (h *HubProcess) stop(ctx context.Context) error {
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop hub pid=%d: %w", h.PID, err)
	}
	select {
	case <-h.exited:
		if h.waitErr != nil {
			return fmt.Errorf("stop hub pid=%d: %w; hub log tail:\n%s", h.PID, h.waitErr, h.log.tail())
		}
		return nil
	case <-ctx.Done():
		_ = h.cmd.Process.Kill()
		<-h.exited
		return fmt.Errorf("stop hub pid=%d: killed, no exit after SIGTERM: %w", h.PID, ctx.Err())
	}
}

// Kill ends the hub with SIGKILL, as a crash would, and waits until it is
// gone.
func (h *HubProcess) Kill() {
	h.stopOnce.Do(func() {
		_ = h.cmd.Process.Kill()
		<-h.exited
		h.stopErr = errors.New("killed")
	})
}

// Exited returns a channel closed once the hub has exited.
func (h *HubProcess) Exited() <-chan struct{} { return h.exited }

// logTailLines is how many of the hub's last log lines are kept for errors.
const logTailLines = 20

// logWatcher is the hub's stderr. It finds the listening address, keeps the
// last lines for error messages and copies everything to an optional
// writer. It must keep consuming for the hub's whole life: a hub whose
// stderr pipe fills up blocks in its logger.
type logWatcher struct {
	copyTo io.Writer
	addr   chan string // receives the listening address once

	mu    sync.Mutex
	found bool
	part  []byte   // an unterminated line
	lines []string // the last logTailLines lines
}

func newLogWatcher(copyTo io.Writer) *logWatcher {
	return &logWatcher{copyTo: copyTo, addr: make(chan string, 1)}
}

func (w *logWatcher) Write(p []byte) (int, error) {
	if w.copyTo != nil {
		_, _ = w.copyTo.Write(p) // a failing copy must not stop the hub
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		line := string(w.part[:i])
		w.part = w.part[i+1:]
		if len(w.lines) == logTailLines {
			w.lines = append(w.lines[:0], w.lines[1:]...)
		}
		w.lines = append(w.lines, line)
		if !w.found {
			if addr, ok := parseListenAddr(line); ok {
				w.found = true
				w.addr <- addr
			}
		}
	}
	if len(w.part) == 0 {
		w.part = nil // let a large buffer go
	}
	return len(p), nil
}

func (w *logWatcher) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// parseListenAddr returns the addr attribute of ssehub's "ssehub listening"
// log line, in slog's text or JSON format.
func parseListenAddr(line string) (string, bool) {
	if strings.HasPrefix(line, "{") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "ssehub listening" || rec.Addr == "" {
			return "", false
		}
		return rec.Addr, true
	}
	if !strings.Contains(line, `msg="ssehub listening"`) {
		return "", false
	}
	for _, f := range strings.Fields(line) {
		if addr, ok := strings.CutPrefix(f, "addr="); ok && addr != "" {
			return addr, true
		}
	}
	return "", false
}
