package mercure

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"

	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/transport/auth"
)

// detail is a "mercure" detail as JSON, for the tables.
func detail(actions, topics string, extra ...string) string {
	s := `{"type":"mercure","actions":` + actions + `,"topics":` + topics
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// TestParseAuthorizationDetails checks draft-08 §6.4 (Authorization
// Details), §6.7 (Topic Matcher List) and the limits: what each claim
// grants, and that a defect anywhere refuses the whole token.
func TestParseAuthorizationDetails(t *testing.T) {
	books := `[{"match":"https://example.com/books/:id","match_type":"urlpattern"}]`
	type probe struct {
		topic              string
		publish, subscribe bool
	}
	for _, tt := range []struct {
		name   string
		raw    string
		bad    bool
		probes []probe
	}{
		{"§6.4 absent claim grants nothing", ``, false, []probe{{"a", false, false}}},
		{"§6.4 empty array grants nothing", `[]`, false, []probe{{"a", false, false}}},
		{"§6.4 publish only", `[` + detail(`["publish"]`, books) + `]`, false,
			[]probe{{"https://example.com/books/1", true, false}, {"https://example.com/users/1", false, false}}},
		{"§6.4 subscribe only", `[` + detail(`["subscribe"]`, books) + `]`, false,
			[]probe{{"https://example.com/books/1", false, true}}},
		{"§6.4 both actions in one detail", `[` + detail(`["subscribe","publish"]`, books) + `]`, false,
			[]probe{{"https://example.com/books/1", true, true}}},
		{"§6.4 grants add up across details", `[` + detail(`["publish"]`, `[{"match":"a"}]`) + `,` + detail(`["publish"]`, `[{"match":"b"}]`) + `]`, false,
			[]probe{{"a", true, false}, {"b", true, false}, {"c", false, false}}},
		{"§6.4 unknown actions grant nothing and refuse nothing", `[` + detail(`["read","publish"]`, `[{"match":"a"}]`) + `,` + detail(`["admin"]`, `[{"match":"*"}]`) + `]`, false,
			[]probe{{"a", true, false}, {"b", false, false}}},
		{"§6.4 details of other types are ignored", `[{"type":"payment_initiation","actions":7},` + detail(`["subscribe"]`, `[{"match":"a"}]`) + `]`, false,
			[]probe{{"a", false, true}}},
		{"§6.7 match_type absent is exact, byte for byte", `[` + detail(`["publish"]`, `[{"match":"https://example.com/a"}]`) + `]`, false,
			[]probe{{"https://example.com/a", true, false}, {"https://EXAMPLE.com/a", false, false}}},
		{"§6.7 match_type exact", `[` + detail(`["publish"]`, `[{"match":"https://example.com/:id","match_type":"exact"}]`) + `]`, false,
			[]probe{{"https://example.com/:id", true, false}, {"https://example.com/1", false, false}}},
		{"§6.7 * matches everything whatever the type", `[` + detail(`["subscribe"]`, `[{"match":"*","match_type":"urlpattern"}]`) + `]`, false,
			[]probe{{"anything", false, true}}},
		{"§6.7 unknown members of a matcher are ignored", `[` + detail(`["publish"]`, `[{"match":"a","note":1}]`) + `]`, false,
			[]probe{{"a", true, false}}},

		{"§6.4 not an array", `{"type":"mercure"}`, true, nil},
		{"§6.4 an entry that is not an object", `[1]`, true, nil},
		{"§6.4 an entry without type (RFC 9396 §2)", `[{"actions":["publish"]}]`, true, nil},
		{"§6.4 type is case-sensitive member name", `[{"Type":"mercure","actions":["publish"],"topics":[{"match":"a"}]}]`, true, nil},
		{"§6.4 no actions", `[{"type":"mercure","topics":[{"match":"a"}]}]`, true, nil},
		{"§6.4 empty actions", `[` + detail(`[]`, `[{"match":"a"}]`) + `]`, true, nil},
		{"§6.4 a non-string action", `[` + detail(`["publish",1]`, `[{"match":"a"}]`) + `]`, true, nil},
		{"§6.4 actions not an array", `[` + detail(`"publish"`, `[{"match":"a"}]`) + `]`, true, nil},
		{"§6.4 no topics", `[{"type":"mercure","actions":["publish"]}]`, true, nil},
		{"§6.4 empty topics", `[` + detail(`["publish"]`, `[]`) + `]`, true, nil},
		{"§6.4 payload not an object", `[` + detail(`["subscribe"]`, `[{"match":"a"}]`, `"payload":"x"`) + `]`, true, nil},
		{"§6.4 no partial acceptance: one bad detail refuses the good one", `[` + detail(`["publish"]`, `[{"match":"a"}]`) + `,` +
			detail(`["publish"]`, `[{"match":"b","match_type":"regexp"}]`) + `]`, true, nil},
		{"§6.7 unknown match_type", `[` + detail(`["publish"]`, `[{"match":"a","match_type":"template"}]`) + `]`, true, nil},
		{"§6.7 match_type is case-sensitive", `[` + detail(`["publish"]`, `[{"match":"a","match_type":"URLPattern"}]`) + `]`, true, nil},
		{"§6.7 match_type not a string", `[` + detail(`["publish"]`, `[{"match":"a","match_type":null}]`) + `]`, true, nil},
		{"§6.7 a matcher that is not an object", `[` + detail(`["publish"]`, `["a"]`) + `]`, true, nil},
		{"§6.7 no match", `[` + detail(`["publish"]`, `[{"match_type":"exact"}]`) + `]`, true, nil},
		{"§6.7 match not a string", `[` + detail(`["publish"]`, `[{"match":7}]`) + `]`, true, nil},
		{"§6.7 empty match", `[` + detail(`["publish"]`, `[{"match":""}]`) + `]`, true, nil},
		{"§2 a control character in a match", `[` + detail(`["publish"]`, `[{"match":"a\u0007"}]`) + `]`, true, nil},
		{"§2 a format character in a match", `[` + detail(`["publish"]`, `[{"match":"a\u200bb"}]`) + `]`, true, nil},
		{"§4.2 a URL pattern that does not parse", `[` + detail(`["subscribe"]`, `[{"match":"https://example.com/(","match_type":"urlpattern"}]`) + `]`, true, nil},
		{"§4.2 a relative URL pattern, without the hub's URL to resolve it", `[` + detail(`["subscribe"]`, `[{"match":"/books/:id","match_type":"urlpattern"}]`) + `]`, true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseAuthorizationDetails(json.RawMessage(tt.raw), nil)
			if tt.bad {
				if err == nil || !errors.Is(err, ErrDetails) {
					t.Fatalf("ParseAuthorizationDetails(%s) = %+v, %v; want an ErrDetails", tt.raw, d, err)
				}
				if d.Publish != nil || d.Subscribe != nil || d.Details != nil {
					t.Errorf("a refused claim still grants: %+v", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAuthorizationDetails(%s): %v", tt.raw, err)
			}
			for _, p := range tt.probes {
				if got := d.MayPublish(p.topic); got != p.publish {
					t.Errorf("MayPublish(%q) = %v, want %v", p.topic, got, p.publish)
				}
				if got := d.Subscribe != nil && d.Subscribe.MatchesAny([]string{p.topic}); got != p.subscribe {
					t.Errorf("subscribe grants match %q = %v, want %v", p.topic, got, p.subscribe)
				}
			}
		})
	}
}

// TestParseAuthorizationDetailsLimits: the limits of "Limits" in
// docs/mercure-design.md, at and one past each (draft-08 §6.4: over a
// limit is an invalid token).
func TestParseAuthorizationDetailsLimits(t *testing.T) {
	details := func(n, matchersEach int) string {
		var ds []string
		for i := range n {
			var ms []string
			for j := range matchersEach {
				ms = append(ms, fmt.Sprintf(`{"match":"t%d-%d"}`, i, j))
			}
			ds = append(ds, detail(`["subscribe"]`, "["+strings.Join(ms, ",")+"]"))
		}
		return "[" + strings.Join(ds, ",") + "]"
	}
	for _, tt := range []struct {
		name        string
		raw         string
		ok          bool
		wantDetails int
	}{
		{"MaxDetails details", details(MaxDetails, 1), true, MaxDetails},
		{"MaxDetails+1 details", details(MaxDetails+1, 1), false, 0},
		{"MaxDetailMatchers matchers in all", details(16, MaxDetailMatchers/16), true, 16},
		{"MaxDetailMatchers+1 matchers in all", strings.TrimSuffix(details(16, MaxDetailMatchers/16), "]") + "," +
			detail(`["publish"]`, `[{"match":"one more"}]`) + "]", false, 0},
		{"MaxDetailMatchers+1 matchers in one detail", details(1, MaxDetailMatchers+1), false, 0},
		{"other types do not count", `[` + strings.Repeat(`{"type":"x"},`, MaxDetails) + strings.TrimPrefix(details(MaxDetails, 1), "["), true, MaxDetails},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseAuthorizationDetails(json.RawMessage(tt.raw), nil)
			if (err == nil) != tt.ok || len(d.Details) != tt.wantDetails {
				t.Errorf("%d details, %v; want ok=%v with %d details", len(d.Details), err, tt.ok, tt.wantDetails)
			}
		})
	}
}

