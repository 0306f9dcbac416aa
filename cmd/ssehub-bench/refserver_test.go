package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testenv"
)

// listeningRE matches the line bench.StartHub waits for.
var listeningRE = regexp.MustCompile(`level=INFO msg="ssehub listening" addr=(\S+)`)

// TestRunRefServer runs the subcommand as StartHub would (its flags
// included), finds its address in the log, streams one event and stops it.
func TestRunRefServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logR, logW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- runRefServer(ctx, []string{"--listen", "127.0.0.1:0", "--log-level", "info"}, io.Discard, logW)
		logW.Close()
	}()
	// The log is read to its end, so that logging never blocks the server:
	// the first line is sent on, the others kept for the end of the test.
	first := make(chan string, 1)
	var rest []string // written by the reader until logRead is closed
	logRead := make(chan struct{})
	go func() {
		defer close(logRead)
		defer close(first)
		sc := bufio.NewScanner(logR)
		for sent := false; sc.Scan(); sent = true {
			if !sent {
				first <- sc.Text()
			} else {
				rest = append(rest, sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, logR)
	}()
	line := testenv.Recv(t, "the first log line", first)
	m := listeningRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first log line %q, want an \"ssehub listening\" line", line)
	}
	addr := m[1]

	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/events?topic=a")
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	defer resp.Body.Close()
	pub, err := client.Post("http://"+addr+"/publish", "application/json", strings.NewReader(`{"topic":"a","data":"hi"}`))
	if err != nil {
		t.Fatalf("POST /publish: %v", err)
	}
	pub.Body.Close()
	const want = "retry: 1000\n: ok\n\nid: 1\ndata: hi\n\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(resp.Body, got); err != nil || string(got) != want {
		t.Fatalf("stream = %q, %v; want %q", got, err, want)
	}

	cancel()
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Errorf("stream after shutdown: %q, %v; want a clean end", rest, err)
	}
	if c := testenv.Recv(t, "runRefServer to return after cancel", code); c != 0 {
		t.Errorf("runRefServer = %d, want 0", c)
	}
	testenv.Recv(t, "the end of the log", logRead)
	for _, line := range rest {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("log: %s", line)
		}
	}
}
