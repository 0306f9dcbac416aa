package mercuremap_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/hub/topic/uritemplate"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// checkCarrier fails the test unless c is a valid pattern whose only * is
// its last byte.
func checkCarrier(t *testing.T, what, c string) {
	t.Helper()
	if err := topic.ValidatePattern(c); err != nil {
		t.Errorf("topic.ValidatePattern(%s = %q) = %v", what, c, err)
	}
	if strings.IndexByte(c, '*') != len(c)-1 {
		t.Errorf("%s = %q, want a single * at the end", what, c)
	}
	if !mercuremap.IsMapped(c) {
		t.Errorf("%s = %q, not in the mapped namespace", what, c)
	}
}

func TestCarrier(t *testing.T) {
	a := strings.Repeat
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "@m/*"},
		{"URL", "https://example.com/books/", "@m/https://example.com/books/*"},
		{"space", "https://example.com/a b", "@m/https://example.com/a_20b*"},
		{"underscore", "a_", "@m/a_5F*"},
		{"star", "*", "@m/_2A*"},
		{"Unicode", "https://example.com/café/", "@m/https://example.com/caf_C3_A9/*"},
		{"cut rune", "é"[:1], "@m/_C3*"},
		{"200 escaped bytes", a("a", 200), "@m/" + a("a", 200) + "*"},
		{"201 escaped bytes: cut", a("a", 201), "@m/" + a("a", 200) + "*"},
		{"cut before an escape", a("a", 199) + "é", "@m/" + a("a", 199) + "*"},
		{"escape ending at 200", a("a", 197) + " b", "@m/" + a("a", 197) + "_20*"},
		{"escape crossing 200", a("a", 198) + " ", "@m/" + a("a", 198) + "*"},
		{"very long", a("é", 1000), "@m/" + a("_C3_A9", 33) + "*"},
	}
	for _, tt := range tests {
		got := mercuremap.Carrier(tt.in)
		if got != tt.want {
			t.Errorf("Carrier(%q) = %q, want %q", tt.in, got, tt.want)
		}
		checkCarrier(t, "Carrier("+tt.name+")", got)
	}
}

func TestCarrierMatches(t *testing.T) {
	tests := []struct {
		prefix, topic string
		want          bool
	}{
		{"https://example.com/books/", "https://example.com/books/1", true},
		{"https://example.com/books/", "https://example.com/books/", true},
		{"https://example.com/books/", "https://example.com/users/1", false},
		{"https://example.com/books/", "https://example.com/books", false},
		{"", "anything at all", true},
		{"a_", "a_b", true},
		{"a_", "a b", false},
		{"é", "éa", true},
		{"é", "è", false},
		// Long forms keep a 200-byte escaped prefix; carriers match it.
		{"https://example.com/", "https://example.com/" + strings.Repeat("a", 300), true},
		{strings.Repeat("a", 250), strings.Repeat("a", 300), true},
		{strings.Repeat("a", 250), strings.Repeat("a", 199) + "b" + strings.Repeat("a", 100), false},
		{strings.Repeat("é", 40), strings.Repeat("é", 100), true},
	}
	for _, tt := range tests {
		c, m := mercuremap.Carrier(tt.prefix), mapped(t, tt.topic)
		if got := topic.Match(c, m); got != tt.want {
			t.Errorf("topic.Match(Carrier(%.40q) = %.60q, Map(%.40q) = %.60q) = %v, want %v", tt.prefix, c, tt.topic, m, got, tt.want)
		}
	}
}

