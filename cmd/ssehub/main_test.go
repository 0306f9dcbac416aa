package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/internal/ssetest"
)

// ssehubBin is the real binary, built once by TestMain.
var ssehubBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ssehub-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ssehubBin = filepath.Join(dir, "ssehub")
	if out, err := exec.Command("go", "build", "-o", ssehubBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build -o %s .: %v\n%s", ssehubBin, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// output collects what a process writes and wakes waiters on every write.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // capacity 1: "something was written"
}

func newOutput() *output { return &output{written: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case o.written <- struct{}{}:
	default:
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// process is a running ssehub.
type process struct {
	cmd    *exec.Cmd
	stdout *output
	stderr *output
	exited <-chan struct{} // closed when Wait has returned
}

// startSSEHub starts the binary with args and an environment free of
// SSEHUB_* variables but for env. It is killed at the end of the test if it
// is still running.
func startSSEHub(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(ssehubBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSEHUB_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	p := &process{cmd: cmd, stdout: newOutput(), stderr: newOutput()}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	p.exited = startChild(t, cmd)
	return p
}

// startChild starts cmd and returns a channel closed once it has exited.
// The process is killed at the end of the test if it is still running.
func startChild(t *testing.T, cmd *exec.Cmd) <-chan struct{} {
	t.Helper()
	cmd.WaitDelay = 5 * time.Second // bounds Wait should the output pipes stay open
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", cmd.Args, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // an error means it has exited already
		<-exited
	})
	return exited
}

// wait waits up to timeout for the process to exit and returns its exit
// code.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("ssehub %q still running after %v; stderr:\n%s", p.cmd.Args[1:], timeout, p.stderr)
		return 0
	}
}

// waitStderr waits up to timeout for stderr to match re and returns the
// first submatch.
func (p *process) waitStderr(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-p.stderr.written:
		case <-p.exited:
			if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
				return m[len(m)-1]
			}
			t.Fatalf("ssehub exited (%v) before logging %s; stderr:\n%s", p.cmd.ProcessState, re, p.stderr)
		case <-deadline.C:
			t.Fatalf("ssehub did not log %s within %v; stderr:\n%s", re, timeout, p.stderr)
		}
	}
}

var listeningRE = regexp.MustCompile(`msg="ssehub listening".*? addr=(\S+)`)

// startServing starts the binary on a free loopback port with env and args
// (see startSSEHub) and returns it with the address it logged.
func startServing(t *testing.T, env []string, args ...string) (*process, string) {
	t.Helper()
	p := startSSEHub(t, env, append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	return p, p.waitStderr(t, listeningRE, 10*time.Second)
}

// TestServeAndShutdown runs the README's curl session against the real
// binary, then stops it with SIGTERM.
func TestServeAndShutdown(t *testing.T) {
	p, addr := startServing(t, []string{"SSEHUB_SHUTDOWN_TIMEOUT=5s"})
	base := "http://" + addr

	client := newHTTPClient(t)
	waitReady(t, client, base+"/readyz", 10*time.Second)

	// curl -N 'localhost:8080/events?topic=news'
	exact := openStream(t, addr, "topic=news")
	pattern := openStream(t, addr, "topic=news*")

	// curl -H 'Content-Type: application/json' -d '{"topic":"news","data":"hi"}' localhost:8080/publish
	resp, err := client.Post(base+"/publish", "application/json", strings.NewReader(`{"topic":"news","data":"hi"}`))
	if err != nil {
		t.Fatalf("POST /publish: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /publish = %d %s, want 200", resp.StatusCode, body)
	}
	var published struct{ IDs []string }
	if err := json.Unmarshal(body, &published); err != nil || len(published.IDs) != 1 {
		t.Fatalf("POST /publish body = %s (%v), want {\"ids\":[ID]}", body, err)
	}

	for _, s := range []*sseStream{exact, pattern} {
		want := "id: " + published.IDs[0] + "\ndata: hi\n\n"
		if got := s.nextEvent(t, 5*time.Second); got != want {
			t.Errorf("stream %s event = %q, want %q", s.query, got, want)
		}
	}

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code := p.wait(t, 8*time.Second); code != 0 {
		t.Errorf("ssehub after SIGTERM exit code = %d, want 0; stderr:\n%s", code, p.stderr)
	}
	t.Logf("ssehub exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	for _, s := range []*sseStream{exact, pattern} {
		if err := s.drain(5 * time.Second); !errors.Is(err, io.EOF) {
			t.Errorf("stream %s after shutdown: read error = %v, want EOF", s.query, err)
		}
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, `msg="ssehub stopped"`) {
		t.Errorf("stderr has no \"ssehub stopped\" line:\n%s", logs)
	}
	// The one expected warning: auth is off in the zero-config run, and
	// says so loudly.
	if !strings.Contains(logs, `level=WARN msg="authentication is off`) {
		t.Errorf("stderr does not warn that authentication is off:\n%s", logs)
	}
	logs = strings.Replace(logs, "level=WARN msg=\"authentication is off", "", 1)
	if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("stderr has warnings or errors:\n%s", logs)
	}
}

