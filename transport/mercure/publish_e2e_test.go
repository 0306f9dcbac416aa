package mercure_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

const testSecret = "0123456789abcdef0123456789abcdef-mercure-door"

// serveDoor serves a hub on b with the Mercure door mounted, and returns
// the door's URL.
func serveDoor(t *testing.T, b broker.Broker) string {
	t.Helper()
	return serveDoorWith(t, b, mercure.Config{})
}

// serveDoorWith is serveDoor with cfg (its Publishers are set here).
func serveDoorWith(t *testing.T, b broker.Broker, cfg mercure.Config) string {
	t.Helper()
	return startDoor(t, b, doorOptions{door: cfg}).url
}

// token signs a draft-07 token whose mercure claim is claim.
func token(t *testing.T, claim map[string]any) string {
	t.Helper()
	return signed(t, jwt.MapClaims{"mercure": claim})
}

// signed signs a token with claims.
func signed(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type answer struct {
	status     int
	body       string
	challenge  string
	retryAfter string
}

func post(t *testing.T, hubURL string, header http.Header, form url.Values) answer {
	t.Helper()
	got, err := tryPost(hubURL, header, form)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// tryPost is post for goroutines other than the test's: it returns the
// error instead of ending the test.
func tryPost(hubURL string, header http.Header, form url.Values) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, hubURL, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{}, err
	}
	req.Header = header.Clone() // goroutines may share header
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(body), resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Retry-After")}, nil
}

// TestDraft07Publish checks draft-07 §5 (Publication) and §6.4
// (Publishers) against a real hub over sockets, on the embedded broker
// and on Redis: what is published reaches the broker with its original
// topics, mapped names and publisher id; what is refused publishes
// nothing.
func TestDraft07Publish(t *testing.T) {
	for _, kind := range brokerKinds {
		t.Run(kind.name, func(t *testing.T) { testDraft07Publish(t, kind.new(t)) })
	}
}