// TestCarrierProperty checks that the carrier of every prefix of a topic
// matches the topic's mapped name, short or long, over random topics and
// topics built to put an escape on either side of the long form's cut.
func TestCarrierProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	topics := make([]string, 0, 3000)
	for range 500 {
		topics = append(topics, randomTopic(r))
	}
	for k := 190; k <= 260; k++ {
		for _, tail := range []string{"", "é", " ", "_", "😀x", strings.Repeat("é", 30), strings.Repeat("b", 100)} {
			topics = append(topics, strings.Repeat("a", k)+tail, strings.Repeat("é", k/6)+strings.Repeat("a", k%6)+tail)
		}
	}
	for _, s := range topics {
		m := mapped(t, s)
		for i := 0; i <= len(s); i++ {
			if c := mercuremap.Carrier(s[:i]); !topic.Match(c, m) {
				t.Fatalf("Carrier(%q) = %q does not match Map(%q) = %q", s[:i], c, s, m)
			}
		}
	}
}

func TestTemplateCarrier(t *testing.T) {
	tests := []struct {
		template, want string
		matches        []string // topics the template matches, which the carrier must too
	}{
		{"https://example.com/books/{id}", "@m/https://example.com/books/*",
			[]string{"https://example.com/books/1", "https://example.com/books/caf%C3%A9"}},
		{"{scheme}://example.com/{id}", "@m/*", []string{"https://example.com/1"}},
		{"https://example.com/café/{id}", "@m/https://example.com/caf_C3_A9/*", []string{"https://example.com/café/1"}},
		{"https://example.com/a%20b/{id}", "@m/https://example.com/a_2520b/*", []string{"https://example.com/a%20b/1"}},
		{"https://example.com/{+path}", "@m/https://example.com/*", []string{"https://example.com/a/b?c=d#e"}},
		{"https://example.com/search{?q}", "@m/https://example.com/search*", []string{"https://example.com/search", "https://example.com/search?q=x"}},
		{"https://example.com/" + strings.Repeat("a", 300) + "/{id}", "@m/https://example.com/" + strings.Repeat("a", 180) + "*",
			[]string{"https://example.com/" + strings.Repeat("a", 300) + "/1"}},
	}
	for _, tt := range tests {
		tmpl, err := uritemplate.Parse(tt.template)
		if err != nil {
			t.Fatalf("uritemplate.Parse(%q) = %v", tt.template, err)
		}
		got := mercuremap.TemplateCarrier(tmpl)
		if got != tt.want {
			t.Errorf("TemplateCarrier(%.60q) = %q, want %q", tt.template, got, tt.want)
		}
		checkCarrier(t, "TemplateCarrier", got)
		for _, s := range tt.matches {
			if !tmpl.Match(s) {
				t.Fatalf("test bug: %.60q does not match %.60q", tt.template, s)
			}
			if m := mapped(t, s); !topic.Match(got, m) {
				t.Errorf("TemplateCarrier(%.60q) = %q does not match Map(%.60q) = %q", tt.template, got, s, m)
			}
		}
	}
}

func TestPatternCarrier(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"https://example.com/books/:id", "@m/https://example.com/books/*"},
		{"https://example.com/books/1", "@m/https://example.com/books/1*"}, // literal "https://example.com/books/1?"
		{"https://example.com/a?q=1", "@m/https://example.com/a*"},         // literal "...a?q=1#"
		{"https://example.com/a b/*", "@m/https://example.com/a_2520b/*"},  // canonical: %20
		{"HTTPS://EXAMPLE.COM/x/*", "@m/https://example.com/x/*"},
		{"https://example.com:8443/x/*", "@m/https://example.com:8443/x/*"},
		{"https://*.example.com/*", "@m/https://*"},
		{"*://example.com/*", "@m/*"},
		{"http{s}?://example.com/*", "@m/http*"},
		{"urn:isbn:*", "@m/urn*"},
		{"https://example.com/" + strings.Repeat("a", 300) + "/:id", "@m/https://example.com/" + strings.Repeat("a", 180) + "*"},
	}
	for _, tt := range tests {
		p, err := urlpattern.Parse(tt.pattern)
		if err != nil {
			t.Fatalf("urlpattern.Parse(%q) = %v", tt.pattern, err)
		}
		got := mercuremap.PatternCarrier(p)
		if got != tt.want {
			t.Errorf("PatternCarrier(%.60q) = %q, want %q (literal %q)", tt.pattern, got, tt.want, p.Literal())
		}
		checkCarrier(t, "PatternCarrier", got)
	}
}

