package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
)

const (
	sentinelMaster     = "mymaster"
	sentinelStartTries = 5 // fresh ports tried when a bind fails
)

// errSentinelPortTaken means redis-sentinel could not bind its port: someone
// took it between our probe and its bind.
var errSentinelPortTaken = errors.New("sentinel port taken")

// TestFleetSentinel: two hubs that find their Redis through a real Redis
// Sentinel deliver as a fleet on one Redis does, and a client resuming on
// the other hub gets exactly what it missed, then live events. The sentinel
// speaks none of the commands the hubs send, so a ready hub has resolved
// the master through it.
func TestFleetSentinel(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t)
	sentinel := startSentinel(t, master.Addr())
	url := "redis://" + sentinel + "?master_name=" + sentinelMaster
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 2, "--redis-mode", "sentinel", "--redis-url", url)

	// Subscribers on both hubs; publishes alternate between them, so each
	// hub delivers what the other published.
	t.Run("delivery", func(t *testing.T) { checkDelivery(t, client, hubs) })

	t.Run("resume on the other hub", func(t *testing.T) { checkResumeElsewhere(t, client, hubs) })
}

// startSentinel starts a redis-sentinel on a free loopback port that
// monitors the master at masterAddr as sentinelMaster, waits until it names
// that master, and returns its "127.0.0.1:port". It is killed when the test
// ends.
func startSentinel(t *testing.T, masterAddr string) string {
	t.Helper()
	// Debian's redis-server binary runs as a sentinel with --sentinel; the
	// redis-sentinel package only adds a symlink and a service.
	bin := testenv.Require(t, redistest.InstallCommand, "redis-server")
	host, masterPort, err := net.SplitHostPort(masterAddr)
	if err != nil {
		t.Fatalf("net.SplitHostPort(%q) = %v", masterAddr, err)
	}
	dir := t.TempDir()
	for try := 1; ; try++ {
		addr, err := launchSentinel(t, bin, dir, host, masterPort)
		if err == nil {
			return addr
		}
		if !errors.Is(err, errSentinelPortTaken) || try == sentinelStartTries {
			t.Fatalf("start redis-sentinel: %v", err)
		}
	}
}

// launchSentinel runs one attempt of startSentinel on a fresh port. On
// failure the process is gone when it returns.
func launchSentinel(t *testing.T, bin, dir, masterHost, masterPort string) (string, error) {
	t.Helper()
	port := freeLoopbackPort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// The sentinel rewrites its config file, so each attempt has its own.
	conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", port))
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile \"\"\n"+
		"sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\n",
		port, dir, sentinelMaster, masterHost, masterPort, sentinelMaster)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, conf, "--sentinel")
	out := newOutput()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second // never hang on output copying after exit
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s %s --sentinel: %v", bin, conf, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	kill := func() {
		_ = cmd.Process.Kill() // an error means it has exited already
		select {
		case <-exited:
		case <-time.After(fleetTimeout):
			t.Errorf("redis-sentinel on %s still running %v after SIGKILL", addr, fleetTimeout)
		}
	}

	if err := waitSentinel(addr, []string{masterHost, masterPort}, cmd.Process.Pid, exited, out); err != nil {
		kill()
		return "", fmt.Errorf("%s: %w\n--- sentinel output:\n%s", addr, err, out)
	}
	t.Cleanup(kill)
	return addr, nil
}

// waitSentinel polls the sentinel at addr until it is the process pid and
// answers SENTINEL get-master-addr-by-name with master (host, port).
func waitSentinel(addr string, master []string, pid int, exited <-chan struct{}, out *output) error {
	sc := redis.NewSentinelClient(&redis.Options{
		Addr:         addr,
		DialTimeout:  250 * time.Millisecond,
		ReadTimeout:  250 * time.Millisecond,
		WriteTimeout: 250 * time.Millisecond,
		MaxRetries:   -1, // the poll loop retries
	})
	defer sc.Close()
	ctx := context.Background()
	deadline := time.Now().Add(fleetTimeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-exited:
			if strings.Contains(out.String(), "Address already in use") {
				return errSentinelPortTaken
			}
			return errors.New("redis-sentinel exited early")
		default:
		}
		last = sentinelReady(ctx, sc, master, pid)
		if last == nil {
			return nil
		}
		if errors.Is(last, errSentinelPortTaken) || time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", fleetTimeout, last)
		}
		select {
		case <-exited:
		case <-tick.C:
		}
	}
}

// sentinelReady checks once that the sentinel at sc is the process pid and
// names master (host, port) as the master.
func sentinelReady(ctx context.Context, sc *redis.SentinelClient, master []string, pid int) error {
	info := redis.NewStringCmd(ctx, "INFO", "server")
	if err := sc.Process(ctx, info); err != nil {
		return fmt.Errorf("INFO server: %w", err)
	}
	var got int
	for _, l := range strings.Split(info.Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, "process_id:"); ok {
			got, _ = strconv.Atoi(v)
		}
	}
	if got != pid {
		// Another server holds the port; ours will exit with a bind error.
		return fmt.Errorf("%w: answered by pid %d, not %d", errSentinelPortTaken, got, pid)
	}
	hp, err := sc.GetMasterAddrByName(ctx, sentinelMaster).Result()
	if err != nil {
		return fmt.Errorf("SENTINEL get-master-addr-by-name %s: %w", sentinelMaster, err)
	}
	if !slices.Equal(hp, master) {
		return fmt.Errorf("SENTINEL get-master-addr-by-name %s = %q, want %q", sentinelMaster, hp, master)
	}
	return nil
}

// freeLoopbackPort returns a loopback port that is free now. Another
// process may take it before the sentinel binds it; startSentinel retries.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen 127.0.0.1:0: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
