package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/transport/auth"
)

// presenceAPIKey is the fleet's publisher key in the presence tests.
const presenceAPIKey = "presence-fleet-test-api-key-0123456789"

// mintHS256 mints a token signed with testJWTSecret.
func mintHS256(t *testing.T, c auth.MintClaims) string {
	t.Helper()
	tok, err := auth.Mint(auth.KeyConfig{Algorithm: auth.HS256, Secret: testJWTSecret}, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// presenceAnswer is GET /presence?query at addr with a bearer token: the
// status and the body's fields.
func presenceAnswer(client *http.Client, addr, token, query string) (int, map[string]any, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/presence?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	err = json.Unmarshal(raw, &body)
	return resp.StatusCode, body, err
}

// waitPresenceField polls GET /presence?query at addr until field is want
// (as JSON), and returns how long that took; it fails t if it takes longer
// than within.
func waitPresenceField(t *testing.T, client *http.Client, addr, token, query, field, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last map[string]any
	for {
		status, body, err := presenceAnswer(client, addr, token, query)
		if err == nil && status == http.StatusOK {
			got, _ := json.Marshal(body[field])
			if string(got) == want {
				return time.Since(start)
			}
			last = body
		}
		if time.Since(start) > within {
			t.Fatalf("GET %s/presence?%s: %s not %s within %v (last answer %d %v, %v)", addr, query, field, want, within, status, last, err)
		}
		time.Sleep(pollInterval)
	}
}

// Two real hubs on one real Redis: a user who connects to hub A shows on
// hub B within 1 s, is gone within 2 s of closing, and, when hub A is
// killed with -9, within the TTL; a subscriber never sees another user.
func TestFleetPresence(t *testing.T) {
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	const ttl = 3 * time.Second
	hubs := startFleet(t, client, 2, "--redis-url", srv.URL(), "--auth", "jwt", "--jwt-secret", testJWTSecret,
		"--api-keys", presenceAPIKey, "--presence", "--presence-ttl", ttl.String())
	a, b := hubs[0], hubs[1]
	alice := mintHS256(t, auth.MintClaims{Subject: "alice", Subscribe: []string{"room"}})
	bob := mintHS256(t, auth.MintClaims{Subject: "bob", Subscribe: []string{"room"}})

	s := openStream(t, a.addr, "topic=room&token="+alice)
	took := waitPresenceField(t, client, b.addr, presenceAPIKey, "user=alice", "online", "true", time.Second)
	t.Logf("alice's stream on hub A showed on hub B after %v", took)
	waitPresenceField(t, client, b.addr, bob, "topic=room", "users", "1", time.Second)
	if status, body, _ := presenceAnswer(client, b.addr, bob, "user=alice"); status != http.StatusForbidden {
		t.Errorf("bob asking hub B for alice's presence = %d %v, want 403", status, body)
	}

	s.conn.Close()
	took = waitPresenceField(t, client, b.addr, presenceAPIKey, "user=alice", "online", "false", 2*time.Second)
	t.Logf("alice's closed stream left hub B's presence after %v", took)
	waitPresenceField(t, client, b.addr, bob, "topic=room", "streams", "0", 2*time.Second)

	openStream(t, a.addr, "topic=room&token="+alice)
	waitPresenceField(t, client, b.addr, presenceAPIKey, "user=alice", "online", "true", time.Second)
	a.kill(t)
	took = waitPresenceField(t, client, b.addr, presenceAPIKey, "user=alice", "online", "false", ttl+time.Second)
	t.Logf("hub A killed with -9: alice left hub B's presence after %v (--presence-ttl %v)", took, ttl)
}

// While Redis is paused, presence queries answer 503 broker_unavailable
// within a few seconds; once it resumes, what changed meanwhile shows.
func TestFleetPresenceRedisPause(t *testing.T) {
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	client.Timeout = 10 * time.Second
	hubs := startFleet(t, client, 2, "--redis-url", srv.URL(), "--presence", "--presence-ttl", "5s")
	a, b := hubs[0], hubs[1]
	s := openStream(t, a.addr, "topic=room")
	waitPresenceField(t, client, b.addr, "", "topic=room", "streams", "1", time.Second)

	resume := srv.Pause(t)
	start := time.Now()
	status, body, err := presenceAnswer(client, b.addr, "", "topic=room")
	took := time.Since(start)
	if err != nil || status != http.StatusServiceUnavailable || body["error"].(map[string]any)["code"] != "broker_unavailable" || took > 4*time.Second {
		t.Errorf("GET /presence while Redis is paused = %d %v, %v after %v; want 503 broker_unavailable within 4s", status, body, err, took)
	}
	t.Logf("GET /presence while Redis is paused answered %d after %v", status, took)
	s.conn.Close()
	time.Sleep(time.Second) // hub A fails to write the close a few times
	resume()
	took = waitPresenceField(t, client, b.addr, "", "topic=room", "streams", "0", 5*time.Second)
	t.Logf("after Redis resumed, the stream closed during the pause left presence after %v", took)
}

// Join and leave events: a user's first stream on a topic, on any hub,
// is one join on the companion topic, their last one closing one leave,
// in order; a client resumes them with Last-Event-ID like any event; a
// token without the topic's grant may not follow them, and no one may
// publish there.
func TestFleetPresenceEvents(t *testing.T) {
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 2, "--redis-url", srv.URL(), "--auth", "jwt", "--jwt-secret", testJWTSecret,
		"--api-keys", presenceAPIKey, "--presence", "--presence-events", "room,rooms/*")
	a, b := hubs[0], hubs[1]
	alice := mintHS256(t, auth.MintClaims{Subject: "alice", Subscribe: []string{"room"}})
	watcher := mintHS256(t, auth.MintClaims{Subject: "watcher", Subscribe: []string{"room"}})
	bob := mintHS256(t, auth.MintClaims{Subject: "bob", Subscribe: []string{"other"}})

	events := openStream(t, b.addr, "topic=presence:room&token="+watcher)
	onA := openStream(t, a.addr, "topic=room&token="+alice)
	waitPresenceField(t, client, b.addr, presenceAPIKey, "user=alice", "streams", "1", time.Second)
	onB := openStream(t, b.addr, "topic=room&token="+alice)
	waitPresenceField(t, client, b.addr, presenceAPIKey, "user=alice", "streams", "2", time.Second)
	onA.conn.Close()
	waitPresenceField(t, client, b.addr, presenceAPIKey, "user=alice", "streams", "1", 2*time.Second)
	onB.conn.Close()
	waitPresenceField(t, client, b.addr, presenceAPIKey, "user=alice", "online", "false", 2*time.Second)

	join := events.nextEvent(t, 5*time.Second)
	leave := events.nextEvent(t, 5*time.Second)
	wantJoin := "event: ssehub.join\ndata: {\"topic\":\"room\",\"user\":\"alice\"}\n\n"
	wantLeave := "event: ssehub.leave\ndata: {\"topic\":\"room\",\"user\":\"alice\"}\n\n"
	if _, rest, _ := strings.Cut(join, "\n"); rest != wantJoin {
		t.Errorf("first event on presence:room = %q, want the join %q", join, wantJoin)
	}
	if _, rest, _ := strings.Cut(leave, "\n"); rest != wantLeave {
		t.Errorf("second event on presence:room = %q, want the leave %q", leave, wantLeave)
	}
	joinID := strings.TrimPrefix(strings.SplitN(join, "\n", 2)[0], "id: ")
	resumed := openStream(t, a.addr, "topic=presence:room&token="+watcher, "Last-Event-ID: "+joinID)
	if got := resumed.nextEvent(t, 5*time.Second); got != leave {
		t.Errorf("resume of presence:room after the join on the other hub = %q, want the leave %q", got, leave)
	}

	conn, resp := ssetest.Open(t, nil, a.addr, "topic=presence:room&token="+bob)
	conn.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob (no grant for room) following presence:room = %d, want 403", resp.StatusCode)
	}
	if code, body := postJSON(t, client, a.addr, presenceAPIKey, `{"topic":"presence:room","data":"forged"}`); code != http.StatusBadRequest || !strings.Contains(body, "invalid_topic") {
		t.Errorf("publishing to presence:room = %d %s, want 400 invalid_topic", code, body)
	}
}