func TestNeedsRoute(t *testing.T) {
	tests := []struct {
		topic string
		want  bool
	}{
		{"https://example.com/books/1", false},
		{"https://example.com/", false},
		{"https://example.com/books/1?q=a b", false}, // the query is left to the shard
		{"https://example.com/a#frag ment", false},
		{"https://example.com:8443/x", false},
		{"foo://host/a", false},
		{"not a URL", false},
		{"/books/1", false}, // relative: no URL pattern matches it
		{"", false},
		{"HTTPS://example.com/books/1", true},
		{"https://Example.COM/books/1", true},
		{"https://example.com:443/books/1", true},
		{"https://example.com/a/../books/1", true},
		{"https://example.com", true},
		{"https://user@example.com/a", true},
		{"https://example.com/café", true},
		{"https://example.com/a b", true},
		{"https://example.com\\a", true},
		{" https://example.com/a", true},
		{"urn:isbn:123", true},
	}
	for _, tt := range tests {
		if got := mercuremap.NeedsRoute(tt.topic, nil); got != tt.want {
			key, _ := urlpattern.IndexKey(tt.topic)
			t.Errorf("NeedsRoute(%q) = %v, want %v (IndexKey %q)", tt.topic, got, tt.want, key)
		}
	}
}

// routeSeeds are patterns and topics for the guarantee NeedsRoute and
// PatternCarrier share, used by TestPatternCarrierGuarantee and as fuzz
// seeds.
var (
	routePatterns = []string{
		"https://example.com/books/:id", "https://example.com/books/1", "https://example.com/*",
		"https://example.com/a?q=1", "https://example.com/a b/*", "https://*.example.com/*",
		"*://example.com/*", "http{s}?://example.com/*", "urn:isbn:*", "urn://*", "foo://*",
		"https://example.com:8443/*", "https://example.com/books/:id(\\d+)", "https://example.com/café/*",
		"https://example.com/", "https://example.com/a\\?b/*", "https://example.com/" + strings.Repeat("a", 300) + "/*",
	}
	routeTopics = []string{
		"https://example.com/books/1", "HTTPS://Example.COM:443/a/../books/1", "https://example.com/books/1?x",
		"https://example.com/a?q=1", "https://example.com/a?q=1#f", "https://example.com/a b/c", "https://example.com/a%20b/c",
		"https://www.example.com/x", "http://example.com/x", "urn:isbn:123", "urn://isbn/1", "foo://x/y", "foo:x",
		"https://example.com:8443/x", "https://example.com/café/1", "https://example.com/caf%C3%A9/1", "https://example.com",
		"https://u:p@example.com/books/1", "https://example.com/a%3Fb/c", "https://example.com/a?b/c",
		"https://example.com/" + strings.Repeat("a", 300) + "/x", "https://example.com/" + strings.Repeat("A", 300) + "/x",
	}
)

// TestPatternCarrierGuarantee checks what the design relies on: a topic a
// URL pattern matches either reaches the pattern's carrier or is routed
// through RouteTopic.
func TestPatternCarrierGuarantee(t *testing.T) {
	matched := 0
	for _, ps := range routePatterns {
		p, err := urlpattern.Parse(ps)
		if err != nil {
			t.Fatalf("urlpattern.Parse(%q) = %v", ps, err)
		}
		c := mercuremap.PatternCarrier(p)
		for _, s := range routeTopics {
			if !p.Test(s) {
				continue
			}
			matched++
			if !mercuremap.NeedsRoute(s, nil) && !topic.Match(c, mapped(t, s)) {
				t.Errorf("%.60q matches %.60q, but NeedsRoute is false and PatternCarrier = %q does not match Map = %.80q",
					ps, s, c, mapped(t, s))
			}
		}
	}
	if matched < 20 {
		t.Fatalf("only %d pattern-topic pairs match; the test no longer exercises the guarantee", matched)
	}
}
