package mercure_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/apitest"
	"github.com/ssehub/ssehub/transport/mercure"
)

// TestMercureRedisStalls: a dependency that stalls. While Redis is paused,
// a publish through the door answers 503 with a text message within its
// timeout, and a stream resuming by publisher id (whose lookup needs
// Redis) is not opened with a wrong Mercure-Last-Event-ID; once Redis
// answers again, the same publish succeeds and the stream resumes.
func TestMercureRedisStalls(t *testing.T) {
	b, srv, _ := apitest.StallableRedis(t, 200*time.Millisecond, 8)
	hubURL := serveDoorWith(t, b, mercure.Config{Anonymous: true, PublishTimeout: time.Second})
	publisher := token(t, map[string]any{"publish": []string{"*"}})
	bearer := http.Header{"Authorization": {"Bearer " + publisher}}
	if got := post(t, hubURL, bearer, url.Values{"topic": {"a"}, "data": {"before"}, "id": {"urn:before"}}); got.status != 200 {
		t.Fatalf("publish before the stall = %d %q", got.status, got.body)
	}

	resume := srv.Pause(t)
	start := time.Now()
	got := post(t, hubURL, bearer, url.Values{"topic": {"a"}, "data": {"stalled"}, "id": {"urn:stalled"}})
	if got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "broker") {
		t.Errorf("publish while Redis stalls = %d %q, want 503 saying the broker did not answer", got.status, got.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refused publish took %v, want about its 1s timeout", d)
	}
	resume()

	s := subscribe(t, hubURL, "topic=a", "Last-Event-ID: urn:before")
	if h := s.resp.Header.Get("Mercure-Last-Event-ID"); s.resp.StatusCode != 200 || h != "urn:before" {
		t.Fatalf("resume after the stall: %d, Mercure-Last-Event-ID %q", s.resp.StatusCode, h)
	}
	// The stalled publish was refused, not lost: Redis may still have run
	// it once it answered (a 503 says "may or may not"), so the stream
	// gets it at most once, then the next.
	if got := post(t, hubURL, bearer, url.Values{"topic": {"a"}, "data": {"after"}, "id": {"urn:after"}}); got.status != 200 {
		t.Fatalf("publish after the stall = %d %q", got.status, got.body)
	}
	ev := s.next(t)
	if ev.ID == "urn:stalled" {
		ev = s.next(t)
	}
	if ev.ID != "urn:after" {
		t.Errorf("the resumed stream got %+v, want urn:after (after urn:stalled at most once)", ev)
	}
}
