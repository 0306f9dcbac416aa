package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// The resume memory test (issue 16, item 5): a resume over 250 MB of
// Redis history must raise the hub's RSS by less than 16 MiB, however much
// it replays, because history is read and written a page at a time.
const (
	resumeTopics    = 8
	resumeEvents    = 1000     // per topic: the default --history-size
	resumeEventSize = 32 << 10 // bytes of data per event
	resumeBatch     = 200      // events per publish request
	resumeRSSLimit  = 16 << 20 // the most a resume may add to the hub's RSS
	resumeTimeout   = 60 * time.Second
)

func TestResumeOverLargeHistoryKeepsHubMemoryBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the hub's RSS from /proc")
	}
	srv := redistest.Start(t)
	// History is published through one hub and resumed from another, so
	// the memory publishing took does not hide what the resume takes.
	fleet := []string{"--redis-url", srv.URL(), "--publish-rate", "-1",
		"--max-body-size", strconv.Itoa(resumeBatch * (resumeEventSize + 64))}
	_, addr := startServing(t, nil, fleet...)
	p, resumeAddr := startServing(t, nil, fleet...)
	client := &http.Client{Timeout: resumeTimeout}
	waitReady(t, client, "http://"+addr+"/readyz", fleetTimeout)
	waitReady(t, client, "http://"+resumeAddr+"/readyz", fleetTimeout)

	var topics []string
	for i := range resumeTopics {
		topics = append(topics, fmt.Sprintf("big/%d", i))
	}
	from := mustPublish(t, client, addr, topics[0], "resume from here").id
	published := make(map[string]bool, resumeTopics*resumeEvents)
	// Each batch spreads over every topic, so the replay merges them. The
	// JSON is written by hand: encoding/json under the race detector would
	// take seconds of the test's time.
	pad := strings.Repeat("x", resumeEventSize)
	publishStart := time.Now()
	var body []byte
	for i := range resumeTopics * resumeEvents {
		if i%resumeBatch == 0 {
			body = append(body[:0], '[')
		} else {
			body = append(body, ',')
		}
		tag := fmt.Sprintf("event %d ", i)
		body = fmt.Appendf(body, `{"topic":%q,"data":"%s%s"}`, topics[i%resumeTopics], tag, pad[len(tag):])
		if i%resumeBatch == resumeBatch-1 {
			for _, id := range publishBatch(t, client, addr, append(body, ']'), resumeBatch) {
				published[id] = true
			}
		}
	}
	if len(published) != resumeTopics*resumeEvents {
		t.Fatalf("published %d distinct ids, want %d", len(published), resumeTopics*resumeEvents)
	}

	t.Logf("published %d events of %d KiB in %v", len(published), resumeEventSize>>10, time.Since(publishStart).Round(time.Millisecond))

	pid := p.cmd.Process.Pid
	before := procStatus(t, pid, "VmRSS")
	// Resets VmHWM to the current RSS, so that it holds the peak of the
	// resume alone. Sampling VmRSS below covers a kernel that refuses.
	hwmReset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	peak := sampleRSS(t, pid)

	query := "topic=" + strings.Join(topics, "&topic=")
	conn, resp := ssetest.Open(t, nil, resumeAddr, query, "Last-Event-ID: "+from)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events?%s = %d, want 200", query, resp.StatusCode)
	}
	conn.SetReadDeadline(time.Now().Add(resumeTimeout))
	start := time.Now()
	got, err := readIDs(resp.Body, len(published))
	elapsed := time.Since(start)
	maxSampled := peak()
	if err != nil {
		t.Fatalf("reading the resumed stream after %d events: %v", len(got), err)
	}

	rise := maxSampled - before
	if hwmReset {
		rise = max(rise, procStatus(t, pid, "VmHWM")-before)
	}
	t.Logf("resumed %d events of %d KiB in %v; hub RSS %d MiB before, rose by %.1f MiB (VmHWM reset: %v)",
		len(got), resumeEventSize>>10, elapsed.Round(time.Millisecond), before>>20, float64(rise)/(1<<20), hwmReset)
	if rise >= resumeRSSLimit {
		t.Errorf("resume over %d MB of history raised hub RSS by %.1f MiB, want less than %d MiB",
			resumeTopics*resumeEvents*resumeEventSize/1000000, float64(rise)/(1<<20), resumeRSSLimit>>20)
	}
	var last eventid.ID
	for i, s := range got {
		id, err := eventid.Parse(s)
		if err != nil || !published[s] || !last.Less(id) {
			t.Fatalf("resumed event %d has id %q (after %v): want each published id once, in order", i, s, last)
		}
		last = id
	}
}

// publishBatch publishes the JSON array of n events in body in one
// request and returns their ids.
func publishBatch(t *testing.T, client *http.Client, addr string, body []byte, n int) []string {
	t.Helper()
	resp, err := client.Post("http://"+addr+"/publish", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /publish (%d events): %v", n, err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct{ IDs []string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || len(out.IDs) != n {
		t.Fatalf("POST /publish (%d events) = %d %.300s, want 200 with %d ids", n, resp.StatusCode, raw, n)
	}
	return out.IDs
}

// readIDs reads SSE frames from r until it has n events, and returns
// their ids. It reads lines itself rather than with an SSE parser: 250 MB
// under the race detector would take most of the test's time.
func readIDs(r io.Reader, n int) ([]string, error) {
	br := bufio.NewReaderSize(r, 2*resumeEventSize)
	ids := make([]string, 0, n)
	for len(ids) < n {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return ids, err
		}
		if id, ok := bytes.CutPrefix(line, []byte("id: ")); ok {
			ids = append(ids, string(bytes.TrimSuffix(id, []byte("\n"))))
		}
	}
	return ids, nil
}

// procStatus returns a size field of /proc/<pid>/status in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %q: %v", pid, field, line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// sampleRSS samples the VmRSS of pid every few milliseconds in its own
// goroutine until the returned function is called, which stops it and
// returns the largest sample.
func sampleRSS(t *testing.T, pid int) (stop func() int64) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var peak int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				if _, v, ok := strings.Cut(string(b), "VmRSS:"); ok {
					v, _, _ = strings.Cut(v, "kB")
					if kb, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
						peak = max(peak, kb<<10)
					}
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	stopped := sync.OnceValue(func() int64 {
		close(done)
		wg.Wait()
		return peak
	})
	t.Cleanup(func() { stopped() })
	return stopped
}
