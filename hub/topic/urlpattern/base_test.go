package urlpattern_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// hubBase is a Mercure hub's URL, the base of its relative patterns and
// topics.
const hubBase = "https://hub.example.com/.well-known/mercure"

func mustBase(t testing.TB, s string) *urlpattern.Base {
	t.Helper()
	if s == "" {
		return nil
	}
	b, err := urlpattern.NewBase(s)
	if err != nil {
		t.Fatalf("NewBase(%q) = %v, want nil", s, err)
	}
	return b
}

func mustParseWithBase(t testing.TB, s, base string) *urlpattern.Pattern {
	t.Helper()
	p, err := urlpattern.ParseWithBase(s, mustBase(t, base))
	if err != nil {
		t.Fatalf("ParseWithBase(%q, %q) = %v, want nil", s, base, err)
	}
	return p
}

// TestParseWithBaseComponents checks which components a pattern takes from
// its base URL ("process a URLPatternInit"): those before the first one
// the pattern gives; never the username and password; the rest are
// wildcards. The expectations are what the urlpattern-polyfill npm package
// (version 10.1.0) gives for new URLPattern(pattern, base).
func TestParseWithBaseComponents(t *testing.T) {
	tests := []struct {
		in, base string
		want     components
	}{
		{"", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a/", "search": "*", "hash": "*"}},
		{"/books/:id", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/books/:id", "search": "*", "hash": "*"}},
		{"books/:id", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a/books/:id", "search": "*", "hash": "*"}},
		{":id", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a/:id", "search": "*", "hash": "*"}},
		{"?q=:x", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a/b", "search": "q=:x", "hash": "*"}},
		{"#h2", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a/b", "search": "q", "hash": "h2"}},
		{"/x#h2", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/x", "search": "", "hash": "h2"}},
		{"/x?y", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/x", "search": "y", "hash": "*"}},
		{"{/a}?", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "{/a}?", "search": "*", "hash": "*"}},
		{"\\/a", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a", "search": "*", "hash": "*"}},
		{"../x", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/x", "search": "*", "hash": "*"}},
		{"*", "https://hub.example.com/.well-known/mercure",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "hub.example.com", "port": "",
				"pathname": "/.well-known/*", "search": "*", "hash": "*"}},
		{"//other.com/x", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "//other.com/x", "search": "*", "hash": "*"}},
		{"https://x.com", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "x.com", "port": "",
				"pathname": "*", "search": "*", "hash": "*"}},
		{"https://x.com/y", "https://example.com/a/b?q#h",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "x.com", "port": "",
				"pathname": "/y", "search": "*", "hash": "*"}},
		{"data\\:foo", "https://example.com/a/b?q#h",
			components{"protocol": "data", "username": "*", "password": "*", "hostname": "", "port": "",
				"pathname": "/a/foo", "search": "*", "hash": "*"}},
		{"/a", "http://[::1]:8080/",
			components{"protocol": "http", "username": "*", "password": "*", "hostname": "[\\:\\:1]", "port": "8080",
				"pathname": "/a", "search": "*", "hash": "*"}},
		{"/a", "https://u:p@example.com:8443/",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "8443",
				"pathname": "/a", "search": "*", "hash": "*"}},
		{"?x", "https://example.com/a+b/(c)/d*",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a\\+b/\\(c\\)/d\\*", "search": "x", "hash": "*"}},
		{"x", "https://example.com",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/x", "search": "*", "hash": "*"}},
		{"x", "foo://host",
			components{"protocol": "foo", "username": "*", "password": "*", "hostname": "host", "port": "",
				"pathname": "x", "search": "*", "hash": "*"}},
		{"x", "urn:isbn:1",
			components{"protocol": "urn", "username": "*", "password": "*", "hostname": "", "port": "",
				"pathname": "x", "search": "*", "hash": "*"}},
		{"#f", "urn:isbn:1",
			components{"protocol": "urn", "username": "*", "password": "*", "hostname": "", "port": "",
				"pathname": "isbn\\:1", "search": "", "hash": "f"}},
		{"/a", "https://example.com:443/",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a", "search": "*", "hash": "*"}},
		{"x", "foo://host/a/b",
			components{"protocol": "foo", "username": "*", "password": "*", "hostname": "host", "port": "",
				"pathname": "/a/x", "search": "*", "hash": "*"}},
		{"?x", "foo://host/a/b",
			components{"protocol": "foo", "username": "*", "password": "*", "hostname": "host", "port": "",
				"pathname": "/a/b", "search": "x", "hash": "*"}},
		{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "hub.example.com", "port": "",
				"pathname": "/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "search": "*", "hash": "*"}},
		{"?q", "https://example.com/a?b#c",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a", "search": "q", "hash": "*"}},
		{"#:s", "https://example.com/a?b:c#d",
			components{"protocol": "https", "username": "*", "password": "*", "hostname": "example.com", "port": "",
				"pathname": "/a", "search": "b\\:c", "hash": ":s"}},
	}
	for _, tt := range tests {
		p := mustParseWithBase(t, tt.in, tt.base)
		got := components{}
		for _, c := range allComponents {
			got[c.String()] = p.Component(c)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseWithBase(%q, %q) components (-want +got):\n%s", tt.in, tt.base, diff)
		}
		if p.String() != tt.in {
			t.Errorf("ParseWithBase(%q, %q).String() = %q, want the pattern", tt.in, tt.base, p.String())
		}
	}
}

func TestParseWithBaseErrors(t *testing.T) {
	const base = "https://example.com/a/b?q#h"
	tests := []struct {
		name, in, base string
		want           error
		msg            string // a part of the message
	}{
		{"relative without base", "/books/:id", "", urlpattern.ErrUnsupported,
			"and there is no base URL to resolve it against"},
		// The offsets are the pattern's, not those of the pathname with
		// the base's directory in front.
		{"unclosed regexp after base directory", "books/(a", base, urlpattern.ErrSyntax,
			`URL pattern "books/(a" at offset 6: the regexp group is not closed`},
		{"duplicate name after base directory", "books/:id/:id", base, urlpattern.ErrSyntax,
			"at offset 10: group name \"id\" is used twice"},
		{"absolute pathname", "/x/(a", base, urlpattern.ErrSyntax, "at offset 3: the regexp group"},
		{"search", "?(a", base, urlpattern.ErrSyntax, "at offset 1: the regexp group"},
		{"opaque protocol's pathname after base directory", `data\:(a`, base, urlpattern.ErrSyntax,
			"at offset 6: the regexp group"},
		{"modifier on text", "{?}x", base, urlpattern.ErrSyntax, `at offset 1: modifier "?" does not follow a group`},
		// The base's text has no groups, so the count is the pattern's.
		{"too many groups", "x" + manyGroups(33), base, urlpattern.ErrTooComplex,
			"the pattern has 33 groups; the limit is 32"},
		{"too long", strings.Repeat("a", urlpattern.MaxLen+1), base, urlpattern.ErrTooLong, "bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := urlpattern.ParseWithBase(tt.in, mustBase(t, tt.base))
			if err == nil {
				t.Fatalf("ParseWithBase(%q, %q) = %v, nil; want error wrapping %v", tt.in, tt.base, p, tt.want)
			}
			if !errors.Is(err, tt.want) || wrapped(err) != 1 {
				t.Errorf("ParseWithBase(%q, %q) = %v, want an error wrapping only %v", tt.in, tt.base, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseWithBase(%q, %q) = %q, want it to contain %q", tt.in, tt.base, err, tt.msg)
			}
		})
	}
	// Without a relative pathname, the groups limit is what it is without
	// a base: 32 groups pass.
	mustParseWithBase(t, "x"+manyGroups(32), base)
}

func TestNewBase(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want error
		msg  string
	}{
		{"", urlpattern.ErrSyntax, `base URL "" is not an absolute URL (it has no scheme, such as "https:")`},
		{"/.well-known/mercure", urlpattern.ErrSyntax, "is not an absolute URL"},
		{"hub.example.com/x", urlpattern.ErrSyntax, "is not an absolute URL"},
		{"file:///etc/", urlpattern.ErrUnsupported, `base URL "file:///etc/" is a file URL, which is not supported`},
		{"https://café.example/", urlpattern.ErrSyntax, "or its host is not ASCII (IDNA is not supported)"},
		{"https://exa mple.com/", urlpattern.ErrSyntax, `base URL "https://exa mple.com/" is not a valid URL`},
		{"https:///", urlpattern.ErrSyntax, "is not a valid URL"},
		{"https://x/\xff", urlpattern.ErrSyntax, "is not valid UTF-8"},
	} {
		b, err := urlpattern.NewBase(tt.in)
		if err == nil {
			t.Errorf("NewBase(%q) = %v, nil; want error wrapping %v", tt.in, b, tt.want)
			continue
		}
		if !errors.Is(err, tt.want) || wrapped(err) != 1 || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("NewBase(%q) = %q, want an error wrapping only %v containing %q", tt.in, err, tt.want, tt.msg)
		}
	}
	for _, s := range []string{hubBase, " HTTPS://Hub.Example.COM:443/a/../.well-known/mercure\t", "urn:isbn:1", "foo://x"} {
		if b := mustBase(t, s); b.String() != s {
			t.Errorf("NewBase(%q).String() = %q, want it as given", s, b.String())
		}
	}
}

// baseMatchTests are patterns, absolute or relative to a base, and inputs,
// absolute or relative to a base ("" for none). The expectations are what
// the urlpattern-polyfill npm package (version 10.1.0), which resolves
// inputs with the WHATWG URL parser, answers for
// new URLPattern(pattern, patternBase).test(input, inputBase).
var baseMatchTests = []struct {
	pattern, patternBase, input, inputBase string
	want                                   bool
}{
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"/.well-known/mercure/subscriptions/Exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3Aabc", "https://hub.example.com/.well-known/mercure", true},
	{"https://hub.example.com/.well-known/mercure/subscriptions/*", "",
		"/.well-known/mercure/subscriptions/Exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3Aabc", "https://hub.example.com/.well-known/mercure", true},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"https://hub.example.com/.well-known/mercure/subscriptions/Exact/a/b", "", true},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"https://other.example.com/.well-known/mercure/subscriptions/Exact/a/b", "", false},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"http://hub.example.com/.well-known/mercure/subscriptions/Exact/a/b", "", false},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"/.well-known/mercure/subscriptions/Exact/a/b/c", "https://hub.example.com/.well-known/mercure", false},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"subscriptions/Exact/a/b", "https://hub.example.com/.well-known/mercure", false},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"mercure/subscriptions/Exact/a/b", "https://hub.example.com/.well-known/mercure", true},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"/.well-known/mercure/subscriptions/Exact/a/b?x#y", "https://hub.example.com/.well-known/mercure", true},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"//hub.example.com/.well-known/mercure/subscriptions/Exact/a/b", "https://hub.example.com/.well-known/mercure", true},
	{"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "https://hub.example.com/.well-known/mercure",
		"/.well-known/mercure/subscriptions/Exact/a/b", "https://hub.example.com:8443/", false},
	{"", "https://example.com/a/b?q#h", "/a/", "https://example.com/a/b?q#h", true},
	{"", "https://example.com/a/b?q#h", "/a/b", "https://example.com/a/b?q#h", false},
	{"/books/:id", "https://example.com/a/b?q#h", "/books/1", "https://example.com/a/b?q#h", true},
	{"/books/:id", "https://example.com/a/b?q#h", "/books/1?x#y", "https://example.com/a/b?q#h", true},
	{"/books/:id", "https://example.com/a/b?q#h", "https://example.com/books/1", "", true},
	{"/books/:id", "https://example.com/a/b?q#h", "https://user:pw@example.com/books/1", "", true},
	{"/books/:id", "https://example.com/a/b?q#h", "https://example.com:8443/books/1", "", false},
	{"books/:id", "https://example.com/a/b?q#h", "/a/books/1", "https://example.com/a/b?q#h", true},
	{"books/:id", "https://example.com/a/b?q#h", "books/1", "https://example.com/a/b?q#h", true},
	{"books/:id", "https://example.com/a/b?q#h", "/books/1", "https://example.com/a/b?q#h", false},
	{"?page=:n", "https://example.com/a/b?q#h", "?page=2", "https://example.com/a/b?q#h", true},
	{"?page=:n", "https://example.com/a/b?q#h", "/a/b?page=2#top", "https://example.com/a/b?q#h", true},
	{"?page=:n", "https://example.com/a/b?q#h", "/a/c?page=2", "https://example.com/a/b?q#h", false},
	{"#:s", "https://example.com/a/b?q#h", "#intro", "https://example.com/a/b?q#h", true},
	{"#:s", "https://example.com/a/b?q#h", "?q#intro", "https://example.com/a/b?q#h", true},
	{"#:s", "https://example.com/a/b?q#h", "?r#intro", "https://example.com/a/b?q#h", false},
	{"#:s", "https://example.com/a/b?q#h", "", "https://example.com/a/b?q#h", false},
	{"https://example.com/*", "", "x", "https://example.com/a/b?q#h", true},
	{"https://example.com/*", "", "//other.com/x", "https://example.com/a/b?q#h", false},
	{"https://example.com/a/:x", "", "https:c", "https://example.com/a/b?q#h", true},
	{"https://example.com/a/:x", "", "../c", "https://example.com/a/b/c", true},
	{"https://example.com/a/:x", "", "/a/b", "", false},
	{"/a/:x", "https://example.com/a/b?q#h", "/a/b", "", false},
	{"/a/:x", "https://example.com/a/b?q#h", "/a/b", "http://example.com/", false},
	{"/x", "http://[::1]:8080/", "http://[0::1]:8080/x", "", true},
	{"/x", "http://[::1]:8080/", "/x", "http://[::1]/", false},
	{"*", "https://hub.example.com/.well-known/mercure",
		"/.well-known/x/y", "https://hub.example.com/.well-known/mercure", true},
	{"*", "https://hub.example.com/.well-known/mercure",
		"/x", "https://hub.example.com/.well-known/mercure", false},
	{"?x", "https://example.com/a+b/(c)/d*", "?x", "https://example.com/a+b/(c)/d*", true},
	{"#f", "urn:isbn:1", "#f", "urn:isbn:1", true},
	{"#f", "urn:isbn:1", "urn:isbn:1#f", "", true},
	{"x", "foo://host/a/b", "x", "foo://host/a/b", true},
	{"x", "foo://host/a/b", "/a/x", "foo://host/", true},
}

