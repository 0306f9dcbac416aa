package mercure_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/sse"
)

// The MUSTs of both Mercure generations that apply to a hub, one row each,
// named by the section of the draft that states it and checked against a
// real hub over sockets, on the embedded broker and on a real
// redis-server. draft-07 is the generation deployed apps speak
// (draft-dunglas-mercure-07); draft-08 is the current draft
// (draft-dunglas-mercure-08), whose sections are numbered as in its
// text: §2 Terminology, §3 Subscription, §4 Matcher Types, §5
// Publication, §6 Authorization, §7 Reconnection, §8 Active
// Subscriptions. docs/mercure.md, "Conformance", lists what is not
// checked here and why.

// must is one requirement of a draft and its check.
type must struct {
	section string // "§6.4", as the draft numbers it
	rule    string // what the hub must do, in a few words
	check   func(t *testing.T, h *conformanceHub)
}

// TestDraft07 checks the hub against draft-07's MUSTs.
func TestDraft07(t *testing.T) { runMusts(t, draft07) }

// TestDraft08 checks the hub against draft-08's MUSTs.
func TestDraft08(t *testing.T) { runMusts(t, draft08) }

func runMusts(t *testing.T, musts []must) {
	for _, kind := range brokerKinds {
		t.Run(kind.name, func(t *testing.T) {
			// The hub's URL is its resource identifier: relative
			// patterns and topics resolve against it (draft-08 §4.2).
			h := &conformanceHub{url: serveDoorWith(t, kind.new(t), mercure.Config{Resource: testResource})}
			h.publisher = token(t, map[string]any{"publish": []string{"*"}})
			h.nobody = token(t, map[string]any{})
			for _, m := range musts {
				t.Run(m.section+" "+m.rule, func(t *testing.T) { m.check(t, h) })
			}
		})
	}
}

// conformanceHub is a hub serving the door (no anonymous subscribers), and
// what its checks share. Each check takes topics of its own (base), so
// that the checks of one hub do not see each other's updates.
type conformanceHub struct {
	url       string
	publisher string // a draft-07 token that may publish to any topic
	nobody    string // a draft-07 token that grants nothing: public updates only
	n         int
}

// base returns a topic prefix no other check uses.
func (h *conformanceHub) base() string {
	h.n++
	return "https://example.com/" + strconv.Itoa(h.n)
}

// bearerLine is an Authorization header line for tok.
func bearerLine(tok string) string { return "Authorization: Bearer " + tok }

// stream opens a stream, failing unless the hub answers 200 with an event
// stream.
func (h *conformanceHub) stream(t *testing.T, query string, headers ...string) subscriber {
	t.Helper()
	s := subscribe(t, h.url, query, headers...)
	if s.resp.StatusCode != http.StatusOK || !strings.HasPrefix(s.resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET ?%s = %d %s, want a 200 event stream", query, s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
	}
	return s
}

// publish publishes form with the publisher's token, failing unless the
// hub answers 200; it returns the update's id.
func (h *conformanceHub) publish(t *testing.T, form url.Values) string {
	t.Helper()
	got := h.post(t, bearerLine(h.publisher), form)
	if got.status != http.StatusOK {
		t.Fatalf("publish %v = %d %q", form, got.status, got.body)
	}
	return got.body
}

// post posts form with header lines ("Name: value").
func (h *conformanceHub) post(t *testing.T, header string, form url.Values) answer {
	t.Helper()
	hd := http.Header{}
	if name, value, ok := strings.Cut(header, ": "); ok {
		hd.Set(name, value)
	}
	return post(t, h.url, hd, form)
}

// refused checks that a request was refused with status (and challenge,
// when not empty).
func refused(t *testing.T, got answer, status int, challenge string) {
	t.Helper()
	if got.status != status || challenge != "" && got.challenge != challenge {
		t.Errorf("answer %d %q, WWW-Authenticate %q; want %d %s", got.status, got.body, got.challenge, status, challenge)
	}
}

