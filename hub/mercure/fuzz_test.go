package mercure_test

import (
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/mercure"
)

// FuzzNew builds selectors from untrusted text: one selector a line, its
// kind the line's first byte (e, t or u). Whatever New accepts must
// match its own exact selectors, and "*" everything.
func FuzzNew(f *testing.F) {
	f.Add("ehttps://example.com/a\nthttps://example.com/{id}\nuhttps://example.com/:id")
	f.Add("e*")
	f.Add("t{+path}\nu*://x/*")
	f.Add("e\xff")
	f.Fuzz(func(t *testing.T, in string) {
		var sels []mercure.Selector
		for line := range strings.SplitSeq(in, "\n") {
			if line == "" {
				continue
			}
			k := mercure.Kind(strings.IndexByte("etu", line[0]))
			if line[0] != 'e' && line[0] != 't' && line[0] != 'u' {
				k = mercure.Kind(7)
			}
			sels = append(sels, mercure.Selector{Kind: k, Value: line[1:]})
		}
		s, err := mercure.New(sels)
		if err != nil {
			return
		}
		for _, e := range s.Exact() {
			if !s.MatchesAny([]string{e}) {
				t.Errorf("New(%q) does not match its exact selector %q", in, e)
			}
		}
		if len(s.Mapped()) != len(s.Exact()) {
			t.Errorf("New(%q): %d mapped names for %d exact selectors", in, len(s.Mapped()), len(s.Exact()))
		}
		if s.All() && !s.MatchesAny([]string{"x"}) {
			t.Errorf("New(%q) holds * but does not match x", in)
		}
		again, err := mercure.New(sels)
		if err != nil || again.Key() != s.Key() {
			t.Errorf("New(%q) twice: keys %q and %v, %v", in, s.Key(), again, err)
		}
	})
}

// FuzzFromTopics: draft-07 topic selectors from untrusted text, one a line.
func FuzzFromTopics(f *testing.F) {
	f.Add("https://example.com/books/{id}\n*\nurn:x")
	f.Add("{")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := mercure.FromTopics(strings.Split(in, "\n"))
		if err != nil {
			return
		}
		for _, e := range s.Exact() {
			if !s.MatchesAny([]string{e}) {
				t.Errorf("FromTopics(%q) does not match its exact selector %q", in, e)
			}
		}
	})
}