// brokerKinds are the brokers a door test runs on: the embedded one and
// a real redis-server.
var brokerKinds = []struct {
	name string
	new  func(t *testing.T) broker.Broker
}{
	{"memory", func(t *testing.T) broker.Broker {
		b := membroker.New(membroker.Config{})
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{"redis", func(t *testing.T) broker.Broker {
		b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: redistest.Start(t).Client(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
}

func testDraft07Publish(t *testing.T, b broker.Broker) {
	hubURL := serveDoor(t, b)
	heard, _ := brokertest.Listen(t, b, "@m/https://example.com/books/1", "@m/_", "@m/a_20b")
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	books := token(t, map[string]any{"publish": []string{"https://example.com/books/{id}", "a b"}})

	for _, tt := range []struct {
		name      string
		header    http.Header
		form      url.Values
		status    int
		challenge string
	}{
		{"§6 no token: 401 with a bare challenge", http.Header{}, url.Values{"topic": {"a b"}}, 401, "Bearer"},
		{"§6 a token that does not verify", bearer(books + "x"), url.Values{"topic": {"a b"}}, 401, `Bearer error="invalid_token"`},
		{"§6 a malformed header does not fall back", http.Header{"Authorization": {"Basic x"}, "Cookie": {"mercureAuthorization=" + books}},
			url.Values{"topic": {"a b"}}, 400, `Bearer error="invalid_request"`},
		{"§6.4 no publish claim", bearer(token(t, map[string]any{"subscribe": []string{"*"}})), url.Values{"topic": {"a b"}}, 403,
			`Bearer error="insufficient_scope"`},
		{"§6.4 every topic must match a selector", bearer(books), url.Values{"topic": {"a b", "elsewhere"}}, 403,
			`Bearer error="insufficient_scope"`},
		{"a cookie does not publish: any site's form would send it", http.Header{"Cookie": {"mercureAuthorization=" + books}},
			url.Values{"topic": {"a b"}}, 401, "Bearer"},
		{"RFC 7235: the scheme is case-insensitive", http.Header{"Authorization": {"bearer " + books}}, url.Values{"topic": {"no"}}, 403,
			`Bearer error="insufficient_scope"`},
		{"§5 no topic", bearer(books), url.Values{"data": {"x"}}, 400, ""},
		{"§5 an id of the hub's form", bearer(books), url.Values{"topic": {"a b"}, "id": {"#1-0"}}, 400, ""},
		{"08 §5 the reserved hub namespace, even to a token that may publish anywhere", bearer(token(t, map[string]any{"publish": []string{"*"}})),
			url.Values{"topic": {"/.well-known/mercure/subscriptions/Exact/a/b"}}, 403, ""},
		{"08 §5 the reserved namespace of an absolute topic naming the hub", bearer(token(t, map[string]any{"publish": []string{"*"}})),
			url.Values{"topic": {"a b", "https://hub.example.com/.well-known/mercure/subscriptions"}}, 403, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := post(t, hubURL, tt.header, tt.form)
			if got.status != tt.status || got.challenge != tt.challenge {
				t.Errorf("answer %d, WWW-Authenticate %q (%q); want %d, %q", got.status, got.challenge, got.body, tt.status, tt.challenge)
			}
		})
	}

	// §5: the canonical topic, an alternate one, the publisher's id.
	got := post(t, hubURL, bearer(books), url.Values{"topic": {"https://example.com/books/1", "a b"}, "data": {"hi"},
		"id": {"urn:uuid:1"}, "private": {"on"}, "type": {"ping"}})
	if got.status != 200 || got.body != "urn:uuid:1" {
		t.Fatalf("publish = %d %q, want 200 with the publisher's id", got.status, got.body)
	}
	// §6: the token in the query; the hub's own id, as a fragment.
	got = post(t, hubURL+"?authorization="+books, http.Header{}, url.Values{"topic": {"a b"}, "data": {"two"}})
	if got.status != 200 || !strings.HasPrefix(got.body, "#") {
		t.Fatalf("publish with the query token = %d %q, want 200 with #<id>", got.status, got.body)
	}
	testenv.WaitFor(t, "both updates in the broker", func() bool { return len(heard.Messages()) == 2 })
	first := heard.Messages()[0]
	if m := first.Mercure; m == nil || m.ID != "urn:uuid:1" || !m.Private || len(m.Topics) != 2 || m.Topics[1] != "a b" {
		t.Errorf("the first update's metadata = %+v", first.Mercure)
	}
	if want := "id: urn:uuid:1\nevent: ping\ndata: hi\n\n"; string(first.Frame) != want {
		t.Errorf("the first update's frame = %q, want %q", first.Frame, want)
	}
	if second := heard.Messages()[1]; "#"+second.ID.String() != got.body {
		t.Errorf("the second update's id is %s, the door answered %q", second.ID, got.body)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(heard.Messages()); n != 2 {
		t.Errorf("the broker got %d updates, want 2: the refused requests published nothing", n)
	}
}

// TestPublishIdempotencyKey: ssehub's Idempotency-Key on the Mercure door,
// as on the native API: a retry of a publish returns the first answer and
// publishes nothing again; the key with another body is 422; a malformed
// key is 400.
func TestPublishIdempotencyKey(t *testing.T) {
	for _, kind := range brokerKinds {
		t.Run(kind.name, func(t *testing.T) {
			b := kind.new(t)
			hubURL := serveDoor(t, b)
			heard, _ := brokertest.Listen(t, b, "@m/a")
			header := func(key string) http.Header {
				return http.Header{"Authorization": {"Bearer " + token(t, map[string]any{"publish": []string{"*"}})}, "Idempotency-Key": {key}}
			}
			form := url.Values{"topic": {"a"}, "data": {"once"}}
			first := post(t, hubURL, header("k1"), form)
			again := post(t, hubURL, header("k1"), form)
			if first.status != 200 || again.status != 200 || again.body != first.body {
				t.Fatalf("publish then its retry = %d %q, %d %q; want 200 and the same id", first.status, first.body, again.status, again.body)
			}
			if got := post(t, hubURL, header("k1"), url.Values{"topic": {"a"}, "data": {"other"}}); got.status != 422 {
				t.Errorf("the key with another body = %d %q, want 422", got.status, got.body)
			}
			if got := post(t, hubURL, header(`"open`), form); got.status != 400 {
				t.Errorf("a malformed key = %d %q, want 400", got.status, got.body)
			}
			testenv.WaitFor(t, "the update in the broker", func() bool { return len(heard.Messages()) >= 1 })
			time.Sleep(50 * time.Millisecond)
			if n := len(heard.Messages()); n != 1 {
				t.Errorf("the broker got %d updates, want 1", n)
			}
		})
	}
}
