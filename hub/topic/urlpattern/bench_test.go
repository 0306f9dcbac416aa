package urlpattern_test

import (
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// BenchmarkTest measures Test on one canonical topic for the pattern shapes
// Mercure subscribers use; each component shape takes a different path
// (exact, wildcard, position sets, RE2).
func BenchmarkTest(b *testing.B) {
	benchmarks := []struct{ name, pattern, input string }{
		{"exact", "https://example.com/books/1", "https://example.com/books/1"},
		{"namedGroup", "https://example.com/books/:id", "https://example.com/books/42"},
		{"regexpGroup", `https://example.com/books/:id(\d+)`, "https://example.com/books/42"},
		{"wildcardHost", "*://*.example.com/*", "https://api.example.com/books/42"},
		{"optionalGroup", "https://example.com/users/:u/orders{/:id}?", "https://example.com/users/7/orders/42"},
		{"repeatedGroup", "https://example.com/files/:path+", "https://example.com/files/a/b/c.txt"},
		{"miss", "https://example.com/books/:id", "https://example.com/films/42"},
		{"nonCanonicalInput", "https://example.com/books/:id", "HTTPS://Example.COM:443/a/../books/42"},
		// The most work a pattern can ask for on a 256-byte topic: a
		// regexp near MaxRegexpSize that keeps RE2's every state alive,
		// and MaxGroups optional texts.
		{"worstRegexp", "https://x/((?:(?:a|b)?){140})", "https://x/" + strings.Repeat("a", 246)},
		{"worstParts", "https://x/" + strings.Repeat("{a}?", 32), "https://x/" + strings.Repeat("a", 246)},
	}
	for _, bm := range benchmarks {
		p, err := urlpattern.Parse(bm.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Test(bm.input)
			}
		})
	}
}

// BenchmarkTestBase measures TestBase on relative inputs, as Mercure
// subscription-event topics are, against a hub's URL: a path-absolute
// topic costs what its absolute form does, a path-relative one one
// allocation more (its path is joined to the base's).
func BenchmarkTestBase(b *testing.B) {
	base, err := urlpattern.NewBase("https://hub.example.com/.well-known/mercure")
	if err != nil {
		b.Fatal(err)
	}
	p, err := urlpattern.ParseWithBase("/.well-known/mercure/subscriptions/Exact/:topic/:subscriber", base)
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct{ name, input string }{
		{"absolute", "https://hub.example.com/.well-known/mercure/subscriptions/Exact/https%3A%2F%2Fexample.com%2F1/urn%3Auuid%3Aabc"},
		{"pathAbsolute", "/.well-known/mercure/subscriptions/Exact/https%3A%2F%2Fexample.com%2F1/urn%3Auuid%3Aabc"},
		{"pathRelative", "mercure/subscriptions/Exact/https%3A%2F%2Fexample.com%2F1/urn%3Auuid%3Aabc"},
	} {
		if !p.TestBase(bm.input, base) {
			b.Fatalf("TestBase(%q) = false, want true", bm.input)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.TestBase(bm.input, base)
			}
		})
	}
}

// BenchmarkSetMatch_10kPatterns matches one topic against 10,000 distinct
// patterns: with literals to index them by (the usual case), and without
// (protocol wildcards, every pattern a candidate).
func BenchmarkSetMatch_10kPatterns(b *testing.B) {
	for _, bm := range []struct {
		name    string
		pattern func(int) string
		topic   string
	}{
		{"literal", literalPatterns, "https://example.com/users/4242/orders/7"},
		{"noLiteral", wildcardPatterns, "https://api.example.com/users/4242/orders/7"},
	} {
		set := tenThousand(b, bm.pattern)
		dst := make([]int, 0, 16)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dst = set.Match(bm.topic, dst[:0])
			}
		})
	}
}

// BenchmarkTestEach_10kPatterns is what Set saves: Test on each of 10,000
// patterns for one topic.
func BenchmarkTestEach_10kPatterns(b *testing.B) {
	patterns := make([]*urlpattern.Pattern, 10000)
	for i := range patterns {
		patterns[i] = mustParse(b, literalPatterns(i))
	}
	topic := "https://example.com/users/4242/orders/7"
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range patterns {
			p.Test(topic)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bm := range []struct{ name, pattern string }{
		{"namedGroup", "https://example.com/users/42/orders/:id"},
		{"regexpGroup", `https://example.com/users/42/orders/:id(\d+)`},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := urlpattern.Parse(bm.pattern); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
