package mercure_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// testResource is the resource identifier the draft-08 tests configure
// (mercure.Config.Resource), as §6.3 recommends: the hub's URL.
const testResource = "https://hub.example.test/.well-known/mercure"

// eachBroker runs test on the embedded broker and on a real Redis.
func eachBroker(t *testing.T, test func(t *testing.T, b broker.Broker)) {
	t.Run("memory", func(t *testing.T) {
		b := membroker.New(membroker.Config{})
		t.Cleanup(func() { b.Close() })
		test(t, b)
	})
	t.Run("redis", func(t *testing.T) {
		b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: redistest.Start(t).Client(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		test(t, b)
	})
}

// accessToken signs a draft-08 access token: typ at+jwt, aud the test
// resource, an exp an hour away and details as authorization_details;
// edit changes the claims or the header before signing.
func accessToken(t *testing.T, details []any, edit ...func(claims jwt.MapClaims, header map[string]any)) string {
	t.Helper()
	claims := jwt.MapClaims{"aud": testResource, "exp": time.Now().Add(time.Hour).Unix(), "authorization_details": details}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["typ"] = "at+jwt"
	for _, e := range edit {
		e(claims, tok.Header)
	}
	s, err := tok.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// grant is one "mercure" authorization detail.
func grant(actions []string, matchers ...map[string]any) map[string]any {
	return map[string]any{"type": "mercure", "actions": actions, "topics": matchers}
}

func exact(m string) map[string]any { return map[string]any{"match": m} }
func urlpattern(m string) map[string]any {
	return map[string]any{"match": m, "match_type": "urlpattern"}
}

// TestDraft08Tokens checks draft-08 access tokens on publishing, over
// sockets against a real hub on both brokers: §6.1 (where the token is),
// §6.2 (each answer's challenge), §6.3 (typ, aud, exp), §6.4 and §6.7
// (details refuse the whole token), §6.5 (a publish detail must match the
// one topic), and --mercure-protocol. What is refused publishes nothing.
func TestDraft08Tokens(t *testing.T) {
	eachBroker(t, testDraft08Tokens)
}

func testDraft08Tokens(t *testing.T, b broker.Broker) {
	hubURL := serveDoorWith(t, b, mercure.Config{Resource: testResource})
	heard, _ := brokertest.Listen(t, b, "@m/https://example.com/books/1", "@m/_")
	books := accessToken(t, []any{grant([]string{"publish"}, urlpattern("https://example.com/books/:id"))})
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	book1 := url.Values{"topic": {"https://example.com/books/1"}, "data": {"x"}}
	const invalid, scope, request = `Bearer error="invalid_token"`, `Bearer error="insufficient_scope"`, `Bearer error="invalid_request"`

	type req struct {
		name      string
		query     string
		header    http.Header
		form      url.Values
		status    int
		challenge string
	}
	run := func(t *testing.T, hubURL string, cases []req) {
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				if tt.form == nil {
					tt.form = book1
				}
				if tt.header == nil {
					tt.header = http.Header{}
				}
				u := hubURL
				if tt.query != "" {
					u += "?" + tt.query
				}
				got := post(t, u, tt.header, tt.form)
				if got.status != tt.status || got.challenge != tt.challenge {
					t.Errorf("answer %d, WWW-Authenticate %q (%q); want %d, %q", got.status, got.challenge, got.body, tt.status, tt.challenge)
				}
			})
		}
	}
	published := 0
	ok := func(name string, r req) req { r.name, r.status = name, 200; published++; return r }

	run(t, hubURL, []req{
		ok("§6.5 publish/granted by a urlpattern detail", req{header: bearer(books)}),
		{name: "§6.5 publish/not granted", header: bearer(books), form: url.Values{"topic": {"https://example.com/users/1"}}, status: 403, challenge: scope},
		{name: "§6.5 publish/a subscribe detail does not publish", header: bearer(accessToken(t, []any{grant([]string{"subscribe"}, exact("*"))})),
			status: 403, challenge: scope},
		{name: "§6.5 publish/unknown actions grant nothing", header: bearer(accessToken(t, []any{grant([]string{"write"}, exact("*"))})),
			status: 403, challenge: scope},
		{name: "§6.5 publish/details of other types grant nothing", header: bearer(accessToken(t, []any{map[string]any{"type": "other", "actions": []string{"publish"}, "topics": []any{exact("*")}}})),
			status: 403, challenge: scope},
		ok("§6.5 publish/exact and * matchers", req{header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("elsewhere"), exact("*"))}))}),
		{name: "§5 one topic per draft-08 update", header: bearer(books),
			form: url.Values{"topic": {"https://example.com/books/1", "https://example.com/books/2"}}, status: 400},

		{name: "§6.3 typ/JWT is not an access token", header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(_ jwt.MapClaims, h map[string]any) { h["typ"] = "JWT" })), status: 401, challenge: invalid},
		{name: "§6.3 typ/absent", header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(_ jwt.MapClaims, h map[string]any) { delete(h, "typ") })), status: 401, challenge: invalid},
		ok("§6.3 typ/application/AT+JWT, case-insensitively", req{header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(_ jwt.MapClaims, h map[string]any) { h["typ"] = "application/AT+JWT" }))}),
		{name: "§6.3 aud/another hub's", header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(c jwt.MapClaims, _ map[string]any) {
				c["aud"] = "https://other-hub.example.test/.well-known/mercure"
			})), status: 401, challenge: invalid},
		{name: "§6.3 aud/absent", header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(c jwt.MapClaims, _ map[string]any) { delete(c, "aud") })), status: 401, challenge: invalid},
		ok("§6.3 aud/an array holding the resource", req{header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(c jwt.MapClaims, _ map[string]any) { c["aud"] = []string{"https://api.example.test", testResource} }))}),
		{name: "§6.3 exp/absent", header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(c jwt.MapClaims, _ map[string]any) { delete(c, "exp") })), status: 401, challenge: invalid},
		{name: "§6.3 exp/past", header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(c jwt.MapClaims, _ map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), status: 401, challenge: invalid},
		{name: "§6.3 nbf/in the future", header: bearer(accessToken(t, []any{grant([]string{"publish"}, exact("*"))},
			func(c jwt.MapClaims, _ map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), status: 401, challenge: invalid},
		{name: "§6.3 alg/none", header: bearer(unsigned(t, jwt.MapClaims{"aud": testResource, "exp": time.Now().Add(time.Hour).Unix(),
			"authorization_details": []any{grant([]string{"publish"}, exact("*"))}})), status: 401, challenge: invalid},
		{name: "§6.3 signature/tampered", header: bearer(books[:len(books)-2] + "AA"), status: 401, challenge: invalid},

		{name: "§6.4 a bad detail refuses the token/unknown match_type", header: bearer(accessToken(t, []any{
			grant([]string{"publish"}, exact("*")), grant([]string{"publish"}, map[string]any{"match": "a", "match_type": "regexp"})})),
			status: 401, challenge: invalid},
		{name: "§6.4 a bad detail refuses the token/no topics", header: bearer(accessToken(t, []any{
			grant([]string{"publish"}, exact("*")), map[string]any{"type": "mercure", "actions": []string{"publish"}}})),
			status: 401, challenge: invalid},
		{name: "§6.4 a bad detail refuses the token/a non-string action", header: bearer(accessToken(t, []any{
			map[string]any{"type": "mercure", "actions": []any{"publish", 1}, "topics": []any{exact("*")}}})),
			status: 401, challenge: invalid},
		ok("§6.4 the details limit/at it", req{header: bearer(accessToken(t, manyDetails(mercure.MaxDetails)))}),
		{name: "§6.4 the details limit/over it", header: bearer(accessToken(t, manyDetails(mercure.MaxDetails+1))),
			status: 401, challenge: invalid},

		ok("§6.1 presentation/the access_token query parameter", req{query: "access_token=" + books}),
		{name: "§6.1 presentation/the header over access_token", query: "access_token=" + books,
			header: bearer(accessToken(t, []any{grant([]string{"subscribe"}, exact("*"))})), status: 403, challenge: scope},
		{name: "§6.1 presentation/access_token over the draft-07 authorization parameter",
			query: "access_token=" + accessToken(t, []any{grant([]string{"subscribe"}, exact("*"))}) + "&authorization=" + books, status: 403, challenge: scope},
		{name: "§6.1 presentation/an empty access_token does not fall back", query: "access_token=&authorization=" + books,
			status: 400, challenge: request},
		{name: "§6.1 presentation/a malformed header does not fall back", query: "access_token=" + books,
			header: http.Header{"Authorization": {"Token " + books}}, status: 400, challenge: request},
		{name: "§6.2 no token: a challenge without an error code, pointing to the resource metadata", status: 401,
			challenge: `Bearer resource_metadata="https://hub.example.test/.well-known/oauth-protected-resource/.well-known/mercure"`},
	})

	// --mercure-protocol, and a hub without a resource identifier.
	only07 := serveDoorWith(t, b, mercure.Config{Resource: testResource, Protocol: mercure.Draft07})
	only08 := serveDoorWith(t, b, mercure.Config{Resource: testResource, Protocol: mercure.Draft08})
	noResource := serveDoorWith(t, b, mercure.Config{})
	draft07 := token(t, map[string]any{"publish": []string{"*"}})
	run(t, only07, []req{
		{name: "protocol 07/refuses a draft-08 token", header: bearer(books), status: 401, challenge: invalid},
		ok("protocol 07/takes a draft-07 token", req{header: bearer(draft07)}),
	})
	run(t, only08, []req{
		{name: "protocol 08/refuses a draft-07 token", header: bearer(draft07), status: 401, challenge: invalid},
		ok("protocol 08/takes a draft-08 token", req{header: bearer(books)}),
	})
	run(t, noResource, []req{
		{name: "§6.3 aud/no resource configured refuses draft-08 tokens", header: bearer(books), status: 401, challenge: invalid},
		ok("§6.3 aud/no resource configured still takes draft-07 tokens", req{header: bearer(draft07)}),
	})

	testenv.WaitFor(t, "the accepted updates in the broker", func() bool { return len(heard.Messages()) == published })
	time.Sleep(50 * time.Millisecond)
	if n := len(heard.Messages()); n != published {
		t.Errorf("the broker got %d updates, want %d: refused requests publish nothing", n, published)
	}
}

