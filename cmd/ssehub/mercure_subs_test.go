package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/transport/sse"
)

// TestMercureSubscriptionsBinary: three hubs with --mercure-subscriptions
// on one Redis. A subscription on hub 0 is announced to a subscriber on
// hub 1 and listed by hub 1's API; hub 0 stopped with SIGTERM announces
// its end before it exits; hub 2 killed with -9 has its subscription's
// end announced by a survivor within --presence-ttl.
func TestMercureSubscriptionsBinary(t *testing.T) {
	t.Parallel()
	client := newHTTPClient(t)
	srv := redistest.Start(t)
	const ttl = 2 * time.Second
	hubs := startFleet(t, client, 3, "--redis-url", srv.URL(), "--mercure", "--mercure-anonymous", "--mercure-subscriptions",
		"--mercure-publisher-jwt-secret", mercureSecret, "--presence-ttl", ttl.String(), "--drain-window", "0")
	const events = "/.well-known/mercure/subscriptions"
	watcher := mercureToken(t, map[string]any{"subscribe": []string{events, events + "/{topic}/{subscriber}"}})
	conn, resp := ssetest.OpenPath(t, nil, hubs[1].addr, "/.well-known/mercure?topic="+url.QueryEscape(events+"/{topic}/{subscriber}"),
		"Authorization: Bearer "+watcher)
	if resp.StatusCode != 200 {
		t.Fatalf("watcher: %d", resp.StatusCode)
	}
	r := sse.NewReader(resp.Body)
	type doc struct {
		ID, Topic string
		Active    bool
	}
	next := func(topic string) doc {
		t.Helper()
		for deadline := time.Now().Add(fleetTimeout); ; {
			conn.SetReadDeadline(deadline)
			ev, err := r.Next()
			if err != nil {
				t.Fatalf("waiting for an event of %s: %v", topic, err)
			}
			var d doc
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
				t.Fatalf("event %q: %v", ev.Data, err)
			}
			if d.Topic == topic {
				return d
			}
		}
	}
	open := func(i int, topic string) {
		t.Helper()
		if _, resp := ssetest.OpenPath(t, nil, hubs[i].addr, "/.well-known/mercure?topic="+url.QueryEscape(topic)); resp.StatusCode != 200 {
			t.Fatalf("subscribe on hub %d: %d", i, resp.StatusCode)
		}
	}

	open(0, "https://example.com/a")
	created := next("https://example.com/a")
	if !created.Active {
		t.Fatalf("hub 1's watcher got %+v, want the subscription on hub 0 active", created)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+hubs[1].addr+events, nil)
	req.Header.Set("Authorization", "Bearer "+watcher)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var c struct{ Subscriptions []doc }
	if err := json.Unmarshal(body, &c); res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/ld+json" || err != nil {
		t.Fatalf("GET %s on hub 1 = %d %s %s", events, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	listed := false
	for _, d := range c.Subscriptions {
		listed = listed || d.ID == created.ID
	}
	if !listed {
		t.Errorf("hub 1's API does not list hub 0's subscription %s: %s", created.ID, body)
	}

	if err := hubs[0].proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ended := next("https://example.com/a"); ended.ID != created.ID || ended.Active {
		t.Errorf("after hub 0's SIGTERM: %+v, want the end of %s", ended, created.ID)
	}
	hubs[0].proc.wait(t, fleetTimeout)

	open(2, "https://example.com/b")
	if d := next("https://example.com/b"); !d.Active {
		t.Fatalf("got %+v, want the subscription on hub 2 active", d)
	}
	hubs[2].kill(t)
	start := time.Now()
	if d := next("https://example.com/b"); d.Active {
		t.Errorf("after hub 2's kill -9: %+v, want its end", d)
	}
	if took := time.Since(start); took > ttl+time.Second {
		t.Errorf("a killed hub's subscription ended after %v, want within --presence-ttl %v and a second", took, ttl)
	}
}
