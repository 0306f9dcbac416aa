package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
)

// ErrNoRedis means redis-server is not on PATH.
var ErrNoRedis = errors.New("bench: redis-server not found on PATH; install it with: " + redistest.InstallCommand)

// RedisProcess is a private redis-server child process on a free loopback
// port, with no persistence. Stop it with Stop.
type RedisProcess struct {
	// Addr is its "127.0.0.1:port".
	Addr string
	// PID is its process id.
	PID int

	proc *redistest.Process
}

// redisStartTries is how many fresh ports StartRedis tries: between
// probing a port and redis-server binding it, another process may take it.
const redisStartTries = 5

// StartRedis starts redis-server on a free 127.0.0.1 port with persistence
// off, waits until it answers PING, and returns it. Like the hub it is
// killed if this process dies, so an interrupted benchmark leaves nothing
// behind. It returns ErrNoRedis if redis-server is not installed. The
// process itself is run by internal/redistest, which the tests use too.
func StartRedis(ctx context.Context) (*RedisProcess, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	// Its file limit is inherited: redis-server sizes its client table
	// (maxclients, 10000 by default) from it, and the hubs' pub/sub and pool
	// connections are clients.
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		port, err := redistest.FreePort()
		if err != nil {
			return nil, err
		}
		// Nothing is written to the directory: persistence is off.
		p, err := redistest.Launch(bin, port, os.TempDir())
		switch {
		case err == nil:
			return &RedisProcess{Addr: p.Addr(), PID: p.PID(), proc: p}, nil
		case !errors.Is(err, redistest.ErrPortTaken) || try == redisStartTries:
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
	}
}

// URL returns the server's "redis://127.0.0.1:port/0", for ssehub's
// --redis-url.
func (r *RedisProcess) URL() string { return "redis://" + r.Addr + "/0" }

// CPU returns the CPU time (user + system) redis-server has used so far.
func (r *RedisProcess) CPU() (time.Duration, error) { return processCPU(r.PID) }

// Stop kills the server (its data is throwaway) and waits until it is
// gone. It may be called more than once.
func (r *RedisProcess) Stop() { _ = r.proc.Kill() }