// expect reads the next event and checks its data.
func (s subscriber) expect(t *testing.T, data string) sse.Event {
	t.Helper()
	ev := s.next(t)
	if ev.Data != data {
		t.Fatalf("got %+v, want data %q", ev, data)
	}
	return ev
}

// form is a publication form of the fields kv (name, value, name, ...).
func form(kv ...string) url.Values {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

// q is a query of the parameters kv (name, value, ...), escaped.
func q(kv ...string) string { return form(kv...).Encode() }

// tokenExpiring signs a draft-07 token granting sub that expires at exp.
func tokenExpiring(t *testing.T, sub []string, exp time.Time) string {
	t.Helper()
	return signed(t, jwt.MapClaims{"exp": exp.Unix(), "mercure": map[string]any{"subscribe": sub}})
}

// endsBy checks that the stream ends (its server closes it) by deadline,
// skipping the events that come before.
func (s subscriber) endsBy(t *testing.T, deadline time.Time) {
	t.Helper()
	s.conn.SetReadDeadline(deadline)
	for {
		if _, err := s.r.Next(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("the stream did not end by %s: %v", deadline.Format(time.TimeOnly), err)
			}
			return
		}
	}
}

var draft07 = []must{
	{"§2", "the hub is at the well-known path /.well-known/mercure", func(t *testing.T, h *conformanceHub) {
		if !strings.HasSuffix(h.url, "/.well-known/mercure") {
			t.Fatalf("the door is served at %s", h.url)
		}
		h.stream(t, q("topic", h.base()), bearerLine(h.nobody))
	}},
	{"§3", "the selector * matches every topic", func(t *testing.T, h *conformanceHub) {
		s := h.stream(t, q("topic", "*"), bearerLine(h.nobody))
		h.publish(t, form("topic", h.base()+"/any", "data", "x"))
		s.expect(t, "x")
	}},
	{"§3", "a selector matches the string identical to it, a URI template included", func(t *testing.T, h *conformanceHub) {
		tpl := h.base() + "/{id}"
		s := h.stream(t, q("topic", tpl), bearerLine(h.nobody))
		h.publish(t, form("topic", tpl, "data", "the template itself"))
		s.expect(t, "the template itself")
	}},
	{"§3", "a URI template matches the topics it expands to, and no other", func(t *testing.T, h *conformanceHub) {
		b := h.base()
		s := h.stream(t, q("topic", b+"/books/{id}"), bearerLine(h.nobody))
		h.publish(t, form("topic", b+"/authors/1", "data", "no"))
		h.publish(t, form("topic", b+"/books/1", "data", "yes"))
		s.expect(t, "yes")
	}},
	{"§4", "updates are sent as text/event-stream events", func(t *testing.T, h *conformanceHub) {
		s := h.stream(t, q("topic", h.base()), bearerLine(h.nobody))
		if ct := s.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("Content-Type %q", ct)
		}
	}},
	{"§4", "a private update is never dispatched to a subscriber not authorized to receive it", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("topic", topic), bearerLine(h.nobody))
		h.publish(t, form("topic", topic, "data", "secret", "private", "on"))
		h.publish(t, form("topic", topic, "data", "public"))
		s.expect(t, "public")
	}},
	{"§4", "the data property holds the new version of the topic", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("topic", topic), bearerLine(h.nobody))
		h.publish(t, form("topic", topic, "data", "line 1\nline 2\n\nline 4"))
		s.expect(t, "line 1\nline 2\n\nline 4")
	}},
	{"§4", "the SSE id, event and retry properties are supported", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("topic", topic), bearerLine(h.nobody))
		h.publish(t, form("topic", topic, "data", "x", "id", "urn:x", "type", "changed", "retry", "2500"))
		ev := s.expect(t, "x")
		if ms, _ := s.r.Retry(); ev.ID != "urn:x" || ev.Type != "changed" || ms != 2500 {
			t.Errorf("id %q, event %q, retry %d; want urn:x, changed, 2500", ev.ID, ev.Type, ms)
		}
	}},
	{"§5", "a form-encoded publish succeeds with the update's id as the body", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("topic", topic), bearerLine(h.nobody))
		id := h.publish(t, form("topic", topic, "data", "x"))
		if ev := s.expect(t, "x"); ev.ID != id {
			t.Errorf("the publish answered %q, the event's id is %q", id, ev.ID)
		}
	}},
	{"§5", "an update reaches the subscribers of its canonical and of its alternate topics", func(t *testing.T, h *conformanceHub) {
		canonical, alternate := h.base(), h.base()
		a := h.stream(t, q("topic", canonical), bearerLine(h.nobody))
		b := h.stream(t, q("topic", alternate), bearerLine(h.nobody))
		h.publish(t, form("topic", canonical, "topic", alternate, "data", "both"))
		a.expect(t, "both")
		b.expect(t, "both")
	}},
	{"§5", "the hub generates an IRI id when the publisher gives none", func(t *testing.T, h *conformanceHub) {
		id := h.publish(t, form("topic", h.base(), "data", "x"))
		if u, err := url.Parse(id); err != nil || !strings.HasPrefix(id, "#") || u.Fragment == "" {
			t.Errorf("generated id %q, want a relative IRI of a fragment", id)
		}
	}},
	{"§5", "a publisher's id starting with # is refused, and nothing is dispatched", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("topic", topic), bearerLine(h.nobody))
		refused(t, h.post(t, bearerLine(h.publisher), form("topic", topic, "id", "#1-0", "data", "x")), http.StatusBadRequest, "")
		s.nothing(t, "a subscriber of the topic")
	}},
	{"§5, §6.4", "the publisher must be authorized", func(t *testing.T, h *conformanceHub) {
		got := h.post(t, "", form("topic", h.base(), "data", "x"))
		refused(t, got, http.StatusUnauthorized, "")
		if !strings.HasPrefix(got.challenge, "Bearer") {
			t.Errorf("WWW-Authenticate %q, want a Bearer challenge", got.challenge)
		}
	}},
	{"§6", "the Authorization header's token is used; the query parameter's and the cookie's are ignored", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		granted := token(t, map[string]any{"subscribe": []string{topic}})
		refused(t, post(t, h.url+"?"+q("authorization", h.publisher), http.Header{"Authorization": {"Bearer " + h.nobody}},
			form("topic", topic, "data", "x")), http.StatusForbidden, "")
		s := h.stream(t, q("topic", topic, "authorization", granted), bearerLine(h.nobody), "Cookie: mercureAuthorization="+granted)
		h.publish(t, form("topic", topic, "data", "secret", "private", "on"))
		h.publish(t, form("topic", topic, "data", "public"))
		s.expect(t, "public")
	}},
	{"§6", "without the header, the authorization query parameter's token is used; the cookie's is ignored", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		granted := token(t, map[string]any{"subscribe": []string{topic}})
		ignored := h.stream(t, q("topic", topic, "authorization", h.nobody), "Cookie: mercureAuthorization="+granted)
		used := h.stream(t, q("topic", topic, "authorization", granted), "Cookie: mercureAuthorization="+h.nobody)
		h.publish(t, form("topic", topic, "data", "secret", "private", "on"))
		h.publish(t, form("topic", topic, "data", "public"))
		ignored.expect(t, "public")
		used.expect(t, "secret")
	}},
	{"§6.1", "the header holds Bearer and the token; another form is refused without falling back", func(t *testing.T, h *conformanceHub) {
		refused(t, post(t, h.url+"?"+q("authorization", h.publisher), http.Header{"Authorization": {"Basic " + h.publisher}},
			form("topic", h.base(), "data", "x")), http.StatusBadRequest, `Bearer error="invalid_request"`)
	}},
	{"§6.4", "a token without mercure.publish may not publish", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("topic", topic), bearerLine(h.nobody))
		refused(t, h.post(t, bearerLine(token(t, map[string]any{"subscribe": []string{"*"}})), form("topic", topic, "data", "x")), http.StatusForbidden, "")
		s.nothing(t, "a subscriber of the topic")
	}},
	{"§6.4", "a token whose mercure.publish is empty may not publish", func(t *testing.T, h *conformanceHub) {
		refused(t, h.post(t, bearerLine(token(t, map[string]any{"publish": []string{}})), form("topic", h.base(), "data", "x")), http.StatusForbidden, "")
	}},
	{"§6.4", "every topic must match a publish selector, else 403 and nothing is dispatched", func(t *testing.T, h *conformanceHub) {
		allowed, other := h.base(), h.base()
		s := h.stream(t, q("topic", allowed), bearerLine(h.nobody))
		refused(t, h.post(t, bearerLine(token(t, map[string]any{"publish": []string{allowed}})), form("topic", allowed, "topic", other, "data", "x")),
			http.StatusForbidden, "")
		s.nothing(t, "a subscriber of the allowed topic")
	}},
	{"§6.5", "a private update reaches a subscriber whose subscribe selector matches one of its topics, canonical or alternate", func(t *testing.T, h *conformanceHub) {
		b := h.base()
		// The draft's own example: the grant names the user's alternate
		// topic, the subscription the books.
		reader := token(t, map[string]any{"subscribe": []string{b + "/users/foo/{?topic}"}})
		s := h.stream(t, q("topic", b+"/books/{id}"), bearerLine(reader))
		h.publish(t, form("topic", b+"/books/2", "data", "not for foo", "private", "on"))
		h.publish(t, form("topic", b+"/books/1", "topic", b+"/users/foo/?topic="+url.QueryEscape(b+"/books/1"), "data", "for foo", "private", "on"))
		s.expect(t, "for foo")
	}},
	{"§6.5", "the connection is closed when the token expires", func(t *testing.T, h *conformanceHub) {
		exp := time.Now().Add(2 * time.Second)
		s := h.stream(t, q("topic", h.base()), bearerLine(tokenExpiring(t, []string{"*"}, exp)))
		s.endsBy(t, exp.Add(3*time.Second))
	}},
	{"§7", "every event has an id", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("topic", topic), bearerLine(h.nobody))
		h.publish(t, form("topic", topic, "data", "x"))
		if ev := s.expect(t, "x"); ev.ID == "" {
			t.Error("an event without an id")
		}
	}},
	{"§7", "the last event id is taken from the lastEventID query parameter", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		first := h.publish(t, form("topic", topic, "data", "1"))
		h.publish(t, form("topic", topic, "data", "2"))
		h.stream(t, q("topic", topic, "lastEventID", first), bearerLine(h.nobody)).expect(t, "2")
	}},
	{"§7", "the Last-Event-ID header takes precedence over the query parameter", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		first := h.publish(t, form("topic", topic, "data", "1"))
		second := h.publish(t, form("topic", topic, "data", "2"))
		h.publish(t, form("topic", topic, "data", "3"))
		h.stream(t, q("topic", topic, "lastEventID", first), bearerLine(h.nobody), "Last-Event-ID: "+second).expect(t, "3")
	}},
	{"§7", "a resume answers Last-Event-ID: the id of the event before the first one sent", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		first := h.publish(t, form("topic", topic, "data", "1", "id", "urn:"+topic+":1"))
		h.publish(t, form("topic", topic, "data", "2"))
		s := h.stream(t, q("topic", topic), bearerLine(h.nobody), "Last-Event-ID: "+first)
		if got := s.resp.Header.Get("Last-Event-ID"); got != first {
			t.Errorf("Last-Event-ID %q, want %q", got, first)
		}
		s.expect(t, "2")
	}},
	{"§7", "a resume answers Last-Event-ID: earliest when no event precedes (unknown id, earliest, empty history)", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		for _, asked := range []string{"urn:unknown", "earliest"} {
			s := h.stream(t, q("topic", topic, "lastEventID", asked), bearerLine(h.nobody))
			if got := s.resp.Header.Get("Last-Event-ID"); got != "earliest" {
				t.Errorf("resume from %s: Last-Event-ID %q, want earliest", asked, got)
			}
		}
	}},
}

