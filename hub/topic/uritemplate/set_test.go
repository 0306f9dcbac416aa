package uritemplate_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/hub/topic/uritemplate"
)

func TestSetAddGetRemove(t *testing.T) {
	var s uritemplate.Set
	books := mustParse(t, "https://example.com/books/{id}")
	if !s.Add(books) {
		t.Fatalf("Add(%q) = false on an empty set", books)
	}
	if s.Add(mustParse(t, books.String())) {
		t.Errorf("Add(%q) again = true, want false", books)
	}
	if got, ok := s.Get(books.String()); got != books || !ok {
		t.Errorf("Get(%q) = %v, %v, want the template added first", books, got, ok)
	}
	if got, ok := s.Get("https://example.com/books/{isbn}"); got != nil || ok {
		t.Errorf("Get of a missing template = %v, %v, want nil, false", got, ok)
	}
	if s.Len() != 1 {
		t.Errorf("Len() = %d, want 1", s.Len())
	}
	if s.Remove("https://example.com/books/{isbn}") {
		t.Errorf("Remove of a missing template = true, want false")
	}
	if !s.Remove(books.String()) {
		t.Errorf("Remove(%q) = false, want true", books)
	}
	if s.Remove(books.String()) {
		t.Errorf("Remove(%q) twice = true, want false", books)
	}
	if s.Len() != 0 {
		t.Errorf("Len() = %d after removing everything, want 0", s.Len())
	}
	if got := s.AppendMatches(nil, "https://example.com/books/1"); len(got) != 0 {
		t.Errorf("AppendMatches on an empty set = %v, want none", got)
	}
}

// setShapes make templates whose prefixes share, split and nest, with
// literal-only ones and ones that begin with an expression.
var setShapes = []string{
	"https://example.com/books/{id}",
	"https://example.com/books/%d/{+rest}",
	"https://example.com/books/%d",
	"https://example.com/book{/id}",
	"https://example.com/users/%d/books/{id}",
	"https://example.com/users/{user}/books/%d",
	"https://example.com/{+path}",
	"https://example.org/%d{?q}",
	"{+any}",
	"{scheme}://example.com/%d",
	"urn:x:%d",
	"urn:x:%d{.ext}",
	"",
}

var setTopics = []string{
	"https://example.com/books/1", "https://example.com/books/12", "https://example.com/books/1/2",
	"https://example.com/book/3", "https://example.com/book", "https://example.com/users/7/books/1",
	"https://example.com/users/alice/books/2", "https://example.org/3?q=x", "https://example.org/3",
	"urn:x:4", "urn:x:4.json", "http://example.com/5", "", "h", "https://example.com/",
}

// TestSetMatchesAgree checks AppendMatches against trying every template,
// as templates come and go, and that the tree shrinks back to its root.
func TestSetMatchesAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s uritemplate.Set
	all := map[string]*uritemplate.Template{}
	check := func(when string) {
		t.Helper()
		for _, topic := range setTopics {
			var want []string
			for raw, tmpl := range all {
				if tmpl.Match(topic) {
					want = append(want, raw)
				}
			}
			var got []string
			for _, tmpl := range s.AppendMatches(nil, topic) {
				got = append(got, tmpl.String())
			}
			slices.Sort(want)
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: AppendMatches(%q) differs from trying every template (-want +got):\n%s", when, topic, diff)
			}
		}
		if s.Len() != len(all) {
			t.Fatalf("%s: Len() = %d, want %d", when, s.Len(), len(all))
		}
	}
	for round := range 20 {
		for range 30 {
			// Numbers from a small range make templates recur.
			raw := strings.ReplaceAll(setShapes[rng.IntN(len(setShapes))], "%d", strconv.Itoa(rng.IntN(15)))
			tmpl := mustParse(t, raw)
			if added := s.Add(tmpl); added != (all[raw] == nil) {
				t.Fatalf("Add(%q) = %v with the template already there: %v", raw, added, all[raw] != nil)
			}
			if all[raw] == nil {
				all[raw] = tmpl
			}
		}
		check(fmt.Sprintf("round %d, after adding", round))
		for raw := range all {
			if rng.IntN(3) == 0 {
				if !s.Remove(raw) {
					t.Fatalf("Remove(%q) = false", raw)
				}
				delete(all, raw)
			}
		}
		check(fmt.Sprintf("round %d, after removing", round))
	}
	for raw := range all {
		s.Remove(raw)
	}
	if n := uritemplate.NodeCount(&s); n != 1 {
		t.Errorf("the tree has %d nodes after removing every template, want 1 (the root)", n)
	}
}

func TestSetAllocs(t *testing.T) {
	var s uritemplate.Set
	for i := range 100 {
		s.Add(mustParse(t, fmt.Sprintf("https://example.com/tenants/%d/books/{id}", i)))
		s.Add(mustParse(t, fmt.Sprintf("https://example.com/tenants/%d/search{?q}", i)))
	}
	dst := make([]*uritemplate.Template, 0, 8)
	n := testing.AllocsPerRun(100, func() {
		dst = s.AppendMatches(dst[:0], "https://example.com/tenants/42/search?q=go")
	})
	if n != 0 {
		t.Errorf("AppendMatches: %v allocs per run, want 0", n)
	}
	if len(dst) != 1 || dst[0].String() != "https://example.com/tenants/42/search{?q}" {
		t.Errorf("AppendMatches = %v, want the tenant 42 search template", dst)
	}
}

// BenchmarkSetMatch matches one topic against 10,000 distinct templates.
// With distinct prefixes the tree narrows the candidates to one; with one
// shared prefix and distinct last literals, the suffix index does; with
// neither, every template is tried.
func BenchmarkSetMatch(b *testing.B) {
	const n = 10_000
	benchmarks := []struct {
		name, shape, topic string
		want               int
	}{
		{"distinctPrefixes", "https://example.com/tenants/%d/books/{id}", "https://example.com/tenants/4242/books/9", 1},
		{"distinctPrefixesMiss", "https://example.com/tenants/%d/books/{id}", "https://example.com/tenants/4242/users/9", 0},
		{"sharedPrefix", "https://example.com/books/{id}/chapters/%d", "https://example.com/books/9/chapters/4242", 1},
		{"noPrefix", "{scheme}://example.com/tenants/%d/books/{id}", "https://example.com/tenants/4242/books/9", 1},
	}
	for _, bm := range benchmarks {
		var s uritemplate.Set
		for i := range n {
			s.Add(mustParse(b, fmt.Sprintf(bm.shape, i)))
		}
		dst := make([]*uritemplate.Template, 0, 8)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dst = s.AppendMatches(dst[:0], bm.topic)
			}
			if len(dst) != bm.want {
				b.Fatalf("AppendMatches = %d templates, want %d", len(dst), bm.want)
			}
		})
	}
}

func ExampleSet() {
	var s uritemplate.Set
	for _, selector := range []string{
		"https://example.com/books/{id}",
		"https://example.com/books/{id}/reviews{/review}",
		"https://example.com/users/{user}",
	} {
		tmpl, err := uritemplate.Parse(selector)
		if err != nil {
			panic(err)
		}
		s.Add(tmpl)
	}
	for _, tmpl := range s.AppendMatches(nil, "https://example.com/books/1/reviews/2") {
		fmt.Println(tmpl)
	}
	// Output:
	// https://example.com/books/{id}/reviews{/review}
}
