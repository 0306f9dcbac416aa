package main

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/transport/sse"
)

const mercureSecret = "0123456789abcdef0123456789abcdef-mercure-fleet"

// mercureToken signs a draft-07 token with the mercure claim claim.
func mercureToken(t *testing.T, claim map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"mercure": claim}).SignedString([]byte(mercureSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMercureFleet: two hubs with --mercure on one Redis. A subscriber
// of a URI template on the first hub gets the public updates and the
// private ones its token is granted, published through the second; it
// disconnects while updates go on, reconnects through the second hub with
// the last publisher id it saw, and gets the rest: nothing lost, nothing
// repeated, in order, with Mercure-Last-Event-ID saying where it resumed.
func TestMercureFleet(t *testing.T) {
	t.Parallel()
	client := newHTTPClient(t)
	srv := redistest.Start(t)
	hubs := startFleet(t, client, 2, "--redis-url", srv.URL(), "--mercure", "--mercure-publisher-jwt-secret", mercureSecret)
	publisher := mercureToken(t, map[string]any{"publish": []string{"*"}})
	reader := mercureToken(t, map[string]any{"subscribe": []string{"https://example.com/books/{id}"}})
	target := "/.well-known/mercure?topic=" + url.QueryEscape("https://example.com/books/{id}")

	publish := func(i int) string {
		t.Helper()
		form := url.Values{"topic": {"https://example.com/books/" + strconv.Itoa(i%3)}, "data": {"update " + strconv.Itoa(i)},
			"id": {"urn:update:" + strconv.Itoa(i)}}
		if i%2 == 1 {
			form.Set("private", "on")
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+hubs[1].addr+"/.well-known/mercure", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+publisher)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != form.Get("id") {
			t.Fatalf("publish %d = %d %q", i, resp.StatusCode, body)
		}
		return string(body)
	}
	read := func(r *sse.Reader, conn interface{ SetReadDeadline(time.Time) error }, want ...int) {
		t.Helper()
		for _, i := range want {
			conn.SetReadDeadline(time.Now().Add(fleetTimeout))
			ev, err := r.Next()
			if err != nil {
				t.Fatalf("waiting for update %d: %v", i, err)
			}
			if ev.ID != "urn:update:"+strconv.Itoa(i) || ev.Data != "update "+strconv.Itoa(i) {
				t.Fatalf("got %q %q, want update %d", ev.ID, ev.Data, i)
			}
		}
	}

	conn, resp := ssetest.OpenPath(t, nil, hubs[0].addr, target, "Authorization: Bearer "+reader)
	if resp.StatusCode != 200 {
		t.Fatalf("subscribe through the first hub: %d", resp.StatusCode)
	}
	var all []int
	for i := range 10 {
		publish(i)
		all = append(all, i)
	}
	read(sse.NewReader(resp.Body), conn, all...)
	conn.Close()
	for i := 10; i < 20; i++ {
		publish(i)
		all = append(all, i)
	}
	conn, resp = ssetest.OpenPath(t, nil, hubs[1].addr, target, "Authorization: Bearer "+reader, "Last-Event-ID: urn:update:9")
	if got := resp.Header.Get("Mercure-Last-Event-ID"); resp.StatusCode != 200 || got != "urn:update:9" {
		t.Fatalf("resume through the second hub: %d, Mercure-Last-Event-ID %q", resp.StatusCode, got)
	}
	r := sse.NewReader(resp.Body)
	read(r, conn, all[10:]...)
	publish(20)
	read(r, conn, 20)

	// Every update went through the second hub's door, and is counted there
	// apart from the native door's.
	m := scrapeText(t, client, "http://"+hubs[1].addr+"/metrics")
	for _, want := range []string{`ssehub_events_published_total{door="mercure"} 21`, `ssehub_events_published_total{door="native"} 0`} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("the second hub's /metrics has no line %q", want)
		}
	}
}