// unsigned makes an alg "none" access token of claims.
func unsigned(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// manyDetails is n details granting publish, as short as can be: the
// token must stay within auth.MaxTokenSize and the 8 KiB header limit.
func manyDetails(n int) []any {
	ds := make([]any, n)
	for i := range ds {
		ds[i] = grant([]string{"publish"}, exact("*"))
	}
	return ds
}

// TestDraft08Subscribe checks draft-08 §6.6 (private updates only where
// a subscribe detail matches the update's topic, whatever the query's
// matchers select) and §6.1 (header, access_token, cookie, in that
// precedence) over sockets, on both brokers.
func TestDraft08Subscribe(t *testing.T) {
	eachBroker(t, testDraft08Subscribe)
}

func testDraft08Subscribe(t *testing.T, b broker.Broker) {
	hubURL := serveDoorWith(t, b, mercure.Config{Resource: testResource, Anonymous: true})
	// The token of §6.6's example: book 1 only, plus every author.
	reader := accessToken(t, []any{grant([]string{"subscribe"}, exact("https://example.com/books/1"), urlpattern("https://example.com/authors/:id"))})
	nothing := accessToken(t, []any{grant([]string{"publish"}, exact("*"))})
	publisher := accessToken(t, []any{grant([]string{"publish"}, exact("*"))})
	books := "match_urlpattern=" + url.QueryEscape("https://example.com/books/:id") + "&match=" + url.QueryEscape("https://example.com/authors/9")

	streams := []struct {
		name    string
		s       subscriber
		private bool // whether it may read the private updates granted
	}{
		{"the header token", subscribe(t, hubURL, books, "Authorization: Bearer "+reader), true},
		{"the access_token parameter", subscribe(t, hubURL, books+"&access_token="+reader), true},
		{"the configured cookie", subscribe(t, hubURL, books, "Cookie: mercureAuthorization="+reader), true},
		{"the __Secure- cookie of §6.1", subscribe(t, hubURL, books, "Cookie: __Secure-mercure_access_token="+reader), true},
		{"anonymous", subscribe(t, hubURL, books), false},
		{"the header over access_token", subscribe(t, hubURL, books+"&access_token="+reader, "Authorization: Bearer "+nothing), false},
		{"access_token over the cookie", subscribe(t, hubURL, books+"&access_token="+nothing, "Cookie: __Secure-mercure_access_token="+reader), false},
	}
	for _, s := range streams {
		if s.s.resp.StatusCode != 200 {
			t.Fatalf("%s: %d, want a stream", s.name, s.s.resp.StatusCode)
		}
	}
	for _, form := range []url.Values{
		{"topic": {"https://example.com/books/2"}, "data": {"private, not granted"}, "private": {"on"}},
		{"topic": {"https://example.com/books/1"}, "data": {"private, granted"}, "private": {"on"}},
		{"topic": {"https://example.com/authors/9"}, "data": {"private, granted by a urlpattern"}, "private": {""}},
		{"topic": {"https://example.com/books/3"}, "data": {"public"}},
	} {
		if got := post(t, hubURL, http.Header{"Authorization": {"Bearer " + publisher}}, form); got.status != 200 {
			t.Fatalf("publish %v = %d %q", form, got.status, got.body)
		}
	}
	for _, s := range streams {
		want := []string{"public"}
		if s.private {
			want = []string{"private, granted", "private, granted by a urlpattern", "public"}
		}
		for _, w := range want {
			if ev := s.s.next(t); ev.Data != w {
				t.Errorf("%s: got %q, want %q (§6.6)", s.name, ev.Data, w)
			}
		}
		s.s.nothing(t, s.name)
	}

	checkRefusals(t, hubURL, []refusal{
		{"§6.3 typ/not at+jwt", books, "Authorization: Bearer " + accessToken(t, []any{grant([]string{"subscribe"}, exact("*"))},
			func(_ jwt.MapClaims, h map[string]any) { h["typ"] = "JWT" }), 401, `Bearer error="invalid_token"`},
		{"§6.3 exp/absent", books, "Authorization: Bearer " + accessToken(t, []any{grant([]string{"subscribe"}, exact("*"))},
			func(c jwt.MapClaims, _ map[string]any) { delete(c, "exp") }), 401, `Bearer error="invalid_token"`},
		{"§6.4 a bad detail", books + "&access_token=" + accessToken(t, []any{grant([]string{"subscribe"}, map[string]any{"match": "/rel/:id", "match_type": "regex"})}),
			"", 401, `Bearer error="invalid_token"`},
		{"§6.1 an empty access_token", books + "&access_token=", "Cookie: mercureAuthorization=" + reader, 400, `Bearer error="invalid_request"`},
	})
}

// TestDraft08StreamEndsAtExp checks draft-08 §6.6: a stream opened with an
// access token is closed when the token expires; one whose token lasts
// stays open.
func TestDraft08StreamEndsAtExp(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	hubURL := startDoor(t, b, doorOptions{hub: hub.Config{Shards: 1, Shard: shard.Config{Heartbeat: 160 * time.Millisecond}},
		door: mercure.Config{Resource: testResource}}).url
	soon := accessToken(t, []any{grant([]string{"subscribe"}, exact("*"))},
		func(c jwt.MapClaims, _ map[string]any) { c["exp"] = time.Now().Add(2 * time.Second).Unix() })
	expiring := subscribe(t, hubURL, "match=a", "Authorization: Bearer "+soon)
	lasting := subscribe(t, hubURL, "match=a", "Authorization: Bearer "+accessToken(t, []any{grant([]string{"subscribe"}, exact("*"))}))
	if expiring.resp.StatusCode != 200 || lasting.resp.StatusCode != 200 {
		t.Fatalf("streams: %d and %d, want 200", expiring.resp.StatusCode, lasting.resp.StatusCode)
	}
	deadline := time.Unix(time.Now().Add(2*time.Second).Unix(), 0).Add(time.Second) // exp and slack
	expiring.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := expiring.r.Next(); err != nil {
			if err != io.EOF {
				t.Fatalf("the expiring stream: %v, want its end", err)
			}
			break
		}
	}
	if late := time.Since(deadline); late > 0 {
		t.Errorf("the stream ended %v after its token's exp and slack", late)
	}
	lasting.nothing(t, "the stream whose token lasts")
	lasting.conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := lasting.r.Next(); err == io.EOF {
		t.Error("the stream whose token lasts was closed too")
	}
}
