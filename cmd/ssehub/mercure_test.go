package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
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
// mercurePublish posts form to the Mercure door of the hub at addr with
// token, and returns the answer's status and body.
func mercurePublish(t *testing.T, client *http.Client, addr, token string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/.well-known/mercure", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

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
		status, body := mercurePublish(t, client, hubs[1].addr, publisher, form)
		if status != 200 || body != form.Get("id") {
			t.Fatalf("publish %d = %d %q", i, status, body)
		}
		return body
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

// TestMercureKeyFiles: --mercure-publisher-jwt-key-file and
// --mercure-subscriber-jwt-key-file verify tokens signed with their
// private keys (ES256 here, RS256 as Mercure's "publisher_jwt KEY RS256"
// would), beside the publisher secret; --mercure-resource is the aud a
// draft-08 access token must carry. Each role takes only its own keys.
func TestMercureKeyFiles(t *testing.T) {
	t.Parallel()
	const resource = "https://hub.example.test/.well-known/mercure"
	pubKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	subKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	_, addr := startServing(t, nil, "--mercure", "--mercure-resource", resource, "--mercure-jwt-algorithm", "ES256",
		"--mercure-publisher-jwt-key-file", writeFile(t, "publisher.pem", pemOf(pubKey)),
		"--mercure-subscriber-jwt-key-file", writeFile(t, "subscriber.pem", pemOf(subKey)),
		"--mercure-publisher-jwt-secret", mercureSecret)
	client := newHTTPClient(t)
	waitReady(t, client, "http://"+addr+"/readyz", 10*time.Second)
	// With a resource identifier, the hub serves its protected resource
	// metadata where RFC 9728 puts it.
	if code, _ := getStatus(t, client, "http://"+addr+"/.well-known/oauth-protected-resource/.well-known/mercure"); code != http.StatusOK {
		t.Errorf("the protected resource metadata: %d, want 200", code)
	}

	// accessToken signs a draft-08 token granting action on every topic.
	accessToken := func(m jwt.SigningMethod, key any, action, aud string) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, jwt.MapClaims{"aud": aud, "exp": time.Now().Add(time.Hour).Unix(),
			"authorization_details": []any{map[string]any{"type": "mercure", "actions": []string{action}, "topics": []any{map[string]any{"match": "*"}}}}})
		tok.Header["typ"] = "at+jwt"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	publish := func(tok string) int {
		t.Helper()
		status, _ := mercurePublish(t, client, addr, tok, url.Values{"topic": {"a"}, "data": {"x"}})
		return status
	}
	for _, tt := range []struct {
		name  string
		token string
		want  int
	}{
		{"ES256 with the publisher key", accessToken(jwt.SigningMethodES256, pubKey, "publish", resource), 200},
		{"HS256 with the publisher secret", accessToken(jwt.SigningMethodHS256, []byte(mercureSecret), "publish", resource), 200},
		{"a draft-07 token with the publisher secret", mercureToken(t, map[string]any{"publish": []string{"*"}}), 200},
		{"the subscriber key does not publish", accessToken(jwt.SigningMethodES256, subKey, "publish", resource), 401},
		{"another hub's aud", accessToken(jwt.SigningMethodES256, pubKey, "publish", "https://other.example.test/.well-known/mercure"), 401},
	} {
		if got := publish(tt.token); got != tt.want {
			t.Errorf("publish with %s: %d, want %d", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct {
		name  string
		token string
		want  int
	}{
		{"ES256 with the subscriber key", accessToken(jwt.SigningMethodES256, subKey, "subscribe", resource), 200},
		// A subscriber key file replaces the publisher keys for
		// subscribers: the roles are apart once both are set.
		{"the publisher key does not subscribe", accessToken(jwt.SigningMethodES256, pubKey, "subscribe", resource), 401},
	} {
		conn, resp := ssetest.OpenPath(t, nil, addr, "/.well-known/mercure?match=a", "Authorization: Bearer "+tt.token)
		if resp.StatusCode != tt.want {
			t.Errorf("subscribe with %s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		conn.Close()
	}
}
