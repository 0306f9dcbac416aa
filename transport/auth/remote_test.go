package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer is a real HTTP server on a loopback port serving a JWKS at
// /jwks.json that a test can rotate, break (status) or hang, and an OpenID
// Connect discovery document pointing at it.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64 // JWKS requests served or started

	mu     sync.Mutex
	keys   []map[string]string // guarded by mu
	status int                 // guarded by mu: 0 means 200 with keys
	hang   bool                // guarded by mu: hold requests until the client gives up
	issuer string              // guarded by mu: the discovery document's issuer; "" means the server's URL
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	keys, status, hang, issuer := s.keys, s.status, s.hang, s.issuer
	s.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		if issuer == "" {
			issuer = s.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": s.URL + "/jwks.json"})
	case "/jwks.json":
		s.requests.Add(1)
		if hang {
			<-r.Context().Done() // the client's timeout ends it
			return
		}
		if status != 0 {
			http.Error(w, "down", status)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	default:
		http.NotFound(w, r)
	}
}

// set makes the server serve keys from now on.
func (s *jwksServer) set(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.status, s.hang = keys, 0, false
}

func (s *jwksServer) fail(status int, hang bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.hang = status, hang
}

// edKey is an Ed25519 signing key with its kid.
type edKey struct {
	kid  string
	priv ed25519.PrivateKey
}

func newEdKey(t *testing.T, kid string) edKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return edKey{kid, priv}
}

func (k edKey) jwk() map[string]string {
	return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": k.kid, "use": "sig", "x": b64(k.priv.Public().(ed25519.PublicKey))}
}

func (k edKey) token(t *testing.T) string {
	t.Helper()
	return sign(t, jwt.SigningMethodEdDSA, k.priv, k.kid, claims(nil))
}

// fetchLog collects a RemoteJWKS's fetch results for a test to wait on.
type fetchLog chan FetchResult

func (l fetchLog) onFetch(r FetchResult) {
	select {
	case l <- r:
	default: // a test that stopped reading must not stall the refresh goroutine
	}
}

// next returns the next fetch result, failing the test after 10s.
func (l fetchLog) next(t *testing.T) FetchResult {
	t.Helper()
	select {
	case r := <-l:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no fetch within 10s")
		return FetchResult{}
	}
}

// newRemote starts a RemoteJWKS on cfg, closed at the end of the test, and
// a Verifier using it.
func newRemote(t *testing.T, cfg RemoteJWKSConfig) (*RemoteJWKS, *Verifier) {
	t.Helper()
	r, err := NewRemoteJWKS(cfg)
	if err != nil {
		t.Fatalf("NewRemoteJWKS() = %v", err)
	}
	t.Cleanup(r.Close)
	v, err := NewVerifier(Config{Remote: r, Issuer: cfg.Issuer})
	if err != nil {
		t.Fatalf("NewVerifier() = %v", err)
	}
	return r, v
}

func waitLoaded(t *testing.T, r *RemoteJWKS) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
}

// wantCode checks that v.Verify(tok) fails with code ("" for success).
func wantCode(t *testing.T, v *Verifier, name, tok, code string) {
	t.Helper()
	_, err := v.Verify(tok)
	if got := Code(err); got != code {
		t.Errorf("Verify(%s) = %v (code %q), want code %q", name, err, got, code)
	}
}

// TestRemoteJWKSRotation is issue 17's rotation: a token signed by a key
// the provider rotates in is accepted without a restart (the unknown kid
// causes a fetch; the schedule is an hour away), and a retired key stops
// working after the scheduled refresh.
func TestRemoteJWKSRotation(t *testing.T) {
	oldKey, newKey := newEdKey(t, "2025-old"), newEdKey(t, "2026-new")
	srv := newJWKSServer(t, oldKey.jwk())
	_, v := newRemote(t, RemoteJWKSConfig{URL: srv.URL + "/jwks.json", RefreshInterval: time.Hour, UnknownKIDInterval: time.Millisecond})
	r := v.remote
	waitLoaded(t, r)
	wantCode(t, v, "old key", oldKey.token(t), "")

	srv.set(oldKey.jwk(), newKey.jwk())
	wantCode(t, v, "new key after rotation", newKey.token(t), "")
	wantCode(t, v, "old key during rotation", oldKey.token(t), "")
	if st := r.Stats(); st.Keys != 2 {
		t.Errorf("Stats().Keys = %d, want 2", st.Keys)
	}

	// Retirement needs the schedule: a known kid never causes a fetch.
	// A second RemoteJWKS on the same server, refreshing every 20ms.
	log := make(fetchLog, 16)
	r2, v2 := newRemote(t, RemoteJWKSConfig{URL: srv.URL + "/jwks.json", RefreshInterval: 20 * time.Millisecond, UnknownKIDInterval: time.Hour, OnFetch: log.onFetch})
	waitLoaded(t, r2)
	wantCode(t, v2, "old key before retirement", oldKey.token(t), "")
	srv.set(newKey.jwk())
	// The second fetch after set began after it.
	for range 2 {
		if res := log.next(t); res.Err != nil {
			t.Fatalf("fetch: %v", res.Err)
		}
	}
	for len(log) > 0 {
		<-log
	}
	if res := log.next(t); res.Trigger != TriggerSchedule || res.Keys != 1 {
		t.Errorf("fetch after retirement = %+v, want a scheduled fetch of 1 key", res)
	}
	wantCode(t, v2, "retired key", oldKey.token(t), CodeBadSignature)
	wantCode(t, v2, "new key after retirement", newKey.token(t), "")
}