func TestTestBase(t *testing.T) {
	for _, tt := range baseMatchTests {
		p := mustParseWithBase(t, tt.pattern, tt.patternBase)
		if got := p.TestBase(tt.input, mustBase(t, tt.inputBase)); got != tt.want {
			t.Errorf("ParseWithBase(%q, %q).TestBase(%q, %q) = %v, want %v",
				tt.pattern, tt.patternBase, tt.input, tt.inputBase, got, tt.want)
		}
		// Without a base, a relative input never matches, and an
		// absolute one matches as it does with one, but for the special
		// relative form "https:c".
		if tt.inputBase == "" || strings.Contains(tt.input, "://") {
			if got := p.Test(tt.input); got != tt.want {
				t.Errorf("ParseWithBase(%q, %q).Test(%q) = %v, want %v",
					tt.pattern, tt.patternBase, tt.input, got, tt.want)
			}
		} else if p.Test(tt.input) {
			t.Errorf("ParseWithBase(%q, %q).Test(%q) = true for a relative input, want false",
				tt.pattern, tt.patternBase, tt.input)
		}
	}
}

// TestMercureSubscriptionEvents is the Mercure draft's use of base URLs: a
// hub's subscription events have relative topics, and subscribers match
// them with relative or absolute patterns, both resolved against the hub's
// URL.
func TestMercureSubscriptionEvents(t *testing.T) {
	hub := mustBase(t, hubBase)
	topic := "/.well-known/mercure/subscriptions/Exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3Aabc"
	relative := mustParseWithBase(t, "/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", hubBase)
	absolute := mustParse(t, "https://hub.example.com/.well-known/mercure/subscriptions/*")
	for _, p := range []*urlpattern.Pattern{relative, absolute} {
		if !p.TestBase(topic, hub) {
			t.Errorf("Pattern %q: TestBase(%q, %q) = false, want true", p, topic, hubBase)
		}
		if p.Test(topic) {
			t.Errorf("Pattern %q: Test(%q) = true, want false: without a base the topic is not a URL", p, topic)
		}
		if other := mustBase(t, "https://other.example.com/.well-known/mercure"); p.TestBase(topic, other) {
			t.Errorf("Pattern %q: TestBase(%q, another hub) = true, want false", p, topic)
		}
	}
	var set urlpattern.Set
	ids := []int{set.Add(relative), set.Add(absolute), set.Add(mustParse(t, "https://example.com/*"))}
	got := set.MatchBase(topic, hub, nil)
	slices.Sort(got)
	if want := ids[:2]; !slices.Equal(got, want) {
		t.Errorf("Set.MatchBase(%q, %q) = %v, want %v", topic, hubBase, got, want)
	}
	if got := set.Match(topic, nil); len(got) != 0 {
		t.Errorf("Set.Match(%q) = %v, want none", topic, got)
	}
	key, ok := urlpattern.IndexKeyBase(topic, hub)
	if want := "https://hub.example.com" + topic + "?#"; !ok || key != want {
		t.Errorf("IndexKeyBase(%q, %q) = %q, %v; want %q, true", topic, hubBase, key, ok, want)
	}
	if !strings.HasPrefix(key, relative.Literal()) || relative.Literal() != "https://hub.example.com/.well-known/mercure/subscriptions/Exact/" {
		t.Errorf("Literal() = %q, want the hub's subscriptions path, a prefix of %q", relative.Literal(), key)
	}
}

