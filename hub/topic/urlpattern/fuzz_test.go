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
// must keep Literal's promise and agree with Set.
func FuzzParse(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.pattern)
	}
	for _, s := range []string{
		"", "*", "urn:isbn:*", `data\:foo`, "https://{a{b}}", "https://x/(a(?=b))", "https://x/((a))",
		"https://[:a]:*/", "https://x/" + strings.Repeat("(a|b)*", 20), "https://x/" + strings.Repeat(":a", 40),
		"https://x/([[a-z]--[aeiou]]+)", `https://x/(\u{1F600})`, "http://[\\:\\:1]/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start := time.Now()
		p, err := urlpattern.Parse(s)
		if err != nil {
			if n := wrapped(err); n != 1 {
				t.Fatalf("Parse(%q) = %v, wraps %d sentinels, want 1", s, err, n)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "URL pattern ") || len(msg) > 600 {
				t.Fatalf("Parse(%q) message = %q, want prefix %q and at most 600 bytes", s, msg, "URL pattern ")
			}
		} else {
			if len(s) > urlpattern.MaxLen {
				t.Fatalf("Parse(%d bytes) = nil error, want ErrTooLong", len(s))
			}
			var set urlpattern.Set
			id := set.Add(p)
			for _, in := range []string{s, p.Literal(), "https://example.com/", "https://example.com/a/b?c#d", "foo:bar"} {
				match := p.Test(in)
				if key, ok := urlpattern.IndexKey(in); match && (!ok || !strings.HasPrefix(key, p.Literal())) {
					t.Fatalf("Parse(%q).Test(%q) = true, but IndexKey = %q, %v does not start with Literal %q",
						s, in, key, ok, p.Literal())
				}
				if got := slices.Contains(set.Match(in, nil), id); got != match {
					t.Fatalf("Parse(%q): Set.Match(%q) has it = %v, Test = %v", s, in, got, match)
				}
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Parse(%q) and Test took %v, want well under a second", s, d)
		}
	})
}
