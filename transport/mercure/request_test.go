package mercure

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestParseForm(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []formField
	}{
		{"", nil},
		{"a=1&b=2", []formField{{"a", "1"}, {"b", "2"}}},
		{"topic=a&topic=b", []formField{{"topic", "a"}, {"topic", "b"}}},
		{"a+b=c+d", []formField{{"a b", "c d"}}},
		{"t=%3A%2f%e2%82%ac", []formField{{"t", ":/€"}}},
		{"t=%zz%4", []formField{{"t", "%zz%4"}}},
		{"t=100%", []formField{{"t", "100%"}}},
		{"&&a&=x&b=", []formField{{"a", ""}, {"", "x"}, {"b", ""}}},
		{"a=b=c", []formField{{"a", "b=c"}}},
		{"a;b=c", []formField{{"a;b", "c"}}},
	} {
		if got := parseForm(tt.in, nil); !slices.Equal(got, tt.want) {
			t.Errorf("parseForm(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestParseSubscription names the draft section each case checks.
func TestParseSubscription(t *testing.T) {
	type want struct {
		gen                 Generation
		exact               []string
		templates, patterns int
		all                 bool
		lastEventID         string
		status              int // non-zero: refused with it
	}
	for _, tt := range []struct {
		name, query, header string
		want                want
	}{
		{"07 §4 exact topic", "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1", "",
			want{gen: Draft07, exact: []string{"https://example.com/books/1"}}},
		{"07 §3 template", "topic=https://example.com/books/{id}", "", want{gen: Draft07, templates: 1}},
		{"07 §3 star", "topic=*", "", want{gen: Draft07, all: true}},
		{"07 §4 several topics", "topic=a&topic=b+c&topic=/x/{y}", "", want{gen: Draft07, exact: []string{"a", "b c"}, templates: 1}},
		{"07 §3 not a template (uritemplate.IsTemplate): exact", "topic=/books/{id", "", want{gen: Draft07, exact: []string{"/books/{id"}}},
		{"08 §3 match", "match=a&match_exact=b", "", want{gen: Draft08, exact: []string{"a", "b"}}},
		{"08 §4.2 urlpattern", "match_urlpattern=https://example.com/books/:id", "", want{gen: Draft08, patterns: 1}},
		{"08 §3 later revisions' spellings, canonical case", "matchExact=a&matchURLPattern=https://example.com/books/:id", "",
			want{gen: Draft08, exact: []string{"a"}, patterns: 1}},
		{"08 §3 later revisions' spellings are case-sensitive", "matchUrlPattern=https://example.com/books/:id", "", want{status: 400}},
		{"08 §4.2 urlpattern that does not parse", "match_urlpattern=https://example.com/(", "", want{status: 400}},
		{"08 §4.1 star", "match=*", "", want{gen: Draft08, all: true}},
		{"08 §3 reserved namespace", "match_regex=.*", "", want{status: 400}},
		{"08 §3 reserved namespace, case-insensitive", "MATCH_exact=a", "", want{status: 400}},
		{"08 §3 reserved namespace, name match alone in other case", "Match=a", "", want{status: 400}},
		{"08 §3 matcher type names are case-sensitive", "match_URLPattern=https://example.com/books/:id", "", want{status: 400}},
		{"08 §3 match_ without a type", "match_=a", "", want{status: 400}},
		{"08 §6.1 token parameters are the door's, not selectors", "match=a&access_token=x.y.z&authorization=x.y.z", "",
			want{gen: Draft08, exact: []string{"a"}}},
		{"one generation per request", "topic=a&match=b", "", want{status: 400}},
		{"08 §2 control character", "match=a%0Ab", "", want{status: 400}},
		{"08 §2 format character", "match=a%E2%80%8Bb", "", want{status: 400}},
		{"08 §2 not UTF-8", "match=a%FFb", "", want{status: 400}},
		{"08 §3 empty value", "match=", "", want{status: 400}},
		{"no selector", "lastEventID=x", "", want{status: 400}},
		{"other parameters are the application's", "topic=a&v=2&matchless=1", "", want{status: 400}},
		{"other parameters ignored", "topic=a&v=2", "", want{gen: Draft07, exact: []string{"a"}}},
		{"08 §7 last_event_id", "match=a&last_event_id=x", "", want{gen: Draft08, exact: []string{"a"}, lastEventID: "x"}},
		{"07 §7 lastEventID", "topic=a&lastEventID=y", "", want{gen: Draft07, exact: []string{"a"}, lastEventID: "y"}},
		{"older clients' Last-Event-ID query", "topic=a&Last-Event-ID=z", "", want{gen: Draft07, exact: []string{"a"}, lastEventID: "z"}},
		{"08 §7 the header first", "match=a&last_event_id=x", "h", want{gen: Draft08, exact: []string{"a"}, lastEventID: "h"}},
		{"query precedence", "topic=a&Last-Event-ID=z&lastEventID=y&last_event_id=x", "", want{gen: Draft07, exact: []string{"a"}, lastEventID: "x"}},
		{"08 §7 earliest", "match=a&last_event_id=earliest", "", want{gen: Draft08, exact: []string{"a"}, lastEventID: "earliest"}},
		{"last event id with a line break", "topic=a&lastEventID=x%0Ay", "", want{status: 400}},
		{"a last event id past the bound is cut and stays unknown", "topic=a", strings.Repeat("y", 5000),
			want{gen: Draft07, exact: []string{"a"}, lastEventID: strings.Repeat("y", MaxIDLen+1)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := ParseSubscription(tt.query, tt.header, SubscribeOptions{})
			if tt.want.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != tt.want.status {
					t.Fatalf("ParseSubscription(%q) = %+v, %v; want status %d", tt.query, sub, err, tt.want.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSubscription(%q): %v", tt.query, err)
			}
			sel := sub.Selectors
			got := want{gen: sub.Generation, exact: sel.Exact(), templates: len(sel.Templates()), patterns: len(sel.Patterns()),
				all: sel.All(), lastEventID: sub.LastEventID}
			if got.gen != tt.want.gen || !slices.Equal(got.exact, tt.want.exact) || got.templates != tt.want.templates ||
				got.patterns != tt.want.patterns || got.all != tt.want.all || got.lastEventID != tt.want.lastEventID {
				t.Errorf("ParseSubscription(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestParseSubscriptionLimits(t *testing.T) {
	q := strings.Repeat("topic=a&", 3)
	if _, err := ParseSubscription(q, "", SubscribeOptions{MaxSelectors: 3}); err != nil {
		t.Errorf("3 selectors at a limit of 3: %v", err)
	}
	if _, err := ParseSubscription(q+"topic=b", "", SubscribeOptions{MaxSelectors: 3}); err == nil {
		t.Error("4 selectors at a limit of 3 accepted")
	}
	if _, err := ParseSubscription("topic="+strings.Repeat("x", 2049), "", SubscribeOptions{}); err == nil {
		t.Error("a topic of 2049 bytes accepted")
	}
}

// TestParseUpdate names the draft section each case checks.
func TestParseUpdate(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		gen        Generation
		want       Update
		status     int
	}{
		{"07 §5 canonical and alternate topics", "topic=a&data=x&topic=b", Draft07,
			Update{Topics: []string{"a", "b"}, Data: "x"}, 0},
		{"08 §5 one topic", "topic=a&topic=b", Draft08, Update{}, 400},
		{"08 §5 no data: one empty data line", "topic=a", Draft08, Update{Topics: []string{"a"}}, 0},
		{"08 §5 private by presence", "topic=a&private=", Draft08, Update{Topics: []string{"a"}, Private: true}, 0},
		{"08 §5 private whatever its value", "topic=a&private=false", Draft08, Update{Topics: []string{"a"}, Private: true}, 0},
		{"08 §5 id, type, retry", "topic=a&id=urn%3Auuid%3A1&type=ping&retry=1500&data=a%0Ab", Draft08,
			Update{Topics: []string{"a"}, ID: "urn:uuid:1", Type: "ping", Retry: 1500, Data: "a\nb"}, 0},
		{"08 §5 unknown fields ignored", "topic=a&color=red", Draft08, Update{Topics: []string{"a"}}, 0},
		{"no topic", "data=x", Draft07, Update{}, 400},
		{"id of the hub's form", "topic=a&id=%231-0", Draft07, Update{}, 400},
		{"08 §7 id earliest reserved", "topic=a&id=earliest", Draft08, Update{}, 400},
		{"id with a line break", "topic=a&id=a%0Ab", Draft07, Update{}, 400},
		{"type with a line break", "topic=a&type=a%0Db", Draft07, Update{}, 400},
		{"type in the hub's namespace", "topic=a&type=ssehub.reset", Draft07, Update{}, 400},
		{"retry not digits", "topic=a&retry=1e3", Draft07, Update{}, 400},
		{"retry signed", "topic=a&retry=%2B5", Draft07, Update{}, 400},
		{"retry negative", "topic=a&retry=-5", Draft07, Update{}, 400},
		{"retry beyond a day", "topic=a&retry=86400001", Draft07, Update{}, 400},
		{"retry that would overflow a duration", "topic=a&retry=9223372036854775", Draft07, Update{}, 400},
		{"id past the bound", "topic=a&id=" + strings.Repeat("x", MaxIDLen+1), Draft07, Update{}, 400},
		{"id with a control character", "topic=a&id=a%09b", Draft07, Update{}, 400},
		{"08 §2 topic with a control character", "topic=a%00", Draft08, Update{}, 400},
		{"08 §5 topic too long: 413", "topic=" + strings.Repeat("x", 2049), Draft08, Update{}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUpdate(tt.body, tt.gen, PublishLimits{})
			if tt.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != tt.status {
					t.Fatalf("ParseUpdate(%q) = %+v, %v; want status %d", tt.body, u, err, tt.status)
				}
				return
			}
			if err != nil || !slices.Equal(u.Topics, tt.want.Topics) || u.Data != tt.want.Data || u.Private != tt.want.Private ||
				u.ID != tt.want.ID || u.Type != tt.want.Type || u.Retry != tt.want.Retry {
				t.Errorf("ParseUpdate(%q) = %+v, %v; want %+v", tt.body, u, err, tt.want)
			}
		})
	}
	if _, err := ParseUpdate(strings.Repeat("topic=a&", 5), Draft07, PublishLimits{MaxTopics: 4}); err == nil {
		t.Error("5 topics at a limit of 4 accepted")
	}
}

// FuzzParseSubscription: any query is parsed or refused with a 400,
// never a panic, and what is accepted has selectors of one generation
// and an id that cannot break a header or frame.
func FuzzParseSubscription(f *testing.F) {
	for _, s := range []string{"topic=a&topic=/b/{c}", "match=a&match_urlpattern=https://e.com/:x&last_event_id=1", "topic=*", "match_X=1", "%"} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, query, header string) {
		sub, err := ParseSubscription(query, header, SubscribeOptions{})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Errorf("ParseSubscription(%q) refused with %v, want a 400", query, err)
			}
			return
		}
		if sub.Generation != Draft07 && sub.Generation != Draft08 {
			t.Errorf("ParseSubscription(%q) accepted with generation %d", query, sub.Generation)
		}
		if strings.ContainsAny(sub.LastEventID, "\r\n\x00") {
			t.Errorf("ParseSubscription(%q, %q) accepted last event id %q", query, header, sub.LastEventID)
		}
		if sub.Generation == Draft07 && len(sub.Selectors.Patterns()) > 0 || sub.Generation == Draft08 && len(sub.Selectors.Templates()) > 0 {
			t.Errorf("ParseSubscription(%q) mixes generations: %+v", query, sub)
		}
	})
}

// FuzzParseUpdate: any form is parsed or refused with a 400 or 413, and
// an accepted update has topics and fields that cannot break a frame.
func FuzzParseUpdate(f *testing.F) {
	for _, s := range []string{"topic=a&data=x&id=1&type=t&retry=5&private=on", "topic=a&topic=b", "id=%0A", ""} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, draft08 bool) {
		gen := Draft07
		if draft08 {
			gen = Draft08
		}
		u, err := ParseUpdate(body, gen, PublishLimits{})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest && e.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("ParseUpdate(%q) refused with %v", body, err)
			}
			return
		}
		if len(u.Topics) == 0 || gen == Draft08 && len(u.Topics) != 1 {
			t.Errorf("ParseUpdate(%q, %d) accepted topics %q", body, gen, u.Topics)
		}
		if strings.ContainsAny(u.ID+u.Type, "\r\n\x00") || strings.HasPrefix(u.ID, "#") || u.Retry < 0 {
			t.Errorf("ParseUpdate(%q) accepted %+v", body, u)
		}
	})
}

