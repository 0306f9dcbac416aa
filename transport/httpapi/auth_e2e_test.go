package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/acl"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/httpapi"
)

const testSecret = "0123456789abcdef0123456789abcdef-test-only"

var testKey = auth.KeyConfig{Algorithm: auth.HS256, Secret: testSecret}

func startAuthHub(t *testing.T) *testHub {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	public, err := acl.NewGrant([]string{"public/*"})
	if err != nil {
		t.Fatal(err)
	}
	return startHub(t, hubOptions{server: httpapi.Config{Auth: v, PublicTopics: public}})
}

func mint(t *testing.T, c auth.MintClaims) string {
	t.Helper()
	tok, err := auth.Mint(testKey, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// errorCode returns the status and JSON error code of a refused stream.
func errorCode(t *testing.T, s *stream) (int, string) {
	t.Helper()
	return statusAndCode(s.resp)
}

// statusAndCode returns resp's status and the code of its JSON error body
// ("" if it has none).
func statusAndCode(resp *http.Response) (int, string) {
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal(body, &e)
	return resp.StatusCode, e.Error.Code
}

// publishAs posts body with an optional bearer token and returns the status
// and error code.
func publishAs(t *testing.T, th *testHub, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, th.url+"/publish", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return statusAndCode(resp)
}

func TestUsersCannotReachOtherUsersTopics(t *testing.T) {
	th := startAuthHub(t)
	alice := mint(t, auth.MintClaims{Subject: "alice", Subscribe: []string{"news/*"}})
	for _, query := range []string{"topic=user/bob", "topic=user/*", "topic=*", "topic=user/b*", "topic=*bob", "topic=user/alice*"} {
		s := th.subscribe(t, query, "Authorization: Bearer "+alice)
		if status, code := errorCode(t, s); status != http.StatusForbidden || code != httpapi.CodeForbiddenTopic {
			t.Errorf("alice subscribing %s = %d %q, want 403 %q", query, status, code, httpapi.CodeForbiddenTopic)
		}
	}
	// No topic at all: alice gets her private topic, by header, cookie or query.
	streams := []*stream{
		th.subscribe(t, "", "Authorization: Bearer "+alice),
		th.subscribe(t, "", "Cookie: other=1; ssehub_token="+alice),
		th.subscribe(t, "token="+alice+"&topic=news/eu"),
	}
	publisher := mint(t, auth.MintClaims{Publish: []string{"*"}})
	if status, _ := publishAs(t, th, publisher, `{"topic":"user/bob","data":"for bob"}`); status != http.StatusOK {
		t.Fatalf("publish = %d", status)
	}
	if status, _ := publishAs(t, th, publisher, `{"topic":"user/alice","data":"for alice"}`); status != http.StatusOK {
		t.Fatalf("publish = %d", status)
	}
	for i, s := range streams {
		if s.resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: status %d", i, s.resp.StatusCode)
		}
		s.expectData("for alice") // and not bob's, which came first
	}
}

func TestBadTokensAreRefused(t *testing.T) {
	th := startAuthHub(t)
	b64 := base64.RawURLEncoding.EncodeToString
	none := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"alice","exp":9999999999}`)) + "."
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	future, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "nbf": time.Now().Add(time.Hour).Unix(), "exp": time.Now().Add(2 * time.Hour).Unix()}).SignedString([]byte(testSecret))
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("another secret of at least 32 bytes!!"))
	for _, tc := range []struct{ name, header, code string }{
		{"no token", "", auth.CodeMissingToken},
		{"alg none", "Authorization: Bearer " + none, auth.CodeWrongAlgorithm},
		{"expired", "Authorization: Bearer " + expired, auth.CodeTokenExpired},
		{"not yet valid", "Authorization: Bearer " + future, auth.CodeTokenNotYetValid},
		{"bad signature", "Authorization: Bearer " + forged, auth.CodeBadSignature},
		{"malformed", "Authorization: Bearer abc.def", auth.CodeMalformedToken},
		{"other scheme", "Authorization: Basic YWxpY2U6eA==", auth.CodeMalformedToken},
	} {
		var headers []string
		if tc.header != "" {
			headers = append(headers, tc.header)
		}
		s := th.subscribe(t, "topic=news/eu", headers...)
		if status, code := errorCode(t, s); status != http.StatusUnauthorized || code != tc.code {
			t.Errorf("%s: subscribe = %d %q, want 401 %q", tc.name, status, code, tc.code)
		}
	}
	// Public topics need no token.
	if s := th.subscribe(t, "topic=public/status"); s.resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous subscribe to a public topic = %d, want 200", s.resp.StatusCode)
	}
}

func TestPublishersNeedAPublishGrant(t *testing.T) {
	th := startAuthHub(t)
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", http.StatusUnauthorized, auth.CodeMissingToken},
		{"subscriber token", mint(t, auth.MintClaims{Subject: "alice", Subscribe: []string{"*"}}), http.StatusForbidden, httpapi.CodeForbiddenTopic},
		{"other topic", mint(t, auth.MintClaims{Publish: []string{"sports/*"}}), http.StatusForbidden, httpapi.CodeForbiddenTopic},
		{"granted", mint(t, auth.MintClaims{Publish: []string{"news/*"}}), http.StatusOK, ""},
	} {
		status, code := publishAs(t, th, tc.token, `{"topic":"news/eu","data":"x"}`)
		if status != tc.status || code != tc.code {
			t.Errorf("%s: publish = %d %q, want %d %q", tc.name, status, code, tc.status, tc.code)
		}
	}
}

// A refused topic is named by at most 64 bytes of it, the same as every
// other input quoted in an error.
func TestForbiddenTopicIsQuotedShortly(t *testing.T) {
	th := startAuthHub(t)
	long := strings.Repeat("t", topic.MaxLen)
	token := mint(t, auth.MintClaims{Subject: "alice", Subscribe: []string{"news/*"}, Publish: []string{"news/*"}})
	req, _ := http.NewRequest(http.MethodPost, th.url+"/publish", strings.NewReader(`{"topic":"`+long+`","data":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := th.subscribe(t, "topic="+long, "Authorization: Bearer "+token)
	for what, resp := range map[string]*http.Response{"publish": resp, "subscribe": s.resp} {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), long[:65]) || !strings.Contains(string(body), `\"...`) {
			t.Errorf("%s to a %d-byte topic not granted = %d %s, want 403 quoting at most 64 bytes of it", what, len(long), resp.StatusCode, body)
		}
	}
}

