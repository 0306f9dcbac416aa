package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer is an identity provider's key endpoint on a loopback port,
// serving whatever keys it is given, or failing while down.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey // by kid
	down bool
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: map[string]*ecdsa.PrivateKey{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		for kid, k := range s.keys {
			set.Keys = append(set.Keys, map[string]string{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
				"x": base64.RawURLEncoding.EncodeToString(k.X.FillBytes(make([]byte, 32))),
				"y": base64.RawURLEncoding.EncodeToString(k.Y.FillBytes(make([]byte, 32)))})
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

// rotate adds a new key under kid, and removes the one under retire.
func (s *jwksServer) rotate(t *testing.T, kid, retire string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[kid] = k
	delete(s.keys, retire)
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// token signs a subscriber token for alice with the key kid.
func (s *jwksServer) token(t *testing.T, kid string, key *ecdsa.PrivateKey) string {
	t.Helper()
	if key == nil {
		s.mu.Lock()
		key = s.keys[kid]
		s.mu.Unlock()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// A hub with --jwt-jwks-url takes rotated keys without a restart, starts
// not ready while the provider is down, and serves once it is back.
func TestJWKSURLRotationWithTheBinary(t *testing.T) {
	t.Parallel()
	idp := newJWKSServer(t)
	idp.rotate(t, "k1", "")
	idp.setDown(true)
	_, addr := startServing(t, nil, "--auth", "jwt", "--jwt-jwks-url", idp.URL+"/jwks.json", "--jwt-jwks-unknown-kid-refresh", "100ms")
	client := newHTTPClient(t)
	status := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var body struct{ Error struct{ Code string } }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body.Error.Code
		}
		return resp.StatusCode, ""
	}
	if code, _ := getStatus(t, client, "http://"+addr+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the provider down since start = %d, want 503", code)
	}
	if code, errCode := status(idp.token(t, "k1", nil)); code != http.StatusUnauthorized || errCode != "keys_unavailable" {
		t.Errorf("a token before any key was fetched = %d %q, want 401 keys_unavailable", code, errCode)
	}
	idp.setDown(false)
	waitReady(t, client, "http://"+addr+"/readyz", 10*time.Second)
	if code, errCode := status(idp.token(t, "k1", nil)); code != http.StatusOK {
		t.Errorf("a token signed with k1 = %d %q, want 200", code, errCode)
	}
	idp.mu.Lock()
	old := idp.keys["k1"]
	idp.mu.Unlock()
	idp.rotate(t, "k2", "k1")
	// k2 is unknown to the hub: the token makes it fetch the set again.
	if code, errCode := status(idp.token(t, "k2", nil)); code != http.StatusOK {
		t.Errorf("a token signed with the rotated-in k2 = %d %q, want 200 without a restart", code, errCode)
	}
	if code, errCode := status(idp.token(t, "k1", old)); code != http.StatusUnauthorized || !strings.Contains(errCode, "signature") {
		t.Errorf("a token signed with the retired k1 = %d %q, want 401 bad_signature", code, errCode)
	}
}

// getStatus GETs url and returns its status and body.
func getStatus(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A hub with --mercure-publisher-jwks-url (Mercure's publisher_jwks_url)
// verifies Mercure publishers' tokens with the keys of the URL, takes a
// rotated-in key without a restart, and refuses a key the set does not
// hold.
func TestMercureJWKSURL(t *testing.T) {
	t.Parallel()
	idp := newJWKSServer(t)
	idp.rotate(t, "k1", "")
	_, addr := startServing(t, nil, "--mercure", "--mercure-anonymous", "--mercure-publisher-jwks-url", idp.URL+"/jwks.json",
		"--jwt-jwks-unknown-kid-refresh", "100ms")
	client := newHTTPClient(t)
	waitReady(t, client, "http://"+addr+"/readyz", 10*time.Second)
	publish := func(kid string, key *ecdsa.PrivateKey) int {
		t.Helper()
		if key == nil {
			idp.mu.Lock()
			key = idp.keys[kid]
			idp.mu.Unlock()
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}})
		tok.Header["kid"] = kid
		signed, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		status, _ := mercurePublish(t, client, addr, signed, url.Values{"topic": {"a"}, "data": {"x"}})
		return status
	}
	if got := publish("k1", nil); got != http.StatusOK {
		t.Errorf("a token signed with the set's k1 = %d, want 200", got)
	}
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if got := publish("k1", stranger); got != http.StatusUnauthorized {
		t.Errorf("a token signed with another key under k1 = %d, want 401", got)
	}
	idp.rotate(t, "k2", "k1")
	if got := publish("k2", nil); got != http.StatusOK {
		t.Errorf("a token signed with the rotated-in k2 = %d, want 200 without a restart", got)
	}
}
