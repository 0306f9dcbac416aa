package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/httpapi"
)

// TestDrain: while the server drains, /readyz says 503, publishing works,
// a new stream is a 200 stream that tells the client when to retry and ends
// (never an error status, which would stop EventSource for good), and every
// open stream receives its events, then a jittered retry, then its end.
func TestDrain(t *testing.T) {
	const retry = time.Second
	th := startHub(t, hubOptions{server: httpapi.Config{Retry: retry}})
	streams := make([]*stream, 6)
	for i := range streams {
		streams[i] = th.subscribe(t, "topic=a")
	}
	ids := th.publish(t, `{"topic":"a","data":"before"}`)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- th.server.Drain(ctx, 300*time.Millisecond) }()
	waitStatus(t, th.url+"/readyz", http.StatusServiceUnavailable)

	late := th.subscribe(t, "topic=a")
	if late.resp.StatusCode != http.StatusOK || late.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events while draining = %d %q, want 200 text/event-stream", late.resp.StatusCode, late.resp.Header.Get("Content-Type"))
	}
	late.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if e, err := late.r.Next(); err != io.EOF {
		t.Errorf("stream opened while draining: Next = %+v, %v; want the end", e, err)
	}
	checkRetry(t, "stream opened while draining", late, retry)
	th.publish(t, `{"topic":"a","data":"during"}`)

	if err := testenv.Recv(t, "Drain to return", drained); err != nil {
		t.Fatalf("Drain = %v", err)
	}
	retries := map[int]bool{}
	for i, s := range streams {
		if e := s.next(5 * time.Second); e.ID != ids[0] || e.Data != "before" {
			t.Errorf("stream %d first event = %+v, want %s \"before\"", i, e, ids[0])
		}
		// "during" may or may not have been queued before the goodbye.
		e, err := s.r.Next()
		if err == nil && e.Data == "during" {
			e, err = s.r.Next()
		}
		if err != io.EOF {
			t.Errorf("stream %d after its events: %+v, %v; want the end", i, e, err)
		}
		retries[checkRetry(t, "drained stream", s, retry)] = true
	}
	if len(retries) < 2 {
		t.Errorf("retries of %d drained streams = %v, want them jittered", len(streams), retries)
	}
}

// checkRetry checks the last retry the stream sent is within [d/2, 3d/2)
// and returns it in milliseconds.
func checkRetry(t *testing.T, what string, s *stream, d time.Duration) int {
	t.Helper()
	ms, ok := s.r.Retry()
	if got := time.Duration(ms) * time.Millisecond; !ok || got < d/2 || got >= 3*d/2 {
		t.Errorf("%s: retry = %dms (sent: %v), want within [%v, %v)", what, ms, ok, d/2, 3*d/2)
	}
	return ms
}

// waitStatus polls url until it answers status.
func waitStatus(t *testing.T, url string, status int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: not %d within 5s (last %v, %v)", url, status, resp, err)
		}
	}
}
