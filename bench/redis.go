package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// RedisInstallCommand installs redis-server on Debian and Ubuntu.
const RedisInstallCommand = "apt-get install -y redis-server"

// ErrNoRedis means redis-server is not on PATH.
var ErrNoRedis = errors.New("bench: redis-server not found on PATH; install it with: " + RedisInstallCommand)

// RedisProcess is a private redis-server child process on a free loopback
// port, with no persistence. Stop it with Stop.
type RedisProcess struct {
	// Addr is its "127.0.0.1:port".
	Addr string
	// PID is its process id.
	PID int

	cmd    *exec.Cmd
	out    *redisOutput
	exited chan struct{} // closed once cmd.Wait has returned
	// waitErr is cmd.Wait's result, written before exited is closed.
	waitErr error

	stopOnce sync.Once
}

// redisStartTries is how many fresh ports StartRedis tries: between
// probing a port and redis-server binding it, another process may take it.
const redisStartTries = 5

// StartRedis starts redis-server on a free 127.0.0.1 port with persistence
// off, waits until it answers PING, and returns it. Like the hub it is
// killed if this process dies, so an interrupted benchmark leaves nothing
// behind. It returns ErrNoRedis if redis-server is not installed.
//
// transport/redistest does the same for tests; this one needs no
// testing.TB, so the benchmark command can use it.
func StartRedis(ctx context.Context) (*RedisProcess, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	for try := 1; ; try++ {
		port, err := freeLoopbackPort()
		if err != nil {
			return nil, err
		}
		r, err := launchRedis(ctx, bin, port)
		if err == nil || !errors.Is(err, errRedisPortTaken) || try == redisStartTries {
			return r, err
		}
	}
}

// errRedisPortTaken: another process bound the port first.
var errRedisPortTaken = errors.New("bench: redis port taken")

// freeLoopbackPort returns a 127.0.0.1 port that was free a moment ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launchRedis(ctx context.Context, bin string, port int) (*RedisProcess, error) {
	// Its file limit is inherited: redis-server sizes its client table
	// (maxclients, 10000 by default) from it, and the hubs' pub/sub and pool
	// connections are clients.
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", os.TempDir(), // nothing is written there: persistence is off
	)
	out := &redisOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second // never hang on output copying after exit
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	r := &RedisProcess{
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		PID:    cmd.Process.Pid,
		cmd:    cmd,
		out:    out,
		exited: make(chan struct{}),
	}
	go func() {
		r.waitErr = cmd.Wait()
		close(r.exited)
	}()
	if err := r.awaitReady(ctx, 10*time.Second); err != nil {
		r.Stop()
		if bytes.Contains(out.bytes(), []byte("Address already in use")) {
			return nil, fmt.Errorf("%w: %d", errRedisPortTaken, port)
		}
		return nil, fmt.Errorf("start redis-server port=%d: %w; output:\n%s", port, err, out.bytes())
	}
	return r, nil
}

// awaitReady polls with PING until the server answers, it exits, or
// timeout or ctx ends.
func (r *RedisProcess) awaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = pingRedis(r.Addr); last == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-r.exited:
			return fmt.Errorf("redis-server exited: %v", r.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no PONG (last: %v): %w", last, ctx.Err())
		}
	}
}

// pingRedis sends PING over a short-lived connection and expects +PONG.
func pingRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 250*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(250 * time.Millisecond))
	if _, err := io.WriteString(conn, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING = %q, want +PONG", line)
	}
	return nil
}

// URL returns the server's "redis://127.0.0.1:port/0", for ssehub's
// --redis-url.
func (r *RedisProcess) URL() string { return "redis://" + r.Addr + "/0" }

// CPU returns the CPU time (user + system) redis-server has used so far.
func (r *RedisProcess) CPU() (time.Duration, error) { return processCPU(r.PID) }

// Stop kills the server (its data is throwaway) and waits until it is
// gone. It may be called more than once.
func (r *RedisProcess) Stop() {
	r.stopOnce.Do(func() {
		_ = r.cmd.Process.Kill() // an error means it has exited already
		<-r.exited
	})
}

// redisOutputLimit bounds the server output kept for error messages.
const redisOutputLimit = 16 << 10

// redisOutput keeps the first redisOutputLimit bytes of the server's
// output: start-up errors are at its beginning.
type redisOutput struct {
	mu  sync.Mutex
	buf []byte
}

func (o *redisOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := redisOutputLimit - len(o.buf); room > 0 {
		o.buf = append(o.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (o *redisOutput) bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf)
}
