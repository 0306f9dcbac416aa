package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/httpapi"
)

// expectRefusedStream checks a stream over a limit: 200 (any error status
// would stop EventSource for good), a long retry, then the end.
func expectRefusedStream(t *testing.T, s *stream, wantRetry int) {
	t.Helper()
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("refused stream status = %d, want 200 so EventSource retries", s.resp.StatusCode)
	}
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.r.Next(); err != io.EOF {
		t.Fatalf("refused stream: %v, want it to end at once", err)
	}
	if ms, ok := s.r.Retry(); !ok || ms != wantRetry {
		t.Errorf("refused stream retry = %d, %v; want %d", ms, ok, wantRetry)
	}
}

func TestStreamsPerIPAreLimited(t *testing.T) {
	th := startHub(t, hubOptions{server: httpapi.Config{MaxStreamsPerIP: 2, Retry: time.Second}})
	first := th.subscribe(t, "topic=a")
	th.subscribe(t, "topic=b")
	expectRefusedStream(t, th.subscribe(t, "topic=c"), 10000)

	// A stream that ends frees its place.
	first.conn.Close()
	testenv.WaitFor(t, "the closed stream to free its place", func() bool {
		th.publish(t, `{"topic":"a","data":"x"}`) // the write finds the closed peer
		s := th.subscribe(t, "topic=d")
		if s.resp.StatusCode != http.StatusOK {
			return false
		}
		s.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		th.publish(t, `{"topic":"d","data":"y"}`)
		e, err := s.r.Next()
		s.conn.Close()
		return err == nil && e.Data == "y"
	})
}

func TestStreamsPerUserAreLimited(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	th := startHub(t, hubOptions{server: httpapi.Config{Auth: v, MaxStreamsPerUser: 1}})
	alice := mint(t, auth.MintClaims{Subject: "alice"})
	bob := mint(t, auth.MintClaims{Subject: "bob"})
	if s := th.subscribe(t, "", "Authorization: Bearer "+alice); s.resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's first stream = %d", s.resp.StatusCode)
	}
	expectRefusedStream(t, th.subscribe(t, "", "Authorization: Bearer "+alice), 30000)
	if s := th.subscribe(t, "", "Authorization: Bearer "+bob); s.resp.StatusCode != http.StatusOK {
		t.Errorf("bob's stream = %d, want 200: alice's limit is hers", s.resp.StatusCode)
	}
}

// A batch of more events than the publish burst could wait forever without
// passing: it is refused as too large, with no Retry-After to wait for, and
// spends nothing of the credential's rate.
func TestBatchLargerThanTheBurstIsTooLarge(t *testing.T) {
	th := startHub(t, hubOptions{server: httpapi.Config{PublishRate: 5}}) // bursts of 10
	batch := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{"topic":"a","data":"x"}`+",", n), ",") + "]"
	}
	resp, err := http.Post(th.url+"/publish", "application/json", strings.NewReader(batch(11)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), `"code":"`+httpapi.CodeTooLarge+`"`) {
		t.Errorf("batch of 11 at 5/s = %d %s, want 413 %s", resp.StatusCode, body, httpapi.CodeTooLarge)
	}
	if !strings.Contains(string(body), "burst of 10") {
		t.Errorf("batch of 11 at 5/s message = %s, want it to name the burst of 10", body)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		t.Errorf("batch of 11 at 5/s Retry-After = %q, want none: waiting cannot help", ra)
	}
	if ids := th.publish(t, batch(10)); len(ids) != 10 {
		t.Errorf("batch of 10 (the whole burst) after the refusal: %d ids, want 10", len(ids))
	}
}

// A refused stream carries the CORS headers of its origin, like an accepted
// one: without them the browser hides the response, and a cross-origin
// EventSource sees an error instead of the retry: it may never come back.
func TestRefusedStreamCarriesCORSHeaders(t *testing.T) {
	const origin = "https://app.example.com"
	th := startHub(t, hubOptions{server: httpapi.Config{MaxStreamsPerIP: 1, Retry: time.Second, CORSOrigins: []string{origin}}})
	th.subscribe(t, "topic=a", "Origin: "+origin)
	refused := th.subscribe(t, "topic=b", "Origin: "+origin)
	if got := refused.resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("refused stream Access-Control-Allow-Origin = %q, want %q", got, origin)
	}
	expectRefusedStream(t, refused, 10000)
}
