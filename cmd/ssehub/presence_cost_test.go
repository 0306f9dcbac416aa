//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/transport/auth"
)

// TestPresenceRampCost measures what presence costs during a ramp of
// streams, each of its own user (on a shared topic and user/<sub>), on one
// real hub and a real redis-server: Redis commands and the hub's and
// Redis's CPU per connect, with presence off and on. It takes a while and
// its figures are for BENCHMARKS.md, so it runs only with
// SSEHUB_PRESENCE_COST=<streams> (10000 for the ramp).
func TestPresenceRampCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SSEHUB_PRESENCE_COST"))
	if n <= 0 {
		t.Skip("set SSEHUB_PRESENCE_COST=10000 to measure presence's cost per connect")
	}
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = mintHS256(t, auth.MintClaims{Subject: fmt.Sprintf("u%05d", i), Subscribe: []string{"room"}, TTL: time.Hour})
	}
	for _, presence := range []bool{false, true} {
		srv := redistest.Start(t)
		rc := srv.Client(t)
		args := []string{"--redis-url", srv.URL(), "--auth", "jwt", "--jwt-secret", testJWTSecret,
			"--api-keys", presenceAPIKey, "--max-streams-per-ip", "-1", "--heartbeat", "1m"}
		if presence {
			args = append(args, "--presence")
		}
		client := newHTTPClient(t)
		p, addr := startServing(t, nil, args...)
		waitReady(t, client, "http://"+addr+"/readyz", fleetTimeout)
		cmdsBefore, redisCPUBefore := redisCounters(t, rc)
		scriptsBefore := scriptCalls(t, rc)
		hubCPUBefore := procCPU(t, p.cmd.Process.Pid)
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var conns []interface{ Close() error }
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					conn, resp := ssetest.Open(t, nil, addr, "topic=room&token="+tokens[i])
					if resp.StatusCode != 200 {
						t.Errorf("stream %d: status %d", i, resp.StatusCode)
					}
					mu.Lock()
					conns = append(conns, conn)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		ramp := time.Since(start)
		if presence {
			waitPresenceField(t, client, addr, presenceAPIKey, "topic=room", "streams", strconv.Itoa(n), 30*time.Second)
		} else {
			time.Sleep(time.Second) // as long as presence would have taken to settle
		}
		cmdsAfter, redisCPUAfter := redisCounters(t, rc)
		scripts := scriptCalls(t, rc) - scriptsBefore
		hubCPU := procCPU(t, p.cmd.Process.Pid) - hubCPUBefore
		t.Logf("presence=%v: %d streams in %v (%.0f/s); per connect: %.3f Redis commands (those in scripts included), "+
			"%.4f script calls (%d in all), Redis CPU %.1f µs, hub CPU %.0f µs",
			presence, n, ramp.Round(time.Millisecond), float64(n)/ramp.Seconds(),
			float64(cmdsAfter-cmdsBefore)/float64(n), float64(scripts)/float64(n), scripts,
			(redisCPUAfter-redisCPUBefore)*1e6/float64(n), hubCPU.Seconds()*1e6/float64(n))
		for _, c := range conns {
			c.Close()
		}
	}
}

// redisCounters returns Redis's commands processed and its CPU seconds.
func redisCounters(t *testing.T, c *redis.Client) (int64, float64) {
	t.Helper()
	info, err := c.Info(context.Background(), "stats", "cpu").Result()
	if err != nil {
		t.Fatal(err)
	}
	var cmds int64
	var cpu float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "total_commands_processed":
			cmds, _ = strconv.ParseInt(v, 10, 64)
		case "used_cpu_sys", "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		}
	}
	return cmds, cpu
}

// scriptCalls returns how many EVAL and EVALSHA calls Redis has served:
// the presence writes and reaps, and the congestion exchanges.
func scriptCalls(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var calls int64
	for _, line := range strings.Split(info, "\r\n") {
		if !strings.HasPrefix(line, "cmdstat_eval:") && !strings.HasPrefix(line, "cmdstat_evalsha:") {
			continue
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(line[strings.IndexByte(line, ':')+1:], "calls="), ",")
		n, _ := strconv.ParseInt(v, 10, 64)
		calls += n
	}
	return calls
}

// procCPU returns the user and system CPU time of process pid.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
