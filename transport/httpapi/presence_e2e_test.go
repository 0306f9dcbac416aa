package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/acl"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/httpapi"
)

// getPresence asks GET /presence?query with an optional bearer token and
// returns the status, the JSON body and the error code, if any.
func getPresence(t *testing.T, th *testHub, token, query string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, th.url+"/presence?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET /presence?%s: body %q is not JSON: %v", query, raw, err)
	}
	code := ""
	if e, ok := body["error"].(map[string]any); ok {
		code, _ = e["code"].(string)
	}
	return resp.StatusCode, body, code
}

// waitPresenceBody polls GET /presence?query until its body has the want
// fields (numbers as float64, as JSON decodes them).
func waitPresenceBody(t *testing.T, th *testHub, token, query string, want map[string]any) {
	t.Helper()
	var last map[string]any
	testenv.WaitFor(t, "GET /presence?"+query+" to show "+fmtJSON(want), func() bool {
		status, body, _ := getPresence(t, th, token, query)
		last = body
		if status != http.StatusOK {
			return false
		}
		for k, v := range want {
			if got, _ := json.Marshal(body[k]); string(got) != fmtJSON(v) {
				return false
			}
		}
		return true
	})
	_ = last
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestPresenceQueriesAndBadInput(t *testing.T) {
	th := startHub(t, hubOptions{hub: hub.Config{Presence: true}})
	th.subscribe(t, "topic=room")
	th.subscribe(t, "topic=room&topic=news/*")
	waitPresenceBody(t, th, "", "topic=room", map[string]any{"topic": "room", "streams": 2, "users": 0})
	waitPresenceBody(t, th, "", "topic="+url.QueryEscape("news/*"), map[string]any{"streams": 1})
	waitPresenceBody(t, th, "", "user=alice", map[string]any{"user": "alice", "online": false, "streams": 0})
	waitPresenceBody(t, th, "", "topic=room&list=users&limit=10", map[string]any{"members": []any{}})

	for _, tc := range []struct {
		query  string
		status int
		code   string
	}{
		{"", 400, httpapi.CodeMissingTopic},
		{"topic=a%20b", 400, httpapi.CodeInvalidTopic},
		{"topic=a%3Fb", 400, httpapi.CodeInvalidTopic},
		{"user=a%20b", 400, httpapi.CodeInvalidTopic},
		{"topic=room&user=alice", 400, httpapi.CodeBadRequest},
		{"topic=room&list=streams", 400, httpapi.CodeBadRequest},
		{"topic=room&limit=5", 400, httpapi.CodeBadRequest},
		{"topic=room&list=users&limit=1000000", 400, httpapi.CodeInvalidLimit},
		{"topic=room&list=users&limit=0", 400, httpapi.CodeInvalidLimit},
		{"topic=room&list=users&limit=x", 400, httpapi.CodeInvalidLimit},
		{"topic=room&list=users&cursor=%25%25", 400, httpapi.CodeInvalidCursor},
	} {
		status, _, code := getPresence(t, th, "", tc.query)
		if status != tc.status || code != tc.code {
			t.Errorf("GET /presence?%s = %d %s, want %d %s", tc.query, status, code, tc.status, tc.code)
		}
	}
	resp, err := http.Post(th.url+"/presence?topic=room", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, code := statusAndCode(resp); status != 405 || code != httpapi.CodeMethodNotAllowed {
		t.Errorf("POST /presence = %d %s, want 405 method_not_allowed", status, code)
	}
}

func TestPresenceIsNotFoundWhenOff(t *testing.T) {
	th := startHub(t, hubOptions{})
	if status, _, code := getPresence(t, th, "", "topic=room"); status != 404 || code != httpapi.CodeNotFound {
		t.Errorf("GET /presence with presence off = %d %s, want 404 not_found", status, code)
	}
}

// Presence takes the grants of subscribing: a token sees the presence of
// what it may subscribe to, its own private topic included, never
// another user's; publisher credentials see everything they may publish
// to; without a token, only public topics.
func TestPresenceAuthorization(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	public, _ := acl.NewGrant([]string{"public/*"})
	const apiKey = "presence-test-api-key-0123456789abcdef"
	th := startHub(t, hubOptions{hub: hub.Config{Presence: true},
		server: httpapi.Config{Auth: v, PublicTopics: public, APIKeys: []string{apiKey}}})
	alice := mint(t, auth.MintClaims{Subject: "alice", Subscribe: []string{"room"}})
	bob := mint(t, auth.MintClaims{Subject: "bob", Subscribe: []string{"other"}})
	roomPublisher := mint(t, auth.MintClaims{Publish: []string{"room"}})
	th.subscribe(t, "topic=room", "Authorization: Bearer "+alice)
	th.subscribe(t, "topic=other", "Authorization: Bearer "+bob)

	waitPresenceBody(t, th, alice, "topic=room", map[string]any{"streams": 1, "users": 1})
	waitPresenceBody(t, th, alice, "user=alice", map[string]any{"online": true, "streams": 1})
	waitPresenceBody(t, th, apiKey, "user=bob", map[string]any{"online": true, "streams": 1})
	waitPresenceBody(t, th, apiKey, "topic=room&list=users", map[string]any{"members": []any{map[string]any{"user": "alice", "streams": 1}}})
	waitPresenceBody(t, th, roomPublisher, "topic=room", map[string]any{"users": 1})
	waitPresenceBody(t, th, "", "topic=public/lobby", map[string]any{"streams": 0})

	for _, tc := range []struct {
		who, token, query string
		status            int
		code              string
	}{
		{"alice", alice, "user=bob", 403, httpapi.CodeForbiddenTopic},
		{"alice", alice, "topic=user/bob", 403, httpapi.CodeForbiddenTopic},
		{"alice", alice, "topic=user/bob&list=users", 403, httpapi.CodeForbiddenTopic},
		{"alice", alice, "topic=" + url.QueryEscape("user/*"), 403, httpapi.CodeForbiddenTopic},
		{"bob", bob, "topic=room", 403, httpapi.CodeForbiddenTopic},
		{"bob", bob, "user=alice", 403, httpapi.CodeForbiddenTopic},
		{"the room publisher", roomPublisher, "user=alice", 403, httpapi.CodeForbiddenTopic},
		{"no one", "", "topic=room", 401, auth.CodeMissingToken},
		{"no one", "", "user=alice", 401, auth.CodeMissingToken},
		{"a forger", "x.y.z", "topic=room", 401, auth.CodeMalformedToken},
	} {
		if status, _, code := getPresence(t, th, tc.token, tc.query); status != tc.status || code != tc.code {
			t.Errorf("GET /presence?%s as %s = %d %s, want %d %s", tc.query, tc.who, status, code, tc.status, tc.code)
		}
	}
}

// The companion topics take their topic's grant only while the hub
// publishes presence events; otherwise "presence:" topics are ordinary
// ones, for subscribers and publishers alike.
func TestCompanionTopicGrants(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	const apiKey = "presence-test-api-key-0123456789abcdef"
	alice := mint(t, auth.MintClaims{Subject: "alice", Subscribe: []string{"room", "rooms/*"}})
	for _, events := range []bool{true, false} {
		th := startHub(t, hubOptions{hub: hub.Config{Presence: true},
			server: httpapi.Config{Auth: v, APIKeys: []string{apiKey}, PresenceEvents: events}})
		want, wantPublish := http.StatusOK, http.StatusOK
		if events {
			wantPublish = http.StatusBadRequest
		} else {
			want = http.StatusForbidden
		}
		for _, q := range []string{"topic=presence:room", "topic=presence:rooms/*", "topic=presence:user/alice"} {
			if s := th.subscribe(t, q, "Authorization: Bearer "+alice); s.resp.StatusCode != want {
				t.Errorf("events %v: alice GET /events?%s = %d, want %d", events, q, s.resp.StatusCode, want)
			}
		}
		for _, q := range []string{"topic=presence:other", "topic=presence:user/bob", "topic=presence:*"} {
			if s := th.subscribe(t, q, "Authorization: Bearer "+alice); s.resp.StatusCode != http.StatusForbidden {
				t.Errorf("events %v: alice GET /events?%s = %d, want 403", events, q, s.resp.StatusCode)
			}
		}
		if status, _ := publishAs(t, th, apiKey, `{"topic":"presence:room","data":"x"}`); status != wantPublish {
			t.Errorf("events %v: publishing to presence:room = %d, want %d", events, status, wantPublish)
		}
	}
}
