package urlpattern_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// testEach is what Set.Match must agree with: the ids of the patterns
// whose Test accepts input.
func testEach(set *urlpattern.Set, ids []int, input string) []int {
	var want []int
	for _, id := range ids {
		if p := set.Pattern(id); p != nil && p.Test(input) {
			want = append(want, id)
		}
	}
	return want
}

func checkSetMatch(t *testing.T, set *urlpattern.Set, ids []int, input string) {
	t.Helper()
	got := set.Match(input, nil)
	slices.Sort(got)
	want := testEach(set, ids, input)
	if !slices.Equal(got, want) {
		t.Errorf("Set.Match(%q) = %v, want %v", input, got, want)
	}
}

func TestSetMatch(t *testing.T) {
	var set urlpattern.Set
	var ids []int
	var inputs []string
	for _, tt := range matchTests {
		ids = append(ids, set.Add(mustParse(t, tt.pattern)))
		inputs = append(inputs, tt.match...)
		inputs = append(inputs, tt.noMatch...)
	}
	if set.Len() != len(matchTests) {
		t.Fatalf("Len() = %d, want %d", set.Len(), len(matchTests))
	}
	for _, in := range inputs {
		checkSetMatch(t, &set, ids, in)
	}
}

func TestSetRemove(t *testing.T) {
	var set urlpattern.Set
	a := set.Add(mustParse(t, "https://example.com/a/*"))
	b := set.Add(mustParse(t, "https://example.com/a/:x"))
	c := set.Add(mustParse(t, "*://example.com/*"))
	if a != 0 || b != 1 || c != 2 {
		t.Fatalf("Add() ids = %d, %d, %d; want 0, 1, 2", a, b, c)
	}
	if !set.Remove(b) {
		t.Fatalf("Remove(%d) = false, want true", b)
	}
	if set.Remove(b) || set.Remove(-1) || set.Remove(99) {
		t.Errorf("Remove of a removed or unknown id = true, want false")
	}
	if set.Pattern(b) != nil || set.Pattern(99) != nil {
		t.Errorf("Pattern of a removed or unknown id is not nil")
	}
	got := set.Match("https://example.com/a/1", nil)
	slices.Sort(got)
	if want := []int{a, c}; !slices.Equal(got, want) {
		t.Errorf("Match() = %v, want %v", got, want)
	}
	if set.Len() != 2 {
		t.Errorf("Len() = %d, want 2", set.Len())
	}
	// The freed id is reused.
	if d := set.Add(mustParse(t, "https://example.com/a/1")); d != b {
		t.Errorf("Add() = %d, want the freed id %d", d, b)
	}
	got = set.Match("https://example.com/a/1", nil)
	slices.Sort(got)
	if want := []int{a, b, c}; !slices.Equal(got, want) {
		t.Errorf("Match() = %v, want %v", got, want)
	}
	var empty urlpattern.Set
	if got := empty.Match("https://example.com/", nil); len(got) != 0 {
		t.Errorf("empty Set Match() = %v, want none", got)
	}
}

// TestSetRandom adds and removes patterns with many shared literal
// prefixes, so the radix tree splits and shares nodes, and checks Match
// against testing each pattern.
func TestSetRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab/"[rng.IntN(3)]
		}
		return string(b)
	}
	tails := []string{"", "*", ":x", ":x?", `(\d+)`, "{/a}*", "/*"}
	heads := []string{"https://example.com/", "https://example.org/", "http{s}?://example.com/", "*://example.com/", "https://*.example.com/"}
	var set urlpattern.Set
	var live []int
	for i := range 3000 {
		s := heads[rng.IntN(len(heads))] + word(rng.IntN(6)) + tails[rng.IntN(len(tails))]
		p, err := urlpattern.Parse(s)
		if err != nil {
			continue
		}
		live = append(live, set.Add(p))
		if i%3 == 0 && len(live) > 0 {
			j := rng.IntN(len(live))
			set.Remove(live[j])
			live = slices.Delete(live, j, j+1)
		}
	}
	if set.Len() != len(live) {
		t.Fatalf("Len() = %d, want %d", set.Len(), len(live))
	}
	slices.Sort(live)
	for range 500 {
		host := []string{"example.com", "example.org", "a.example.com"}[rng.IntN(3)]
		scheme := []string{"https", "http", "wss"}[rng.IntN(3)]
		checkSetMatch(t, &set, live, scheme+"://"+host+"/"+word(rng.IntN(7))+[]string{"", "1", "12"}[rng.IntN(3)])
	}
}

// TestSetMatchAllocs checks that Match does not allocate when dst has room
// and the input is canonical.
func TestSetMatchAllocs(t *testing.T) {
	set := tenThousand(t, literalPatterns)
	dst := make([]int, 0, 16)
	topic := "https://example.com/users/4242/orders/7"
	if got := set.Match(topic, dst); len(got) == 0 {
		t.Fatalf("Match(%q) = none, want some", topic)
	}
	if n := testing.AllocsPerRun(100, func() { dst = set.Match(topic, dst[:0]) }); n != 0 {
		t.Errorf("Match(%q): %v allocs per run, want 0", topic, n)
	}
}

// literalPatterns returns the i-th of 10,000 distinct patterns of the
// shapes subscribers use, each with a long literal: one user's orders by
// id, some with a numeric regexp, some with a wildcard.
func literalPatterns(i int) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("https://example.com/users/%d/orders/:id", i)
	case 1:
		return fmt.Sprintf(`https://example.com/users/%d/orders/:id(\d+)`, i)
	case 2:
		return fmt.Sprintf("https://example.com/users/%d/*", i)
	}
	return fmt.Sprintf("https://example.com/users/%d/orders/:id/items{/:item}?", i)
}

// wildcardPatterns returns the i-th of 10,000 distinct patterns whose
// protocol is a wildcard, so they have no literal to index them by.
func wildcardPatterns(i int) string {
	return fmt.Sprintf("*://*.example.com/users/%d/*", i)
}

func tenThousand(t testing.TB, pattern func(int) string) *urlpattern.Set {
	t.Helper()
	set := new(urlpattern.Set)
	for i := range 10000 {
		set.Add(mustParse(t, pattern(i)))
	}
	return set
}

func TestSetTenThousand(t *testing.T) {
	for name, gen := range map[string]func(int) string{"literal": literalPatterns, "wildcard": wildcardPatterns} {
		set := tenThousand(t, gen)
		ids := make([]int, 10000)
		for i := range ids {
			ids[i] = i
		}
		for _, topic := range []string{
			"https://example.com/users/4242/orders/7",
			"https://example.com/users/4243/orders/x",
			"https://a.example.com/users/42/x",
			"https://example.com/users/1/orders/2/items/3",
		} {
			t.Run(name+" "+strings.TrimPrefix(topic, "https://"), func(t *testing.T) {
				checkSetMatch(t, set, ids, topic)
			})
		}
	}
}

func ExampleSet() {
	var set urlpattern.Set
	for _, s := range []string{
		"https://example.com/books/:id",
		`https://example.com/books/:id(\d+)`,
		"https://example.com/films/*",
		"*://*.example.com/*",
	} {
		p, err := urlpattern.Parse(s)
		if err != nil {
			panic(err)
		}
		set.Add(p)
	}
	ids := set.Match("https://example.com/books/42", nil)
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Println(set.Pattern(id))
	}
	// Output:
	// https://example.com/books/:id
	// https://example.com/books/:id(\d+)
}