// TestRemoteJWKSKeepsLastGoodSet: a provider answering 500, or not at all,
// leaves the last good set in use, and a request naming an unknown kid
// waits at most about Timeout for the fetch it causes.
func TestRemoteJWKSKeepsLastGoodSet(t *testing.T) {
	key := newEdKey(t, "k1")
	srv := newJWKSServer(t, key.jwk())
	log := make(fetchLog, 64)
	const timeout = 100 * time.Millisecond
	r, v := newRemote(t, RemoteJWKSConfig{URL: srv.URL + "/jwks.json", RefreshInterval: 10 * time.Millisecond, UnknownKIDInterval: time.Millisecond, Timeout: timeout, OnFetch: log.onFetch})
	waitLoaded(t, r)

	for _, tc := range []struct {
		name   string
		status int
		hang   bool
		want   string
	}{
		{"500", http.StatusInternalServerError, false, "500"},
		{"hanging", 0, true, "deadline exceeded"},
	} {
		srv.fail(tc.status, tc.hang)
		for res := log.next(t); res.Err == nil || !strings.Contains(res.Err.Error(), tc.want); res = log.next(t) {
		}
		if res := log.next(t); res.Err == nil || res.Keys != 1 || res.Trigger != TriggerRetry {
			t.Errorf("%s: fetch = %+v, want a failed retry keeping 1 key", tc.name, res)
		}
		wantCode(t, v, tc.name+": known key", key.token(t), "")
		if err := r.Ready(); err != nil {
			t.Errorf("%s: Ready() = %v, want nil with the last good set", tc.name, err)
		}
		start := time.Now()
		wantCode(t, v, tc.name+": unknown kid", newEdKey(t, "k2").token(t), CodeBadSignature)
		// A hang would take forever; 20x the timeout leaves room for a
		// loaded machine (5x failed once under a parallel make test).
		if d := time.Since(start); d > 20*timeout {
			t.Errorf("%s: Verify(unknown kid) took %v, want about Timeout=%v at most", tc.name, d, timeout)
		}
		if st := r.Stats(); st.Failures == 0 || st.Keys != 1 {
			t.Errorf("%s: Stats() = %+v, want failures and 1 key", tc.name, st)
		}
	}
	srv.set(key.jwk())
	for res := log.next(t); res.Err != nil; res = log.next(t) {
	}
}