// newHTTPClient returns a client whose idle connections are closed when the
// test ends.
func newHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, client *http.Client, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s not ready within %v: %v", url, timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// sseStream is a subscriber on a raw TCP connection, as EventSource would be.
type sseStream struct {
	query string
	conn  net.Conn
	body  *bufio.Reader
}

// openStream opens GET /events?query, with extra request header lines such
// as "Last-Event-ID: ID", and waits for the response head: the stream is
// then subscribed.
func openStream(t *testing.T, addr, query string, header ...string) *sseStream {
	t.Helper()
	conn, resp := ssetest.Open(t, nil, addr, query, header...)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		t.Fatalf("GET /events?%s = %d %q %s, want 200 text/event-stream", query, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &sseStream{query: query, conn: conn, body: bufio.NewReader(resp.Body)}
	// The README's first bytes: the retry delay and a comment, then a blank line.
	if got, want := s.nextBlock(t, 5*time.Second), "retry: 3000\n: ssehub\n\n"; got != want {
		t.Fatalf("GET /events?%s first bytes = %q, want %q", query, got, want)
	}
	return s
}

// nextBlock returns the next block of lines up to and including the blank
// line that ends it.
func (s *sseStream) nextBlock(t *testing.T, timeout time.Duration) string {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	var block strings.Builder
	for {
		line, err := s.body.ReadString('\n')
		if err != nil {
			t.Fatalf("stream %s: reading: %v (block so far %q)", s.query, err, block.String())
		}
		block.WriteString(line)
		if line == "\n" {
			return block.String()
		}
	}
}

// nextEvent returns the next block that is not only comments (heartbeats).
func (s *sseStream) nextEvent(t *testing.T, timeout time.Duration) string {
	t.Helper()
	for {
		b := s.nextBlock(t, timeout)
		for _, l := range strings.Split(strings.TrimSuffix(b, "\n\n"), "\n") {
			if !strings.HasPrefix(l, ":") {
				return b
			}
		}
	}
}

// drain reads until the stream ends and returns the read error.
func (s *sseStream) drain(timeout time.Duration) error {
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, s.body)
	if err == nil {
		err = io.EOF // io.Copy reports EOF as success
	}
	return err
}