// A stream ends once its token expires, so that its client reconnects with
// a fresh one; a stream without expiry in sight stays open.
func TestStreamEndsWhenItsTokenExpires(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	th := startHub(t, hubOptions{
		hub:    hub.Config{Shards: 1, Shard: shard.Config{Heartbeat: 160 * time.Millisecond}},
		server: httpapi.Config{Auth: v},
	})
	short := mint(t, auth.MintClaims{Subject: "alice", TTL: time.Second})
	long := mint(t, auth.MintClaims{Subject: "bob"})
	expiring := th.subscribe(t, "", "Authorization: Bearer "+short)
	lasting := th.subscribe(t, "", "Authorization: Bearer "+long)
	expiring.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := expiring.r.Next(); err != nil {
			if err != io.EOF {
				t.Fatalf("expiring stream: %v, want the end of the stream", err)
			}
			break
		}
	}
	// The shard counts the reason just after closing the connection. A
	// failure names the reasons counted instead (a CI run once counted
	// none as token_expired, on a machine overloaded by other jobs).
	for deadline := time.Now().Add(testenv.Timeout); th.hub.Stats()[0].Ended[shard.ReasonTokenExpired] != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			counted := map[string]uint64{}
			for r, n := range th.hub.Stats()[0].Ended {
				if n > 0 {
					counted[shard.Reason(r).String()] = n
				}
			}
			t.Fatalf("the stream was not counted as ended by token expiry within %v; streams ended by reason: %v", testenv.Timeout, counted)
		}
	}
	lasting.expectQuiet(300 * time.Millisecond)
	if err := lasting.conn.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestAPIKeysAndPublishRate(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	const key = "static-publisher-key-0123456789"
	th := startHub(t, hubOptions{server: httpapi.Config{Auth: v, APIKeys: []string{key}, PublishRate: 5}})
	batch := "[" + strings.TrimSuffix(strings.Repeat(`{"topic":"any/where","data":"x"},`, 10), ",") + "]"
	if status, code := publishAs(t, th, key, batch); status != http.StatusOK {
		t.Fatalf("API key publishing a burst of 10 at 5/s = %d %q, want 200", status, code)
	}
	if status, code := publishAs(t, th, key, `{"topic":"a","data":"x"}`); status != http.StatusTooManyRequests || code != httpapi.CodeRateLimited {
		t.Errorf("publishing beyond the burst = %d %q, want 429 %q", status, code, httpapi.CodeRateLimited)
	}
	// Another credential has a bucket of its own.
	other := mint(t, auth.MintClaims{Subject: "svc", Publish: []string{"*"}})
	if status, code := publishAs(t, th, other, `{"topic":"a","data":"x"}`); status != http.StatusOK {
		t.Errorf("another publisher = %d %q, want 200", status, code)
	}
	if status, code := publishAs(t, th, "static-publisher-key-wrong", `{"topic":"a","data":"x"}`); status != http.StatusUnauthorized || code != httpapi.CodeInvalidAPIKey {
		t.Errorf("a wrong API key = %d %q, want 401 %q", status, code, httpapi.CodeInvalidAPIKey)
	}
	if status, code := publishAs(t, th, "a.b.c", `{"topic":"a","data":"x"}`); status != http.StatusUnauthorized || code != auth.CodeMalformedToken {
		t.Errorf("a malformed token = %d %q, want 401 %q", status, code, auth.CodeMalformedToken)
	}
}