// TestRemoteJWKSUnknownKIDRateLimit: a flood of tokens with made-up kids
// costs the provider one fetch per UnknownKIDInterval, and every token is
// refused at once.
func TestRemoteJWKSUnknownKIDRateLimit(t *testing.T) {
	key := newEdKey(t, "real")
	srv := newJWKSServer(t, key.jwk())
	r, v := newRemote(t, RemoteJWKSConfig{URL: srv.URL + "/jwks.json", RefreshInterval: time.Hour, UnknownKIDInterval: time.Hour})
	waitLoaded(t, r)

	tokens := make([]string, 200)
	for i := range tokens {
		tokens[i] = sign(t, jwt.SigningMethodEdDSA, key.priv, fmt.Sprintf("made-up-%d", i), claims(nil))
	}
	var wg sync.WaitGroup
	codes := make([]string, len(tokens))
	for i, tok := range tokens {
		wg.Go(func() {
			_, err := v.Verify(tok)
			codes[i] = Code(err)
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != CodeBadSignature {
			t.Fatalf("Verify(token %d with made-up kid) code = %q, want %q", i, c, CodeBadSignature)
		}
	}
	// One fetch at start, at most one for the whole flood.
	if n := srv.requests.Load(); n > 2 {
		t.Errorf("JWKS requests = %d after 200 unknown kids, want at most 2", n)
	}
	wantCode(t, v, "real key", key.token(t), "")
}

// TestRemoteJWKSNoKeysYet: a hub whose provider is down at start refuses
// every token with keys_unavailable (never accepts one), is not ready, and
// picks the keys up once the provider is back.
func TestRemoteJWKSNoKeysYet(t *testing.T) {
	key := newEdKey(t, "k1")
	srv := newJWKSServer(t, key.jwk())
	srv.fail(http.StatusServiceUnavailable, false)
	log := make(fetchLog, 64)
	r, v := newRemote(t, RemoteJWKSConfig{URL: srv.URL + "/jwks.json", RefreshInterval: 20 * time.Millisecond, OnFetch: log.onFetch})
	if res := log.next(t); res.Err == nil || res.Trigger != TriggerStart {
		t.Fatalf("first fetch = %+v, want a failed start", res)
	}
	wantCode(t, v, "token before any key", key.token(t), CodeKeysUnavailable)
	wantCode(t, v, "token without kid", sign(t, jwt.SigningMethodEdDSA, key.priv, "", claims(nil)), CodeKeysUnavailable)
	if err := v.Ready(); !errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Ready() = %v, want ErrNoKeys naming the 503", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := r.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNoKeys) {
		t.Errorf("Wait(short) = %v, want deadline and ErrNoKeys", err)
	}

	srv.set(key.jwk())
	waitLoaded(t, r)
	wantCode(t, v, "token after recovery", key.token(t), "")
	if err := v.Ready(); err != nil {
		t.Errorf("Ready() = %v after recovery", err)
	}
}

// TestRemoteJWKSKeyRules: fetched keys obey the rules of local ones. Keys
// ssehub cannot use are skipped and reported, the others are used, each
// pinned to its algorithm (no RS512 or PS256 with an RS256 key); a set with
// no usable key leaves the last good set.
func TestRemoteJWKSKeyRules(t *testing.T) {
	k := newTestKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ed := newEdKey(t, "ed")
	good := []map[string]string{
		{"kty": "RSA", "kid": "rs", "n": b64(k.rsa.N.Bytes()), "e": "AQAB"},
		ed.jwk(),
	}
	unusable := []map[string]string{
		{"kty": "RSA", "kid": "small", "n": b64(small.N.Bytes()), "e": "AQAB"},
		{"kty": "RSA", "kid": "enc", "use": "enc", "n": b64(k.rsa.N.Bytes()), "e": "AQAB"},
		{"kty": "RSA", "kid": "rs512", "alg": "RS512", "n": b64(k.rsa.N.Bytes()), "e": "AQAB"},
		{"kty": "oct", "kid": "hs", "k": b64([]byte(k.secret))},
		{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(k.ed.Public().(ed25519.PublicKey))}, // duplicate kid
	}
	srv := newJWKSServer(t, append(append([]map[string]string{}, good...), unusable...)...)
	log := make(fetchLog, 64)
	r, v := newRemote(t, RemoteJWKSConfig{URL: srv.URL + "/jwks.json", RefreshInterval: 20 * time.Millisecond, UnknownKIDInterval: time.Hour, OnFetch: log.onFetch})
	res := log.next(t)
	if res.Err != nil || res.Keys != 2 || len(res.Skipped) != len(unusable) {
		t.Fatalf("fetch = %+v, want 2 keys and %d skipped", res, len(unusable))
	}
	for i, want := range []string{`"small": RSA key has 1024 bits`, `"enc": use "enc"`, `"rs512": alg "RS512"`, `"hs": kty "oct"`, `"ed": duplicate`} {
		if got := res.Skipped[i].Error(); !strings.Contains(got, want) {
			t.Errorf("Skipped[%d] = %q, want it to contain %q", i, got, want)
		}
	}

	wantCode(t, v, "RS256", sign(t, jwt.SigningMethodRS256, k.rsa, "rs", claims(nil)), "")
	wantCode(t, v, "RS512 with the RS256 key", sign(t, jwt.SigningMethodRS512, k.rsa, "rs", claims(nil)), CodeWrongAlgorithm)
	wantCode(t, v, "PS256 with the RS256 key", sign(t, jwt.SigningMethodPS256, k.rsa, "rs", claims(nil)), CodeWrongAlgorithm)
	wantCode(t, v, "EdDSA", ed.token(t), "")
	wantCode(t, v, "small key", sign(t, jwt.SigningMethodRS256, small, "small", claims(nil)), CodeBadSignature)
	wantCode(t, v, "HS256 with the oct key", sign(t, jwt.SigningMethodHS256, []byte(k.secret), "hs", claims(nil)), CodeBadSignature)
	wantCode(t, v, "alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rs", claims(nil)), CodeWrongAlgorithm)

	srv.set(unusable[:4]...) // the last is usable once it is no duplicate
	for res = log.next(t); res.Err == nil; res = log.next(t) {
	}
	if !strings.Contains(res.Err.Error(), "no usable key") || res.Keys != 2 {
		t.Errorf("fetch of unusable keys = %+v, want error \"no usable key\" keeping 2 keys", res)
	}
	wantCode(t, v, "EdDSA after a set of unusable keys", ed.token(t), "")
	_ = r
}