// TestCommandLine checks the exit codes and output of runs that end
// before serving: help and the version on stdout, errors on stderr in a
// line or two each, without the usage.
func TestCommandLine(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		wantOut  []string // in stdout
		want     []string // in stderr
	}{
		{name: "help", args: []string{"--help"}, wantOut: []string{"--listen", "SSEHUB_LISTEN", "ssehub health"}},
		{name: "help command", args: []string{"help"}, wantOut: []string{"Usage:", "--redis-url"}},
		{name: "version command", args: []string{"version"}, wantOut: []string{"ssehub ", "go1."}},
		{name: "version flag", args: []string{"--version"}, wantOut: []string{"ssehub ", "go1."}},
		{name: "queue-size 1", args: []string{"--queue-size", "1"}, wantCode: 2, want: []string{"--queue-size: must be at least 2"}},
		{name: "bad env", env: []string{"SSEHUB_HEARTBEAT=bogus"}, wantCode: 2, want: []string{"SSEHUB_HEARTBEAT (--heartbeat): invalid value"}},
		{name: "unknown flag", args: []string{"--no-such-flag"}, wantCode: 2, want: []string{"unknown flag --no-such-flag", "Run 'ssehub help'"}},
		{name: "duration without unit", args: []string{"--heartbeat", "15"}, wantCode: 2, want: []string{"such as 15s, 500ms or 2m"}},
		{name: "unknown command", args: []string{"serve"}, wantCode: 2, want: []string{`unknown command "serve"`}},
		{name: "misspelled command", args: []string{"tokn"}, wantCode: 2, want: []string{`(did you mean token?)`}},
		{name: "config check without FILE", args: []string{"config", "check"}, wantCode: 2, want: []string{"missing FILE"}},
		{name: "config check help", args: []string{"config", "--help"}, wantOut: []string{"Usage: ssehub config check FILE"}},
		{name: "config check help after check", args: []string{"config", "check", "--help"}, wantOut: []string{"Usage: ssehub config check FILE"}},
		{name: "health version", args: []string{"health", "--version"}, wantOut: []string{"ssehub "}},
		{name: "help=false asks for nothing", args: []string{"--help=false", "--queue-size", "1"}, wantCode: 2, want: []string{"--queue-size: must be at least 2"}},
		{name: "misspelled variable named when the configuration fails", env: []string{"SSEHUB_AUTH=jwt", "SSEHUB_JWTSECRET=0123456789abcdef0123456789abcdef"}, wantCode: 2,
			want: []string{"warning: SSEHUB_JWTSECRET is not a setting and is ignored (did you mean SSEHUB_JWT_SECRET?)", "SSEHUB_AUTH (--auth): jwt needs a key"}},
		{name: "token ttl 0", args: []string{"token", "--jwt-secret", secret, "--ttl", "0"}, wantCode: 2, want: []string{"--ttl: must be positive, got 0s"}},
		{name: "token help", args: []string{"token", "--help"}, wantOut: []string{"--sub", "--ttl"}},
		{name: "token bad subject", args: []string{"token", "--jwt-secret", secret, "--sub", "a b"}, wantCode: 2,
			want: []string{"ssehub token: auth: invalid claims: sub cannot name the private topic"}},
		{name: "api keys with auth off", args: []string{"--api-keys", "0123456789abcdef0123"}, wantCode: 2, want: []string{"--api-keys: need --auth jwt"}},
		{name: "short api key", args: []string{"--auth", "jwt", "--jwt-secret", secret, "--api-keys", "abcdef"}, wantCode: 2,
			want: []string{"--api-keys: key 1 of 1 is 6 bytes, want at least 16"}},
		{name: "sentinel without master", args: []string{"--redis-mode", "sentinel", "--redis-url", "redis://127.0.0.1:1"}, wantCode: 2,
			want: []string{"master_name"}},
		{name: "partitions above the most", args: []string{"--redis-url", "redis://127.0.0.1:1", "--redis-partitions", "257"}, wantCode: 2,
			want: []string{"--redis-partitions: must be at most 256, got 257"}},
		{name: "partitions without redis", args: []string{"--redis-partitions", "3"}, wantCode: 2,
			want: []string{"--redis-partitions: needs --redis-url"}},
		{name: "partitions with presence", args: []string{"--redis-url", "redis://127.0.0.1:1", "--redis-partitions", "3", "--presence"}, wantCode: 2,
			want: []string{"--redis-partitions: does not work with --presence yet"}},
		{name: "redis-layout help", args: []string{"redis-layout", "--help"}, wantOut: []string{"Usage: ssehub redis-layout [--switch | --finish]"}},
		{name: "redis-layout switch and finish at once", args: []string{"redis-layout", "--switch", "--finish", "--redis-url", "redis://127.0.0.1:1", "--redis-partitions", "3"}, wantCode: 2,
			want: []string{"--switch and --finish are two steps"}},
		{name: "redis-layout without redis", args: []string{"redis-layout"}, wantCode: 2, want: []string{"--redis-url: required"}},
		{name: "redis-layout switch to one partition", args: []string{"redis-layout", "--switch", "--redis-url", "redis://127.0.0.1:1"}, wantCode: 2,
			want: []string{"--switch needs --redis-partitions 2 or more"}},
		{name: "redis-layout with Redis away", args: []string{"redis-layout", "--redis-url", "redis://127.0.0.1:1"}, wantCode: 1,
			want: []string{"ssehub redis-layout: redis layout:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startSSEHub(t, tt.env, tt.args...)
			code := p.wait(t, 10*time.Second)
			stdout, stderr := p.stdout.String(), p.stderr.String()
			if code != tt.wantCode {
				t.Errorf("%v ssehub %q exit code = %d, want %d; stderr:\n%s", tt.env, tt.args, code, tt.wantCode, stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("%v ssehub %q stdout = %q, want it to contain %q", tt.env, tt.args, stdout, w)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%v ssehub %q stderr = %q, want it to contain %q", tt.env, tt.args, stderr, w)
				}
			}
			if tt.wantCode != 0 && (strings.Contains(stderr, "Flags") || len(stderr) > 1000) {
				t.Errorf("%v ssehub %q printed the usage or too much with its error (%d bytes):\n%s", tt.env, tt.args, len(stderr), stderr)
			}
			if tt.wantCode == 0 && stderr != "" {
				t.Errorf("%v ssehub %q wrote to stderr: %q", tt.env, tt.args, stderr)
			}
			if listeningRE.MatchString(stderr) {
				t.Errorf("%v ssehub %q started serving, want it to stop before", tt.env, tt.args)
			}
		})
	}
}
