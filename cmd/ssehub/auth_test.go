package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/transport/auth"
)

const testJWTSecret = "0123456789abcdef0123456789abcdef-cli-test"

// mintWithCLI runs `ssehub token` and returns the token it prints.
func mintWithCLI(t *testing.T, args ...string) string {
	t.Helper()
	p := startSSEHub(t, []string{"SSEHUB_JWT_SECRET=" + testJWTSecret}, append([]string{"token"}, args...)...)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("ssehub token %q exit code = %d; stderr:\n%s", args, code, p.stderr.String())
	}
	tok := strings.TrimSpace(p.stdout.String())
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("ssehub token printed %q, want a JWT", tok)
	}
	return tok
}

// The README's auth walk-through: a hub with --auth jwt, a user token from
// `ssehub token`, the private topic user/<sub>, and a publisher token.
func TestAuthWithMintedTokens(t *testing.T) {
	_, addr := startServing(t, nil, "--auth", "jwt", "--jwt-secret", testJWTSecret)
	alice := mintWithCLI(t, "--sub", "alice", "--subscribe", "news/*")
	publisher := mintWithCLI(t, "--publish", "*")

	s := openStream(t, addr, "token="+alice) // no topic: user/alice
	client := newHTTPClient(t)
	req := `{"topic":"user/alice","data":"hi alice"}`
	code, body := postJSON(t, client, addr, "", req)
	if code != 401 || !strings.Contains(body, auth.CodeMissingToken) {
		t.Errorf("publish without a token = %d %s, want 401 %s", code, body, auth.CodeMissingToken)
	}
	if code, body := postJSON(t, client, addr, publisher, req); code != 200 {
		t.Fatalf("publish with a token = %d %s, want 200", code, body)
	}
	if ev := s.nextEvent(t, 5*time.Second); !strings.Contains(ev, "data: hi alice") {
		t.Errorf("alice got %q, want her event", ev)
	}
}

func TestTokenCommandNeedsASecret(t *testing.T) {
	p := startSSEHub(t, nil, "token", "--sub", "alice")
	if code := p.wait(t, 10*time.Second); code != 2 || !strings.Contains(p.stderr.String(), "--jwt-secret") {
		t.Errorf("ssehub token without a secret: exit %d, stderr %q; want 2 naming --jwt-secret", code, p.stderr.String())
	}
}

// postJSON posts body to /publish with an optional bearer token and returns
// the status and the response body.
func postJSON(t *testing.T, client *http.Client, addr, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/publish", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}