var draft08 = []must{
	{"§2", "a topic holding a control character is refused", func(t *testing.T, h *conformanceHub) {
		refused(t, h.post(t, bearerLine(h.publisher), form("topic", h.base()+"/a\x01b", "data", "x")), http.StatusBadRequest, "")
		refused(t, h.post(t, bearerLine(h.publisher), form("topic", h.base()+"/a\u0085b", "data", "x")), http.StatusBadRequest, "")
	}},
	{"§3", "a name in the reserved match namespace that names no matcher type is 400", func(t *testing.T, h *conformanceHub) {
		for _, name := range []string{"match_regex", "matchUrlPattern", "MATCH", "matches"} {
			s := subscribe(t, h.url, q(name, h.base()), bearerLine(h.nobody))
			if s.resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", name, s.resp.StatusCode)
			}
		}
	}},
	{"§3", "a matcher that is not UTF-8 or holds a control character is 400", func(t *testing.T, h *conformanceHub) {
		for _, query := range []string{"match=a%FFb", "match=a%0Ab", "match=a%7Fb", "match=a%C2%9Fb"} {
			if s := subscribe(t, h.url, query, bearerLine(h.nobody)); s.resp.StatusCode != http.StatusBadRequest {
				t.Errorf("?%s: %d, want 400", query, s.resp.StatusCode)
			}
		}
	}},
	{"§3", "a request over the hub's matcher limit is 400", func(t *testing.T, h *conformanceHub) {
		var kv []string
		for i := range mercure.DefaultMaxSelectors + 1 {
			kv = append(kv, "match", h.base()+"/"+strconv.Itoa(i))
		}
		if s := subscribe(t, h.url, q(kv...), bearerLine(h.nobody)); s.resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%d matchers: %d, want 400", mercure.DefaultMaxSelectors+1, s.resp.StatusCode)
		}
	}},
	{"§3", "a private update is never dispatched to a subscriber not authorized to receive it", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("match", topic), bearerLine(h.nobody))
		h.publish(t, form("topic", topic, "data", "secret", "private", ""))
		h.publish(t, form("topic", topic, "data", "public"))
		s.expect(t, "public")
	}},
	{"§4", "both matcher types are supported, in one request", func(t *testing.T, h *conformanceHub) {
		b := h.base()
		s := h.stream(t, q("match", b+"/exact", "matchURLPattern", b+"/books/:id"), bearerLine(h.nobody))
		h.publish(t, form("topic", b+"/exact", "data", "exact"))
		h.publish(t, form("topic", b+"/books/1", "data", "pattern"))
		s.expect(t, "exact")
		s.expect(t, "pattern")
	}},
	{"§4", "the matcher * matches every topic", func(t *testing.T, h *conformanceHub) {
		s := h.stream(t, q("match", "*"), bearerLine(h.nobody))
		h.publish(t, form("topic", "not a URL at all", "data", "x"))
		s.expect(t, "x")
	}},
	{"§4.1", "exact matching is byte for byte: no case folding, normalization or resolution", func(t *testing.T, h *conformanceHub) {
		b := h.base()
		composed := b + "/caf\u00e9"
		s := h.stream(t, q("match", composed, "match", "/relative"), bearerLine(h.nobody))
		for _, other := range []string{b + "/cafe\u0301", b + "/CAF\u00c9", strings.Replace(composed, "https:", "HTTPS:", 1), b + "/caf%C3%A9",
			"https://example.com/relative"} {
			h.publish(t, form("topic", other, "data", "no"))
		}
		h.publish(t, form("topic", composed, "data", "yes"))
		s.expect(t, "yes")
	}},
	{"§4.2", "a URL pattern matches as the URL Pattern standard says, without ignoreCase", func(t *testing.T, h *conformanceHub) {
		b := h.base()
		s := h.stream(t, q("matchURLPattern", b+"/books/:id"), bearerLine(h.nobody))
		for _, other := range []string{b + "/Books/1", b + "/books/1/chapters", b + "/books"} {
			h.publish(t, form("topic", other, "data", "no"))
		}
		h.publish(t, form("topic", strings.Replace(b, "example.com", "EXAMPLE.com:443", 1)+"/books/1", "data", "host case-insensitive"))
		s.expect(t, "host case-insensitive")
	}},
	{"§4.2", "relative patterns and relative topics resolve against the hub's URL", func(t *testing.T, h *conformanceHub) {
		hub, _ := strings.CutSuffix(testResource, "/.well-known/mercure") // https://hub.example.test
		n := strconv.Itoa(h.n)
		h.n++
		relative := h.stream(t, q("matchURLPattern", "/c"+n+"/books/:id"), bearerLine(h.nobody))
		absolute := h.stream(t, q("matchURLPattern", hub+"/c"+n+"/authors/:id"), bearerLine(h.nobody))
		h.publish(t, form("topic", "https://elsewhere.example/c"+n+"/books/1", "data", "another host"))
		h.publish(t, form("topic", hub+"/c"+n+"/books/1", "data", "absolute topic"))
		h.publish(t, form("topic", "/c"+n+"/books/2", "data", "relative topic"))
		h.publish(t, form("topic", "/c"+n+"/authors/3", "data", "relative author"))
		relative.expect(t, "absolute topic")
		relative.expect(t, "relative topic")
		absolute.expect(t, "relative author")
	}},
	{"§4.2, §6.7", "a token's relative URL pattern grants against the hub's URL", func(t *testing.T, h *conformanceHub) {
		n := strconv.Itoa(h.n)
		h.n++
		reader := accessToken(t, []any{grant([]string{"subscribe"}, urlpattern("/c"+n+"/private/:id"))})
		s := h.stream(t, q("match", "*"), bearerLine(reader))
		h.publish(t, form("topic", "https://elsewhere.example/c"+n+"/private/1", "data", "not granted", "private", "on"))
		h.publish(t, form("topic", "/c"+n+"/private/2", "data", "granted", "private", "on"))
		s.expect(t, "granted")
	}},
	{"§4.2", "pattern matching is linear-time: a pathological pattern leaves the hub serving", func(t *testing.T, h *conformanceHub) {
		b := h.base()
		s := h.stream(t, q("matchURLPattern", b+"/((?:a+)+b)"), bearerLine(h.nobody))
		h.publish(t, form("topic", b+"/"+strings.Repeat("a", 1000)+"c", "data", "no"))
		h.publish(t, form("topic", b+"/aab", "data", "yes"))
		s.expect(t, "yes")
	}},
	{"§5", "the private field makes an update private by its presence, whatever its value", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("match", topic), bearerLine(h.nobody))
		for _, v := range []string{"", "false", "0", "off"} {
			h.publish(t, form("topic", topic, "data", "private "+v, "private", v))
		}
		h.publish(t, form("topic", topic, "data", "public"))
		s.expect(t, "public")
	}},
	{"§5", "a publisher's id starting with # or holding CR, LF or NUL is 400", func(t *testing.T, h *conformanceHub) {
		for _, id := range []string{"#x", "a\nb", "a\rb", "a\x00b"} {
			refused(t, h.post(t, bearerLine(h.publisher), form("topic", h.base(), "id", id)), http.StatusBadRequest, "")
		}
	}},
	{"§5", "a type holding CR or LF is 400", func(t *testing.T, h *conformanceHub) {
		for _, typ := range []string{"a\nb", "a\rb"} {
			refused(t, h.post(t, bearerLine(h.publisher), form("topic", h.base(), "type", typ)), http.StatusBadRequest, "")
		}
	}},
	{"§5", "a retry of anything but ASCII digits is 400", func(t *testing.T, h *conformanceHub) {
		for _, retry := range []string{"-1", "1.5", "1e3", " 1", "\u0661", ""} {
			refused(t, h.post(t, bearerLine(h.publisher), form("topic", h.base(), "retry", retry)), http.StatusBadRequest, "")
		}
	}},
	{"§5", "a topic in the hub's reserved namespace is 403", func(t *testing.T, h *conformanceHub) {
		for _, topic := range []string{"/.well-known/mercure/subscriptions/Exact/a/b", "https://hub.example.com/.well-known/mercure",
			"https://example.com/x/../.well-known/mercure/subscriptions", "/x/%2e%2e/.well-known/mercure/subscriptions/Exact/a/b",
			"https://hub.example.test/x\\..\\.well-known/mercure/subscriptions"} {
			refused(t, h.post(t, bearerLine(h.publisher), form("topic", topic)), http.StatusForbidden, "")
		}
	}},
	{"§5", "a field over the hub's limit is 413", func(t *testing.T, h *conformanceHub) {
		refused(t, h.post(t, bearerLine(h.publisher), form("topic", h.base()+"/"+strings.Repeat("x", 4096))), http.StatusRequestEntityTooLarge, "")
	}},
	{"§5", "fields the draft does not define are ignored", func(t *testing.T, h *conformanceHub) {
		h.publish(t, form("topic", h.base(), "data", "x", "target", "y", "Topic", "z"))
	}},
	{"§5", "success is a 2xx whose body is the id the hub generated", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		s := h.stream(t, q("match", topic), bearerLine(h.nobody))
		got := h.post(t, bearerLine(h.publisher), form("topic", topic, "data", "x"))
		if got.status/100 != 2 {
			t.Fatalf("publish = %d %q", got.status, got.body)
		}
		if ev := s.expect(t, "x"); ev.ID != got.body {
			t.Errorf("the body %q is not the event's id %q", got.body, ev.ID)
		}
	}},
	{"§6.2", "no token: 401 with a Bearer challenge without an error code (pointing to the resource metadata)", func(t *testing.T, h *conformanceHub) {
		// The hub's resource metadata, where the challenge points
		// (RFC 9728 §5.1, which §6.2 recommends).
		want := `Bearer resource_metadata="https://hub.example.test/.well-known/oauth-protected-resource/.well-known/mercure"`
		refused(t, h.post(t, "", form("topic", h.base())), http.StatusUnauthorized, want)
		if s := subscribe(t, h.url, q("match", h.base())); s.resp.StatusCode != http.StatusUnauthorized || s.resp.Header.Get("WWW-Authenticate") != want {
			t.Errorf("subscribing without a token: %d %q", s.resp.StatusCode, s.resp.Header.Get("WWW-Authenticate"))
		}
	}},
	{"§6.2", "a token that fails validation: 401 invalid_token", func(t *testing.T, h *conformanceHub) {
		expired := signed(t, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix(), "mercure": map[string]any{"publish": []string{"*"}}})
		for _, tok := range []string{h.publisher + "x", expired, "not.a.token"} {
			refused(t, h.post(t, bearerLine(tok), form("topic", h.base())), http.StatusUnauthorized, `Bearer error="invalid_token"`)
		}
	}},
	{"§6.2", "a valid token that does not grant the operation: 403 insufficient_scope", func(t *testing.T, h *conformanceHub) {
		refused(t, h.post(t, bearerLine(h.nobody), form("topic", h.base())), http.StatusForbidden, `Bearer error="insufficient_scope"`)
	}},
	{"§6.2", "a malformed request: 400 invalid_request", func(t *testing.T, h *conformanceHub) {
		refused(t, h.post(t, "Authorization: Bearer", form("topic", h.base())), http.StatusBadRequest, `Bearer error="invalid_request"`)
	}},
	{"§7", "replayed events are checked against the current token", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		from := h.publish(t, form("topic", topic, "data", "before"))
		h.publish(t, form("topic", topic, "data", "secret", "private", "on"))
		h.publish(t, form("topic", topic, "data", "public"))
		h.stream(t, q("match", topic, "lastEventID", from), bearerLine(h.nobody)).expect(t, "public")
		granted := token(t, map[string]any{"subscribe": []string{topic}})
		h.stream(t, q("match", topic, "lastEventID", from), bearerLine(granted)).expect(t, "secret")
	}},
	{"§7", "the last event id comes from the Last-Event-ID header before the lastEventID parameter", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		first := h.publish(t, form("topic", topic, "data", "1"))
		h.stream(t, q("match", topic, "lastEventID", first), bearerLine(h.nobody))
		second := h.publish(t, form("topic", topic, "data", "2"))
		h.publish(t, form("topic", topic, "data", "3"))
		h.stream(t, q("match", topic, "lastEventID", first), bearerLine(h.nobody)).expect(t, "2")
		h.stream(t, q("match", topic, "lastEventID", first), bearerLine(h.nobody), "Last-Event-ID: "+second).expect(t, "3")
	}},
	{"§7", "the Last-Event-ID response header never names an event the subscriber may not read", func(t *testing.T, h *conformanceHub) {
		topic, other := h.base(), h.base()
		private := h.publish(t, form("topic", topic, "data", "secret", "private", "on", "id", "urn:"+topic+":p"))
		elsewhere := h.publish(t, form("topic", other, "data", "elsewhere", "id", "urn:"+topic+":o"))
		h.publish(t, form("topic", topic, "data", "public"))
		granted := token(t, map[string]any{"subscribe": []string{topic}})
		for _, tt := range []struct{ name, token, from, header string }{
			{"a private update not granted", h.nobody, private, "earliest"},
			{"a private update granted", granted, private, private},
			{"an update of a topic not selected", h.nobody, elsewhere, "earliest"},
		} {
			s := h.stream(t, q("match", topic), bearerLine(tt.token), "Last-Event-ID: "+tt.from)
			if got := s.resp.Header.Get("Last-Event-ID"); got != tt.header {
				t.Errorf("%s: Last-Event-ID %q, want %q", tt.name, got, tt.header)
			}
			s.expect(t, "public") // the replay is exact all the same
		}
	}},
	{"§7", "a resume sets the Last-Event-ID response header: the id it resumed from, or earliest", func(t *testing.T, h *conformanceHub) {
		topic := h.base()
		id := h.publish(t, form("topic", topic, "data", "1"))
		for asked, want := range map[string]string{id: id, "urn:gone": "earliest", "earliest": "earliest"} {
			s := h.stream(t, q("match", topic), bearerLine(h.nobody), "Last-Event-ID: "+asked)
			if got := s.resp.Header.Get("Last-Event-ID"); got != want {
				t.Errorf("resume from %s: Last-Event-ID %q, want %q", asked, got, want)
			}
		}
	}},
}

// TestResourceMetadata: the hub publishes its OAuth 2.0 protected resource
// metadata (draft-08 "Protected Resource Metadata", a SHOULD; RFC 9728)
// where RFC 9728 §3.1 puts it for the hub's resource identifier
// (TestNewResourceMetadata has the other identifiers and the challenges).
func TestResourceMetadata(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	d := startDoor(t, b, doorOptions{door: mercure.Config{Resource: testResource}})
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(d.url, d.path)+"/.well-known/oauth-protected-resource/.well-known/mercure", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true // no idle connection for the server's shutdown to wait on
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Resource       string   `json:"resource"`
		Methods        []string `json:"bearer_methods_supported"`
		Cookie         bool     `json:"mercure_cookie"`
		MercureVersion int      `json:"mercure_version"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode != http.StatusOK ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("metadata: %d %s, %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	if doc.Resource != testResource || !slices.Equal(doc.Methods, []string{"header", "query"}) || !doc.Cookie || doc.MercureVersion != 8 {
		t.Errorf("metadata %+v", doc)
	}
}
