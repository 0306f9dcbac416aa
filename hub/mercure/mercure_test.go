package mercure_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/hub/topic/uritemplate"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

func sel(k mercure.Kind, v string) mercure.Selector { return mercure.Selector{Kind: k, Value: v} }

func TestMatchesAny(t *testing.T) {
	tests := []struct {
		name   string
		sels   []mercure.Selector
		topics []string
		want   bool
	}{
		{"exact", []mercure.Selector{sel(mercure.Exact, "https://example.com/a")}, []string{"https://example.com/a"}, true},
		{"exact is byte for byte", []mercure.Selector{sel(mercure.Exact, "https://example.com/a")}, []string{"HTTPS://example.com/a"}, false},
		{"exact alternate topic", []mercure.Selector{sel(mercure.Exact, "urn:b")}, []string{"https://example.com/a", "urn:b"}, true},
		{"exact braces are not a template", []mercure.Selector{sel(mercure.Exact, "https://example.com/{id}")}, []string{"https://example.com/1"}, false},
		{"template", []mercure.Selector{sel(mercure.Template, "https://example.com/books/{id}")}, []string{"https://example.com/books/1"}, true},
		{"07 §3 step 2: a template matches its own text", []mercure.Selector{sel(mercure.Template, "https://example.com/books/{id}")}, []string{"https://example.com/books/{id}"}, true},
		{"template no match", []mercure.Selector{sel(mercure.Template, "https://example.com/books/{id}")}, []string{"https://example.com/books/1/2"}, false},
		{"template without expression is exact", []mercure.Selector{sel(mercure.Template, "urn:x")}, []string{"urn:x"}, true},
		{"urlpattern canonicalizes", []mercure.Selector{sel(mercure.URLPattern, "https://example.com/books/:id")}, []string{"HTTPS://Example.COM:443/a/../books/1"}, true},
		{"urlpattern no match", []mercure.Selector{sel(mercure.URLPattern, "https://example.com/books/:id")}, []string{"https://example.com/authors/1"}, false},
		{"urlpattern never matches a non-URL", []mercure.Selector{sel(mercure.URLPattern, "https://example.com/*")}, []string{"books"}, false},
		{"star exact", []mercure.Selector{sel(mercure.Exact, "*")}, []string{"anything"}, true},
		{"star urlpattern", []mercure.Selector{sel(mercure.URLPattern, "*")}, []string{"anything"}, true},
		{"star no topics", []mercure.Selector{sel(mercure.Exact, "*")}, nil, false},
		{"empty set", nil, []string{"a"}, false},
		{"mixed", []mercure.Selector{sel(mercure.Exact, "a"), sel(mercure.Template, "b/{x}"), sel(mercure.URLPattern, "https://c.example/*")}, []string{"z", "https://c.example/1"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := mercure.New(tc.sels)
			if err != nil {
				t.Fatalf("New(%v): %v", tc.sels, err)
			}
			if got := s.MatchesAny(tc.topics); got != tc.want {
				t.Errorf("New(%v).MatchesAny(%q) = %v, want %v", tc.sels, tc.topics, got, tc.want)
			}
		})
	}
}

func TestFromTopics(t *testing.T) {
	s, err := mercure.FromTopics([]string{"*", "https://example.com/books/{id}", "https://example.com/{", "urn:x", "urn:x"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.All() || len(s.Templates()) != 1 {
		t.Errorf("FromTopics: all %v, %d templates; want true, 1", s.All(), len(s.Templates()))
	}
	// "{" does not parse as a template: draft-07 §3 matches it exactly.
	if got, want := strings.Join(s.Exact(), " "), "https://example.com/{ urn:x"; got != want {
		t.Errorf("Exact() = %q, want %q", got, want)
	}
	if got, want := s.Mapped()[1], "@m/urn:x"; got != want {
		t.Errorf("Mapped()[1] = %q, want %q", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		sel  mercure.Selector
		want error
	}{
		{sel(mercure.Exact, ""), mercuremap.ErrEmpty},
		{sel(mercure.Exact, "a\x00b"), mercuremap.ErrForbiddenChar},
		{sel(mercure.Exact, "\xff"), mercuremap.ErrInvalidUTF8},
		{sel(mercure.Exact, strings.Repeat("a", mercuremap.MaxTopicLen+1)), mercuremap.ErrTooLong},
		{sel(mercure.Template, "https://example.com/{"), uritemplate.ErrSyntax},
		{sel(mercure.URLPattern, "/books/:id"), urlpattern.ErrUnsupported},
		{sel(mercure.URLPattern, "https://example.com/(a"), nil}, // some parse error
		{sel(mercure.Kind(9), "a"), mercure.ErrKind},
	}
	for _, tc := range tests {
		_, err := mercure.New([]mercure.Selector{tc.sel})
		if err == nil {
			t.Errorf("New(%v) = nil error, want one", tc.sel)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("New(%v) = %v, want an error wrapping %v", tc.sel, err, tc.want)
		}
		if !strings.HasPrefix(err.Error(), "mercure: ") {
			t.Errorf("New(%v) = %q, want the package prefix", tc.sel, err)
		}
	}
}

func TestKeyIsCanonical(t *testing.T) {
	a, err := mercure.New([]mercure.Selector{sel(mercure.Exact, "a"), sel(mercure.Template, "b/{x}"), sel(mercure.Exact, "a")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := mercure.New([]mercure.Selector{sel(mercure.Template, "b/{x}"), sel(mercure.Exact, "a")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := mercure.New([]mercure.Selector{sel(mercure.Exact, "b/{x}"), sel(mercure.Exact, "a")})
	if err != nil {
		t.Fatal(err)
	}
	if a.Key() != b.Key() {
		t.Errorf("keys of the same selectors differ: %q, %q", a.Key(), b.Key())
	}
	if a.Key() == c.Key() {
		t.Errorf("a template and an exact selector of the same text have one key %q", a.Key())
	}
}

func TestMatchesAnyDoesNotAllocate(t *testing.T) {
	s, err := mercure.New([]mercure.Selector{sel(mercure.Exact, "a"), sel(mercure.Template, "https://example.com/books/{id}"), sel(mercure.URLPattern, "https://example.com/authors/:id")})
	if err != nil {
		t.Fatal(err)
	}
	topics := []string{"z", "https://example.com/authors/1"}
	if allocs := testing.AllocsPerRun(100, func() { s.MatchesAny(topics) }); allocs != 0 {
		t.Errorf("MatchesAny: %v allocs, want 0", allocs)
	}
}
