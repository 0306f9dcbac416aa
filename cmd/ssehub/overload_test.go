package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/sockopt"
)

// TestFleetOverloadIsShared: streams that stop reading pause the one shard
// of hub1, which tells the fleet through Redis; hub0, which has no stream
// at all, then refuses publishes with 503 overloaded. Once hub1 has evicted
// the stuck streams (--stall-timeout), hub0 accepts publishes again.
func TestFleetOverloadIsShared(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 2, "--redis-url", srv.URL(), "--shards", "1", "--queue-size", "4",
		"--send-buffer", "4096", "--write-timeout", "1m", "--stall-timeout", "2s", "--publish-wait", "0")
	d := net.Dialer{Control: sockopt.RecvBuffer(4096)}
	for range 3 {
		conn, err := d.Dial("tcp", hubs[1].addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := conn.Write([]byte("GET /events?topic=big HTTP/1.1\r\nHost: ssehub\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(fleetTimeout))
		if _, err := conn.Read(make([]byte, 64)); err != nil { // open; it never reads again
			t.Fatal(err)
		}
	}

	post := func() (int, string, http.Header) {
		t.Helper()
		body := `{"topic":"big","data":"` + strings.Repeat("x", 16<<10) + `"}`
		resp, err := client.Post("http://"+hubs[0].addr+"/publish", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var e struct{ Error struct{ Code string } }
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, e.Error.Code, resp.Header
	}
	refused := false
	for i := 0; i < 300 && !refused; i++ {
		switch status, code, header := post(); {
		case status == http.StatusOK:
		case status == http.StatusServiceUnavailable && code == "overloaded" && header.Get("Retry-After") == "1":
			refused = true
		default:
			t.Fatalf("publish on hub0 = %d %q", status, code)
		}
	}
	if !refused {
		t.Fatal("hub0 accepted 300 events of 16 KiB for 3 streams of hub1 that read nothing; want 503 overloaded")
	}
	metrics := scrapeMetrics(t, client, hubs[0].addr)
	if !strings.Contains(metrics, "\nssehub_shard_paused{shard=\"0\"} 0\n") {
		t.Errorf("hub0's own shard is paused; the refusal should come from hub1's")
	}
	if strings.Contains(metrics, "\nssehub_publishes_refused_total 0\n") {
		t.Errorf("hub0's ssehub_publishes_refused_total is 0 after a refusal")
	}

	poll(t, "hub0 to accept publishes again once hub1 evicted its stuck streams", func() (bool, string) {
		status, code, _ := post()
		return status == http.StatusOK, code
	})
	if m := scrapeMetrics(t, client, hubs[1].addr); !strings.Contains(m, "\nssehub_stream_disconnects_total{reason=\"slow\"} 3\n") {
		t.Errorf("hub1 did not evict the 3 stuck streams as slow")
	}
}

// scrapeMetrics returns the hub's /metrics text.
func scrapeMetrics(t *testing.T, client *http.Client, addr string) string {
	t.Helper()
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return "\n" + string(raw)
}
