package mercure_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/sse"
)

// subscriber is one stream of the door, read as EventSource does.
type subscriber struct {
	resp *http.Response
	r    *sse.Reader
	conn net.Conn
}

func subscribe(t *testing.T, hubURL, query string, headers ...string) subscriber {
	t.Helper()
	u, err := url.Parse(hubURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, resp := ssetest.OpenPath(t, nil, u.Host, u.Path+"?"+query, headers...)
	return subscriber{resp: resp, r: sse.NewReader(resp.Body), conn: conn}
}

// next reads the next event, failing after a second.
func (s subscriber) next(t *testing.T) sse.Event {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(time.Second))
	ev, err := s.r.Next()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return ev
}

// nothing checks that no event comes within a short while.
func (s subscriber) nothing(t *testing.T, who string) {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if ev, err := s.r.Next(); err == nil {
		t.Errorf("%s got %+v, want nothing", who, ev)
	}
}

// TestDraft07Subscribe checks draft-07 §3 and §4 (selectors, private
// updates, text/event-stream), §6 (where the token comes from), §6.5
// (private updates only with a matching subscribe selector) and §7
// (reconnection and the Last-Event-ID response header) against a real
// hub over sockets.
func TestDraft07Subscribe(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	hubURL := serveDoorWith(t, b, mercure.Config{Anonymous: true})
	books := "https://example.com/books/{id}"
	reader := token(t, map[string]any{"subscribe": []string{books}})
	publisher := token(t, map[string]any{"publish": []string{"*"}})
	template := "topic=" + url.QueryEscape(books)

	granted := subscribe(t, hubURL, template, "Authorization: Bearer "+reader)
	anonymous := subscribe(t, hubURL, template)
	cookie := subscribe(t, hubURL, "topic=*", "Cookie: mercureAuthorization="+reader)
	for name, s := range map[string]subscriber{"granted": granted, "anonymous": anonymous, "cookie": cookie} {
		if s.resp.StatusCode != 200 || !strings.HasPrefix(s.resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%s: %d %s, want a 200 event stream (§4)", name, s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
		}
	}
	pub := func(form url.Values) string {
		t.Helper()
		got := post(t, hubURL, http.Header{"Authorization": {"Bearer " + publisher}}, form)
		if got.status != 200 {
			t.Fatalf("publish %v = %d %q", form, got.status, got.body)
		}
		return got.body
	}
	first := pub(url.Values{"topic": {"https://example.com/books/1"}, "data": {"public"}, "id": {"urn:1"}})
	pub(url.Values{"topic": {"https://example.com/books/2"}, "data": {"private"}, "private": {"on"}, "id": {"urn:2"}})
	pub(url.Values{"topic": {"https://example.com/authors/1"}, "data": {"elsewhere"}, "id": {"urn:3"}})
	pub(url.Values{"topic": {"https://example.com/authors/2"}, "data": {"secret elsewhere"}, "private": {""}})

	for _, want := range [][2]string{{"urn:1", "public"}, {"urn:2", "private"}} {
		if ev := granted.next(t); ev.ID != want[0] || ev.Data != want[1] {
			t.Errorf("the granted template stream got %+v, want id %s data %s", ev, want[0], want[1])
		}
	}
	granted.nothing(t, "the granted template stream, after its two updates")
	if ev := anonymous.next(t); ev.ID != "urn:1" || ev.Data != "public" {
		t.Errorf("the anonymous stream got %+v, want the public update", ev)
	}
	anonymous.nothing(t, "the anonymous stream, after the public update (§4: private ones never)")
	// topic=* takes every update, but a private one only when a grant
	// matches: the books template does not match the authors topic.
	for _, want := range []string{"public", "private", "elsewhere"} {
		if ev := cookie.next(t); ev.Data != want {
			t.Errorf("the * stream with the cookie token got %+v, want %s", ev, want)
		}
	}
	cookie.nothing(t, "the * stream, after the private update no grant matches")

	// §7: a reconnection from the first update's id gets the rest, and a
	// head that says where it resumed from.
	resumed := subscribe(t, hubURL, template, "Authorization: Bearer "+reader, "Last-Event-ID: "+first)
	if got := resumed.resp.Header.Get("Mercure-Last-Event-ID"); got != first {
		t.Errorf("Mercure-Last-Event-ID of a resume from %s = %q", first, got)
	}
	if ev := resumed.next(t); ev.ID != "urn:2" {
		t.Errorf("the resumed stream got %+v first, want urn:2", ev)
	}
	unknown := subscribe(t, hubURL, template+"&lastEventID=urn:unknown", "Authorization: Bearer "+reader)
	if got := unknown.resp.Header.Get("Mercure-Last-Event-ID"); got != "earliest" {
		t.Errorf("Mercure-Last-Event-ID of a resume from an unknown id = %q, want earliest", got)
	}
}

