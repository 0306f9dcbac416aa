package urlpattern_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// FuzzParse feeds Parse untrusted patterns: it must not panic, must answer
// quickly, must return errors of the documented form, and what it accepts
// must keep Literal's promise and agree with Set. ParseWithBase gets each
// pattern too, with a Mercure hub's URL as the base, and is checked the
// same way on relative inputs resolved against that base.
func FuzzParse(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.pattern)
	}
	for _, s := range []string{
		"", "*", "urn:isbn:*", `data\:foo`, "https://{a{b}}", "https://x/(a(?=b))", "https://x/((a))",
		"https://[:a]:*/", "https://x/" + strings.Repeat("(a|b)*", 20), "https://x/" + strings.Repeat(":a", 40),
		"https://x/([[a-z]--[aeiou]]+)", `https://x/(\u{1F600})`, "http://[\\:\\:1]/",
		"/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", "subscriptions/*", "?q=:x", "#:h", `data\:x`,
	} {
		f.Add(s)
	}
	base, err := urlpattern.NewBase(hubBase)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start := time.Now()
		p, err := urlpattern.Parse(s)
		checkParsed(t, s, nil, p, err,
			[]string{s, "https://example.com/", "https://example.com/a/b?c#d", "foo:bar"})
		pb, errb := urlpattern.ParseWithBase(s, base)
		checkParsed(t, s, base, pb, errb,
			[]string{s, "/.well-known/mercure/subscriptions/Exact/a/b", "x", "?q", "#h", "", "//x/y", "https:x"})
		if err == nil && errb != nil {
			t.Fatalf("Parse(%q) = nil error, but ParseWithBase = %v: a base must not make a pattern invalid", s, errb)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Parse(%q) and Test took %v, want well under a second", s, d)
		}
	})
}

// checkParsed checks what ParseWithBase(s, base) returned: an error of
// the documented form, or a pattern that keeps Literal's promise and
// agrees with Set on the inputs and its Literal, resolved against base.
func checkParsed(t *testing.T, s string, base *urlpattern.Base, p *urlpattern.Pattern, err error, inputs []string) {
	t.Helper()
	if err != nil {
		if n := wrapped(err); n != 1 {
			t.Fatalf("ParseWithBase(%q, %v) = %v, wraps %d sentinels, want 1", s, base, err, n)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "URL pattern ") || len(msg) > 600 {
			t.Fatalf("ParseWithBase(%q, %v) message = %q, want prefix %q and at most 600 bytes", s, base, msg, "URL pattern ")
		}
		return
	}
	if len(s) > urlpattern.MaxLen {
		t.Fatalf("ParseWithBase(%d bytes, %v) = nil error, want ErrTooLong", len(s), base)
	}
	var set urlpattern.Set
	id := set.Add(p)
	for _, in := range append(inputs, p.Literal()) {
		match := p.TestBase(in, base)
		if key, ok := urlpattern.IndexKeyBase(in, base); match && (!ok || !strings.HasPrefix(key, p.Literal())) {
			t.Fatalf("ParseWithBase(%q, %v).TestBase(%q) = true, but IndexKeyBase = %q, %v does not start with Literal %q",
				s, base, in, key, ok, p.Literal())
		}
		if got := slices.Contains(set.MatchBase(in, base, nil), id); got != match {
			t.Fatalf("ParseWithBase(%q, %v): Set.MatchBase(%q) has it = %v, TestBase = %v", s, base, in, got, match)
		}
	}
}