// TestSetMatchBase checks that Set.MatchBase agrees with TestBase on every
// pattern for relative and absolute inputs.
func TestSetMatchBase(t *testing.T) {
	bases := map[string]*urlpattern.Base{}
	var set urlpattern.Set
	var ids []int
	for _, tt := range baseMatchTests {
		ids = append(ids, set.Add(mustParseWithBase(t, tt.pattern, tt.patternBase)))
		bases[tt.inputBase] = mustBase(t, tt.inputBase)
	}
	matched := 0
	for _, tt := range baseMatchTests {
		for bs, b := range bases {
			got := set.MatchBase(tt.input, b, nil)
			slices.Sort(got)
			var want []int
			for _, id := range ids {
				if set.Pattern(id).TestBase(tt.input, b) {
					want = append(want, id)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("Set.MatchBase(%q, %q) = %v, want %v", tt.input, bs, got, want)
			}
			matched += len(got)
			key, ok := urlpattern.IndexKeyBase(tt.input, b)
			for _, id := range got {
				if p := set.Pattern(id); !ok || !strings.HasPrefix(key, p.Literal()) {
					t.Errorf("IndexKeyBase(%q, %q) = %q, %v; want a key starting with %q's Literal %q",
						tt.input, bs, key, ok, p, p.Literal())
				}
			}
		}
	}
	if matched < 100 {
		t.Errorf("%d matches in all; the test needs matching inputs", matched)
	}
}

// TestTestBaseAllocs checks that resolving a canonical relative input does
// not allocate, but for a path-relative one, whose path is joined to the
// base's.
func TestTestBaseAllocs(t *testing.T) {
	hub := mustBase(t, hubBase)
	p := mustParseWithBase(t, "/.well-known/*", hubBase)
	for _, tt := range []struct {
		input string
		want  float64
	}{
		{"/.well-known/mercure/subscriptions/Exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3Aabc", 0},
		{"https://hub.example.com/.well-known/mercure/x", 0},
		{"//hub.example.com/.well-known/mercure/x?y#z", 0},
		{"https:/.well-known/mercure/x", 0},
		{"?x#y", 0},
		{"mercure/x", 1},
	} {
		if !p.TestBase(tt.input, hub) {
			t.Fatalf("TestBase(%q) = false, want true", tt.input)
		}
		if n := testing.AllocsPerRun(100, func() { p.TestBase(tt.input, hub) }); n != tt.want {
			t.Errorf("TestBase(%q): %v allocs per run, want %v", tt.input, n, tt.want)
		}
	}
	var set urlpattern.Set
	set.Add(p)
	dst := make([]int, 0, 4)
	in := "/.well-known/mercure/subscriptions/Exact/a/b"
	if n := testing.AllocsPerRun(100, func() { dst = set.MatchBase(in, hub, dst[:0]) }); n != 0 || len(dst) != 1 {
		t.Errorf("Set.MatchBase(%q): %v allocs per run and %d matches, want 0 and 1", in, n, len(dst))
	}
}

func ExampleParseWithBase() {
	hub, err := urlpattern.NewBase("https://hub.example.com/.well-known/mercure")
	if err != nil {
		panic(err)
	}
	p, err := urlpattern.ParseWithBase("/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", hub)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Component(urlpattern.Protocol), p.Component(urlpattern.Hostname))
	fmt.Println(p.TestBase("/.well-known/mercure/subscriptions/Exact/https%3A%2F%2Fexample.com%2F1/urn%3Auuid%3Aabc", hub))
	fmt.Println(p.Test("https://hub.example.com/.well-known/mercure/subscriptions/Exact/a/b"))
	fmt.Println(p.Test("https://example.com/.well-known/mercure/subscriptions/Exact/a/b"))
	// Output:
	// https hub.example.com
	// true
	// true
	// false
}