// TestRemoteJWKSWithStaticKeys: a URL adds to configured keys.
func TestRemoteJWKSWithStaticKeys(t *testing.T) {
	k := newTestKeys(t)
	ed := newEdKey(t, "remote")
	srv := newJWKSServer(t, ed.jwk())
	r, err := NewRemoteJWKS(RemoteJWKSConfig{URL: srv.URL + "/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitLoaded(t, r)
	v, err := NewVerifier(Config{Keys: []KeyConfig{{Algorithm: HS256, Secret: k.secret}}, Remote: r})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, v, "HS256 secret", sign(t, jwt.SigningMethodHS256, []byte(k.secret), "", claims(nil)), "")
	wantCode(t, v, "remote key", ed.token(t), "")
	wantCode(t, v, "HS256 naming the remote kid", sign(t, jwt.SigningMethodHS256, []byte(k.secret), "remote", claims(nil)), CodeWrongAlgorithm)
}

// TestRemoteJWKSDiscovery: with Issuer, the JWKS URL is the jwks_uri of the
// issuer's discovery document, whose issuer must match.
func TestRemoteJWKSDiscovery(t *testing.T) {
	key := newEdKey(t, "oidc")
	srv := newJWKSServer(t, key.jwk())
	r, v := newRemote(t, RemoteJWKSConfig{Issuer: srv.URL})
	waitLoaded(t, r)
	tok := sign(t, jwt.SigningMethodEdDSA, key.priv, key.kid, claims(jwt.MapClaims{"iss": srv.URL}))
	wantCode(t, v, "token from the issuer", tok, "")
	wantCode(t, v, "token from another issuer", key.token(t), CodeWrongIssuer)

	// A trailing slash in the configuration is the issuer's own spelling.
	other := newJWKSServer(t, key.jwk())
	other.mu.Lock()
	other.issuer = "https://idp.example"
	other.mu.Unlock()
	log := make(fetchLog, 4)
	r2, err := NewRemoteJWKS(RemoteJWKSConfig{Issuer: other.URL, OnFetch: log.onFetch})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if res := log.next(t); res.Err == nil || !strings.Contains(res.Err.Error(), `issuer "https://idp.example"`) || !strings.HasSuffix(res.URL, "/.well-known/openid-configuration") {
		t.Errorf("fetch with a mismatched issuer = %+v, want an issuer error", res)
	}
	if err := r2.Ready(); !errors.Is(err, ErrNoKeys) {
		t.Errorf("Ready() = %v, want ErrNoKeys", err)
	}
}

func TestNewRemoteJWKSErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  RemoteJWKSConfig
		want string
	}{
		{"none", RemoteJWKSConfig{}, "exactly one"},
		{"both", RemoteJWKSConfig{URL: "https://a/jwks", Issuer: "https://a"}, "exactly one"},
		{"plain http", RemoteJWKSConfig{URL: "http://idp.example/jwks"}, "https"},
		{"plain http issuer", RemoteJWKSConfig{Issuer: "http://10.0.0.1"}, "https"},
		{"relative", RemoteJWKSConfig{URL: "/jwks.json"}, "not an absolute URL"},
		{"negative timeout", RemoteJWKSConfig{URL: "https://a/jwks", Timeout: -1}, "negative"},
	} {
		if r, err := NewRemoteJWKS(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			if r != nil {
				r.Close()
			}
			t.Errorf("%s: NewRemoteJWKS() = %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckFetchURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://idp.example/keys", true},
		{"http://localhost:8080/keys", true},
		{"http://127.0.0.1/keys", true},
		{"http://[::1]:9/keys", true},
		{"http://idp.example/keys", false},
		{"http://localhost.evil.example/keys", false},
		{"ftp://idp.example/keys", false},
		{"idp.example/keys", false},
	} {
		if err := checkFetchURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("checkFetchURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

// TestCappedBody: a document over maxDocSize is an error, not truncated.
func TestRemoteJWKSTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[],"pad":"`))
		_, _ = w.Write([]byte(strings.Repeat("x", maxDocSize)))
		_, _ = w.Write([]byte(`"}`))
	}))
	defer srv.Close()
	log := make(fetchLog, 4)
	r, err := NewRemoteJWKS(RemoteJWKSConfig{URL: srv.URL, OnFetch: log.onFetch})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if res := log.next(t); res.Err == nil || !strings.Contains(res.Err.Error(), "longer than") {
		t.Errorf("fetch of an oversized set = %+v, want a size error", res)
	}
}
