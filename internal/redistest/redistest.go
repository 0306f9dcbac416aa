// Package redistest starts private, real redis-server processes for
// integration tests: each on a free loopback port, with no persistence, killed
// when the test ends. It never talks to a server on a default port.
//
// A test that needs Redis fails with the install command when CI=true and
// skips with it otherwise ([testenv.Require]).
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/internal/childproc"
	"github.com/ssehub/ssehub/internal/testenv"
)

// InstallCommand installs redis-server and redis-cli on Debian and Ubuntu.
const InstallCommand = "apt-get install -y redis-server"

const (
	readyTimeout = 10 * time.Second       // per start attempt, until PING answers
	probeTimeout = 250 * time.Millisecond // one readiness probe
	pollInterval = 10 * time.Millisecond  // between readiness probes
	killTimeout  = 10 * time.Second       // SIGKILL until the process is reaped
	startTries   = 5                      // fresh ports tried when a bind fails
	outputLimit  = 64 << 10               // bytes of server output kept
	tailLimit    = 2 << 10                // bytes of server output in failure messages
)

// ErrPortTaken means redis-server could not bind its port (or its cluster
// bus port): someone took it between our probe and its bind.
var ErrPortTaken = errors.New("redistest: port taken")

// Server is one redis-server process on 127.0.0.1. Its methods other than
// Addr, URL and PID must be called from the test goroutine.
type Server struct {
	t     testing.TB
	bin   string
	dir   string
	extra func(port int, dir string) []string

	mu   sync.Mutex
	port int
	proc *Process // the running process; nil once killed
}

// Process is one run of redis-server, started by Launch. Unlike Server it
// needs no testing.TB, so a benchmark command can use it too.
type Process struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	port int
	done chan struct{} // closed once cmd.Wait has returned; its goroutine ends then
}

// Start starts a redis-server on a free loopback port with no persistence,
// appending args to its command line, and waits until it answers PING. The
// server is killed when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return start(t, func(int, string) []string { return args })
}

func start(t testing.TB, extra func(port int, dir string) []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: testenv.Require(t, InstallCommand, "redis-server"), dir: t.TempDir(), extra: extra}
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(s.Kill)
	var err error
	for range startTries {
		port, perr := FreePort()
		if perr != nil {
			t.Fatal(perr)
		}
		if err = s.launch(port); !errors.Is(err, ErrPortTaken) {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	return s
}

// Addr returns the server's "127.0.0.1:port".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns the server's "redis://127.0.0.1:port/0".
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// PID returns the process id of the running server, or 0 after Kill.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Client returns a go-redis client for the server, closed when t ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// Kill sends SIGKILL and waits until the process is gone. It is a no-op if
// the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	p, port := s.proc, s.port
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	if err := p.Kill(); err != nil {
		s.t.Errorf("redistest: kill redis-server on port %d: %v%s", port, err, p.out.tailf())
	}
}

// Restart kills the server with SIGKILL and starts a fresh one on the same
// port and directory, waiting until it answers. With no persistence the data
// is lost, as after a crash; a cluster node keeps its nodes.conf, as a real
// node would.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	// The port was ours a moment ago, but a bind may still lose a race
	// with another process; retry on the same port for a bounded time.
	deadline := time.Now().Add(readyTimeout)
	for {
		err := s.launch(s.port)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrPortTaken) || time.Now().After(deadline) {
			s.t.Fatalf("redistest: restart redis-server on port %d: %v", s.port, err)
		}
		time.Sleep(100 * time.Millisecond) // let the other holder go away
	}
}

// launch starts redis-server on port and waits until it answers. On
// failure the process is gone when launch returns.
func (s *Server) launch(port int) error {
	p, err := Launch(s.bin, port, s.dir, s.extra(port, s.dir)...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.port, s.proc = port, p
	s.mu.Unlock()
	return nil
}

// Launch starts redis-server (bin) on 127.0.0.1:port with persistence off
// and dir as its directory, appending extra to its command line, and waits
// until it answers PING. The kernel kills it should this process die. On
// failure the process is gone when Launch returns; an error wrapping
// ErrPortTaken means another process holds the port.
func Launch(bin string, port int, dir string, extra ...string) (*Process, error) {
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", dir,
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childproc.SysProcAttr() // no redis-server outlives a test binary killed mid-run
	cmd.WaitDelay = time.Second               // never hang on output copying after exit
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, out: out, port: port, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	if err := p.waitReady(p.Addr()); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("port %d: %w%s", port, err, out.tailf())
	}
	return p, nil
}

// Addr returns the process's "127.0.0.1:port".
func (p *Process) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// PID returns its process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// waitReady polls addr until this process answers PING.
func (p *Process) waitReady(addr string) error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			if bytes.Contains(p.out.bytes(), []byte("Address already in use")) {
				return ErrPortTaken
			}
			return fmt.Errorf("redis-server exited early: %v", p.cmd.ProcessState)
		default:
		}
		pid, err := probe(addr)
		if err == nil {
			if pid != p.cmd.Process.Pid {
				// Another redis-server took the port; ours will exit
				// with a bind error.
				return fmt.Errorf("%w: %s answered by pid %d, not %d",
					ErrPortTaken, addr, pid, p.cmd.Process.Pid)
			}
			return nil
		}
		lastErr = err
		select {
		case <-p.done:
		case <-time.After(pollInterval):
		}
	}
	return fmt.Errorf("not ready after %v: %v", readyTimeout, lastErr)
}

// Kill sends SIGKILL and waits until the process is gone. Calling it
// again is harmless.
func (p *Process) Kill() error {
	// An error here means the process has already exited; Wait reaps it.
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("still running %v after SIGKILL", killTimeout)
	}
}

// probe sends PING and INFO server to addr over one short-lived connection
// and returns the answering server's process id.
func probe(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := io.WriteString(conn, "PING\r\nINFO server\r\n"); err != nil {
		return 0, err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("PING: %w", err)
	}
	if line != "+PONG\r\n" {
		return 0, fmt.Errorf("PING = %q, want +PONG", strings.TrimSpace(line))
	}
	line, err = r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("INFO server: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
	if !strings.HasPrefix(line, "$") || err != nil {
		return 0, fmt.Errorf("INFO server = %q, want a bulk string", strings.TrimSpace(line))
	}
	info := make([]byte, n)
	if _, err := io.ReadFull(r, info); err != nil {
		return 0, fmt.Errorf("INFO server: %w", err)
	}
	for _, l := range strings.Split(string(info), "\r\n") {
		if v, ok := strings.CutPrefix(l, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

// Ports handed out by this test binary; never handed out twice, so that
// parallel tests cannot pick the same port between probe and bind.
var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// FreePort returns a loopback port that is free now, as is port+10000,
// which a cluster node binds for its bus. It never returns a port twice in
// one process.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	// Many tries: while other tests hold thousands of loopback ports
	// (a 10k-stream ramp), port+10000 is often taken.
	for range 2000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("redistest: listen 127.0.0.1:0: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port >= 65535-10000 || ports[port] {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		bus.Close()
		ports[port] = true
		return port, nil
	}
	return 0, errors.New("redistest: no free loopback port (with a free port+10000) after 2000 tries")
}

// tailBuffer keeps the last outputLimit bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - outputLimit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

// tailf formats the end of the output for a failure message.
func (b *tailBuffer) tailf() string {
	out := b.bytes()
	if len(out) > tailLimit {
		out = out[len(out)-tailLimit:]
	}
	if len(out) == 0 {
		return "\nredis-server output: (none)"
	}
	return "\nredis-server output (tail):\n" + string(out)
}