// TestDraft07SubscribeRefusals: requests the door refuses before a
// stream opens, each with its status and challenge.
func TestDraft07SubscribeRefusals(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	hubURL := serveDoor(t, b) // no anonymous subscribers
	expired := signed(t, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix(), "mercure": map[string]any{"subscribe": []string{"*"}}})
	checkRefusals(t, hubURL, []refusal{
		{"§6 no token and no anonymous subscribers", "topic=a", "", 401, "Bearer"},
		{"§6 an expired token", "topic=a", "Authorization: Bearer " + expired, 401, `Bearer error="invalid_token"`},
		{"draft-08 §3 reserved match namespace", "match_regex=a", "", 400, ""},
		{"no selector", "x=1", "", 400, ""},
	})
}

// refusal is a subscription request the door refuses before a stream
// opens: its query, one header line (or none), and the answer's status
// and WWW-Authenticate challenge.
type refusal struct {
	name, query, header string
	status              int
	challenge           string
}

// checkRefusals makes each request of cases, in a subtest of its name.
func checkRefusals(t *testing.T, hubURL string, cases []refusal) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.header != "" {
				headers = append(headers, tt.header)
			}
			s := subscribe(t, hubURL, tt.query, headers...)
			if s.resp.StatusCode != tt.status || s.resp.Header.Get("WWW-Authenticate") != tt.challenge {
				t.Errorf("answer %d, WWW-Authenticate %q; want %d, %q", s.resp.StatusCode, s.resp.Header.Get("WWW-Authenticate"), tt.status, tt.challenge)
			}
		})
	}
}

// TestDraft08Matchers checks draft-08 §3 and §4 (match, match_exact and
// match_urlpattern) over sockets: a URL pattern matches topics by their
// canonical form, exact matchers byte for byte.
func TestDraft08Matchers(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	hubURL := serveDoorWith(t, b, mercure.Config{Anonymous: true})
	s := subscribe(t, hubURL, "match_urlpattern="+url.QueryEscape("https://example.com/books/:id")+
		"&match_exact="+url.QueryEscape("https://example.com/authors/1"))
	publisher := token(t, map[string]any{"publish": []string{"*"}})
	for _, topic := range []string{"https://example.com/books/7", "https://example.com/authors/2",
		"HTTPS://EXAMPLE.com:443/books/8", "https://example.com/authors/1", "https://example.com/books/7/chapters"} {
		if got := post(t, hubURL, http.Header{"Authorization": {"Bearer " + publisher}}, url.Values{"topic": {topic}, "data": {topic}}); got.status != 200 {
			t.Fatalf("publish to %s = %d %q", topic, got.status, got.body)
		}
	}
	for _, want := range []string{"https://example.com/books/7", "HTTPS://EXAMPLE.com:443/books/8", "https://example.com/authors/1"} {
		if ev := s.next(t); ev.Data != want {
			t.Errorf("got %q, want %q (§4.2: a non-canonical topic matches by its canonical form)", ev.Data, want)
		}
	}
	s.nothing(t, "the matcher stream, after the three matching updates")
}

// TestResumedHeadCORS: a stream's head has the CORS headers of its
// origin, whether or not it says where it resumed from (draft-08 §7),
// and exposes Mercure-Last-Event-ID to the page.
func TestResumedHeadCORS(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	const app = "https://app.example.com"
	hubURL := serveDoorWith(t, b, mercure.Config{Anonymous: true, CORSOrigins: []string{app}})
	for _, tt := range []struct {
		name, origin, lastEventID, wantFrom, wantOrigin string
	}{
		{"fresh", app, "", "", app},
		{"resumed", app, "urn:unknown", "earliest", app},
		{"resumed, same origin", "", "urn:unknown", "earliest", ""},
		{"resumed, origin not allowed", "https://evil.example.com", "urn:unknown", "earliest", ""},
	} {
		var headers []string
		if tt.origin != "" {
			headers = append(headers, "Origin: "+tt.origin)
		}
		if tt.lastEventID != "" {
			headers = append(headers, "Last-Event-ID: "+tt.lastEventID)
		}
		s := subscribe(t, hubURL, "topic=urn:a", headers...)
		h := s.resp.Header
		if s.resp.StatusCode != 200 || h.Get("Mercure-Last-Event-ID") != tt.wantFrom || h.Get("Last-Event-ID") != tt.wantFrom {
			t.Errorf("%s: %d, Mercure-Last-Event-ID %q, Last-Event-ID %q; want 200, %q", tt.name, s.resp.StatusCode,
				h.Get("Mercure-Last-Event-ID"), h.Get("Last-Event-ID"), tt.wantFrom)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", tt.name, got, tt.wantOrigin)
		}
		if tt.wantOrigin != "" && !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Mercure-Last-Event-ID") {
			t.Errorf("%s: Access-Control-Expose-Headers %q, want Mercure-Last-Event-ID in it", tt.name, h.Get("Access-Control-Expose-Headers"))
		}
	}
}