// TestPayloadFor checks draft-08 §6.8 (Payloads) with its own example:
// the first subscribe detail matching the subscription's matcher, taken
// as a topic, gives the payload; "*" is the default; order decides.
func TestPayloadFor(t *testing.T) {
	raw := `[
		{"type":"mercure","actions":["publish"],"topics":[{"match":"*"}],"payload":{"publisher":true}},
		{"type":"mercure","actions":["subscribe"],"topics":[{"match":"https://example.com/foo"}],"payload":{"custom1":1}},
		{"type":"mercure","actions":["subscribe"],"topics":[{"match":"https://example.com/bar/:id","match_type":"urlpattern"}],"payload":{"custom2":2}},
		{"type":"mercure","actions":["subscribe"],"topics":[{"match":"https://example.com/nopayload"}]},
		{"type":"mercure","actions":["subscribe"],"topics":[{"match":"*"}],"payload":{"custom3":3}}
	]`
	d, err := ParseAuthorizationDetails(json.RawMessage(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ match, want string }{
		{"https://example.com/foo", `{"custom1":1}`},
		// A urlpattern subscription's own pattern string, as a topic.
		{"https://example.com/bar/:id", `{"custom2":2}`},
		{"https://example.com/bar/7", `{"custom2":2}`},
		// The first matching detail decides, even without a payload.
		{"https://example.com/nopayload", ``},
		{"https://example.com/other", `{"custom3":3}`},
	} {
		if got := string(d.PayloadFor(tt.match)); got != tt.want {
			t.Errorf("PayloadFor(%q) = %s, want %s", tt.match, got, tt.want)
		}
	}
	none, _ := ParseAuthorizationDetails(json.RawMessage(`[`+detail(`["publish"]`, `[{"match":"*"}]`, `"payload":{"a":1}`)+`]`), nil)
	if p := none.PayloadFor("x"); p != nil {
		t.Errorf("a publish detail's payload was used: %s", p)
	}
}

// FuzzParseAuthorizationDetails: any claim is parsed or refused as a
// whole; what is accepted is within the limits, has valid matchers, and
// grants exactly what its details say.
func FuzzParseAuthorizationDetails(f *testing.F) {
	for _, s := range []string{
		`[{"type":"mercure","actions":["publish","subscribe","x"],"topics":[{"match":"*"},{"match":"https://a.test/:id","match_type":"urlpattern"}],"payload":{}}]`,
		`[{"type":"other"}]`, `[]`, `[`, `null`, `[{"type":"mercure","actions":["publish"],"topics":[{"match":"a","match_type":"exact"}]}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := ParseAuthorizationDetails(json.RawMessage(raw), nil)
		if err != nil {
			if d.Details != nil || d.Publish != nil || d.Subscribe != nil {
				t.Fatalf("refused %q but granted %+v", raw, d)
			}
			return
		}
		if len(d.Details) > MaxDetails {
			t.Fatalf("%d details accepted", len(d.Details))
		}
		n, pub, sub := 0, false, false
		for _, det := range d.Details {
			n += len(det.Topics)
			if len(det.Topics) == 0 {
				t.Fatalf("a detail without topics accepted in %q", raw)
			}
			for _, m := range det.Topics {
				if m.Value == "" || strings.ContainsAny(m.Value, "\x00\n\r") || (m.Kind != mercure.Exact && m.Kind != mercure.URLPattern) {
					t.Fatalf("matcher %+v accepted in %q", m, raw)
				}
				if !det.Matches(m.Value) && m.Kind == mercure.Exact {
					t.Fatalf("exact matcher %q does not match itself", m.Value)
				}
			}
			if det.Payload != nil && (len(det.Payload) == 0 || strings.TrimSpace(string(det.Payload))[0] != '{') {
				t.Fatalf("payload %s accepted", det.Payload)
			}
			pub = pub || det.Actions&ActionPublish != 0
			sub = sub || det.Actions&ActionSubscribe != 0
		}
		if n > MaxDetailMatchers {
			t.Fatalf("%d matchers accepted", n)
		}
		if pub != (d.Publish != nil) || sub != (d.Subscribe != nil) {
			t.Fatalf("grants %v/%v do not follow the actions %v/%v in %q", d.Publish != nil, d.Subscribe != nil, pub, sub, raw)
		}
	})
}

// TestTokenGeneration: which generation's rules a verified token is
// held to (docs/mercure-design.md, "Auth"), and draft-08 §6.3's typ
// comparison.
func TestTokenGeneration(t *testing.T) {
	details, claim := json.RawMessage(`[]`), json.RawMessage(`{}`)
	for _, tt := range []struct {
		name string
		c    auth.Claims
		want Generation
	}{
		{"authorization_details: draft-08", auth.Claims{AuthorizationDetails: details}, Draft08},
		{"authorization_details wins over mercure", auth.Claims{AuthorizationDetails: details, Mercure: claim, Type: "JWT"}, Draft08},
		{"mercure only: draft-07", auth.Claims{Mercure: claim}, Draft07},
		{"mercure typed at+jwt: still draft-07", auth.Claims{Mercure: claim, Type: "at+jwt"}, Draft07},
		{"neither, typed at+jwt: draft-08", auth.Claims{Type: "at+jwt"}, Draft08},
		{"neither, untyped: draft-07", auth.Claims{}, Draft07},
	} {
		if got := TokenGeneration(tt.c); got != tt.want {
			t.Errorf("%s: TokenGeneration = %d, want %d", tt.name, got, tt.want)
		}
	}
	for typ, want := range map[string]bool{
		"at+jwt": true, "AT+JWT": true, "application/at+jwt": true, "Application/At+Jwt": true,
		"": false, "JWT": false, "application/": false, "application/jwt": false, "at+jwt ": false, "x/at+jwt": false,
	} {
		if got := IsAccessTokenType(typ); got != want {
			t.Errorf("IsAccessTokenType(%q) = %v, want %v", typ, got, want)
		}
	}
}

// TestAuthorizationDetailsRelativePattern: with the hub's URL, a relative
// URL pattern in a detail resolves against it (draft-08 §4.2, §6.7) and
// grants the topics, relative or absolute, that resolve under it.
func TestAuthorizationDetailsRelativePattern(t *testing.T) {
	base, err := urlpattern.NewBase("https://hub.example.com/.well-known/mercure")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseAuthorizationDetails(json.RawMessage(`[`+detail(`["subscribe"]`, `[{"match":"/books/:id","match_type":"urlpattern"}]`)+`]`), base)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]bool{"/books/1": true, "https://hub.example.com/books/2": true,
		"https://other.example/books/3": false, "/authors/1": false} {
		if got := d.Subscribe.MatchesAny([]string{topic}); got != want {
			t.Errorf("grants %s: %v, want %v", topic, got, want)
		}
	}
}