// With an RS256 key, an HS256 token "signed" with the public key's PEM
// bytes (the classic algorithm confusion) is refused, and so are tokens for
// another issuer or audience.
func TestAlgorithmConfusionAndIssuerAudience(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(path, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{
		Keys:   []auth.KeyConfig{{Algorithm: auth.RS256, PEMFile: path}},
		Issuer: "https://issuer.example", Audience: "ssehub"})
	if err != nil {
		t.Fatal(err)
	}
	th := startHub(t, hubOptions{server: httpapi.Config{Auth: v}})
	claims := func(iss, aud string) jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "iss": iss, "aud": aud, "exp": time.Now().Add(time.Hour).Unix()}
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(jwt.SigningMethodRS256, priv, claims("https://issuer.example", "ssehub"))
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"valid RS256", good, http.StatusOK, ""},
		{"HS256 with the public key as secret", sign(jwt.SigningMethodHS256, pubPEM, claims("https://issuer.example", "ssehub")), http.StatusUnauthorized, auth.CodeWrongAlgorithm},
		{"wrong issuer", sign(jwt.SigningMethodRS256, priv, claims("https://evil.example", "ssehub")), http.StatusUnauthorized, auth.CodeWrongIssuer},
		{"wrong audience", sign(jwt.SigningMethodRS256, priv, claims("https://issuer.example", "other")), http.StatusUnauthorized, auth.CodeWrongAudience},
	} {
		s := th.subscribe(t, "", "Authorization: Bearer "+tc.token)
		if tc.status == http.StatusOK {
			if s.resp.StatusCode != http.StatusOK {
				t.Errorf("%s: status %d, want 200", tc.name, s.resp.StatusCode)
			}
			continue
		}
		if status, code := errorCode(t, s); status != tc.status || code != tc.code {
			t.Errorf("%s: subscribe = %d %q, want %d %q", tc.name, status, code, tc.status, tc.code)
		}
	}
}

// A user's stream that names no topic follows user/<sub>, and resumes like
// any other: Last-Event-ID (or lastEventId) replays what it missed. It
// used to be ignored, a silent loss.
func TestTokenOnlyStreamResumes(t *testing.T) {
	th := startAuthHub(t)
	alice := mint(t, auth.MintClaims{Subject: "alice"})
	publisher := mint(t, auth.MintClaims{Subject: "backend", Publish: []string{"user/*"}})
	publish := func(data string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, th.url+"/publish", strings.NewReader(`{"topic":"user/alice","data":"`+data+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+publisher)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ IDs []string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.IDs) != 1 {
			t.Fatalf("publish %s = %d (%v)", data, resp.StatusCode, err)
		}
		return out.IDs[0]
	}

	s := th.subscribe(t, "", "Authorization: Bearer "+alice)
	e1 := publish("e1")
	s.expectData("e1")
	s.conn.Close()
	publish("e2")
	publish("e3")

	for _, resume := range []struct {
		name, query string
		headers     []string
	}{
		{"Last-Event-ID header", "", []string{"Authorization: Bearer " + alice, "Last-Event-ID: " + e1}},
		{"lastEventId query", "lastEventId=" + e1, []string{"Authorization: Bearer " + alice}},
	} {
		t.Run(resume.name, func(t *testing.T) {
			s := th.subscribe(t, resume.query, resume.headers...)
			s.t = t
			s.expectData("e2", "e3")
			s.conn.Close()
		})
	}
}
