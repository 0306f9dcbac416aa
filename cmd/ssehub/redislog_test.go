package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
)

// go-redis's own lines go through the hub's logger: JSON with --log-format
// json, like every other line, and tagged with their component.
func TestRedisLogLinesFollowTheLogFormat(t *testing.T) {
	var out bytes.Buffer
	redisLogger{slog.New(slog.NewJSONHandler(&out, nil))}.Printf(context.Background(),
		"redis: discarding bad PubSub connection: %s", "read tcp: i/o timeout")
	var line struct{ Level, Msg, Component string }
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("go-redis log line is not JSON: %q (%v)", out.String(), err)
	}
	if line.Level != "WARN" || line.Msg != "discarding bad PubSub connection: read tcp: i/o timeout" || line.Component != "go-redis" {
		t.Errorf("log line %+v, want a WARN from component go-redis without the redis: prefix", line)
	}
}

// /readyz answers within its 2s bound while Redis is paused (SIGSTOP):
// go-redis used to wait out its own read timeout, and answered after 5s.
func TestReadyzAnswersInTimeWhileRedisIsPaused(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	client.Timeout = 10 * time.Second
	_, addr := startServing(t, nil, "--redis-url", srv.URL())
	waitReady(t, client, "http://"+addr+"/readyz", 10*time.Second)

	resume := srv.Pause(t)
	start := time.Now()
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || took > 3*time.Second {
		t.Errorf("/readyz with Redis paused: %d after %s, want 503 within about 2s", resp.StatusCode, took.Round(time.Millisecond))
	}
	resume()
	waitReady(t, client, "http://"+addr+"/readyz", 10*time.Second)
}