// TestParseClaim07 names the draft-07 sections it checks.
func TestParseClaim07(t *testing.T) {
	for _, tt := range []struct {
		name, raw          string
		publish, subscribe []string
		payload            string
		bad                bool
	}{
		{"§6.6 absent claim grants nothing", ``, nil, nil, "", false},
		{"§6.6 publish and subscribe", `{"publish":["*"],"subscribe":["https://example.com/books/{id}","a b"]}`,
			[]string{"*"}, []string{"https://example.com/books/{id}", "a b"}, "", false},
		{"§6.6 payload kept raw", `{"subscribe":["a"],"payload":{"user":"https://example.com/users/1"}}`,
			nil, []string{"a"}, `{"user":"https://example.com/users/1"}`, false},
		{"§6.4 empty publish list", `{"publish":[]}`, []string{}, nil, "", false},
		{"null payload is none", `{"payload":null}`, nil, nil, "", false},
		{"publish not a list", `{"publish":"*"}`, nil, nil, "", true},
		{"selector not a string", `{"subscribe":[1]}`, nil, nil, "", true},
		{"selector with a control character", `{"subscribe":["a\u0000"]}`, nil, nil, "", true},
		{"empty selector", `{"subscribe":[""]}`, nil, nil, "", true},
		{"claim not an object", `["*"]`, nil, nil, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseClaim07(json.RawMessage(tt.raw))
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseClaim07(%s) = %+v, want an error", tt.raw, c)
				}
				return
			}
			if err != nil || !slices.Equal(c.Publish, tt.publish) || !slices.Equal(c.Subscribe, tt.subscribe) || string(c.Payload) != tt.payload {
				t.Errorf("ParseClaim07(%s) = %+v, %v", tt.raw, c, err)
			}
		})
	}
	many := `{"subscribe":["a"` + strings.Repeat(`,"a"`, MaxClaimSelectors) + `]}`
	if _, err := ParseClaim07(json.RawMessage(many)); err == nil {
		t.Errorf("%d subscribe selectors accepted", MaxClaimSelectors+1)
	}
}

// FuzzParseClaim07: any claim is parsed or refused, and what is accepted
// has valid selectors within the limit.
func FuzzParseClaim07(f *testing.F) {
	for _, s := range []string{`{"publish":["*"],"subscribe":["/a/{b}"],"payload":1}`, `{}`, `[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseClaim07(json.RawMessage(raw))
		if err != nil {
			return
		}
		for _, s := range slices.Concat(c.Publish, c.Subscribe) {
			if s == "" || strings.ContainsAny(s, "\x00\n\r") {
				t.Errorf("ParseClaim07(%q) accepted selector %q", raw, s)
			}
		}
	})
}
