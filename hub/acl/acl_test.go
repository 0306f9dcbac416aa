package acl_test

import (
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/acl"
	"github.com/ssehub/ssehub/hub/topic"
)

// alphabet is the topic alphabet written out independently of the topic
// package's table.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:/@"

func mustGrant(t testing.TB, allowed ...string) acl.Grant {
	t.Helper()
	g, err := acl.NewGrant(allowed)
	if err != nil {
		t.Fatalf("NewGrant(%q) = %v", allowed, err)
	}
	return g
}

func TestNewGrant(t *testing.T) {
	tests := []struct {
		allowed   []string
		wantErr   error  // sentinel from package topic
		wantQuote string // part of the message naming the bad entry
		wantEmpty bool
	}{
		{allowed: nil, wantEmpty: true},
		{allowed: []string{}, wantEmpty: true},
		{allowed: []string{"news"}},
		{allowed: []string{"news/*", "news/*", "user/alice"}},
		{allowed: []string{"news", ""}, wantErr: topic.ErrEmpty, wantQuote: `entry 1: topic ""`},
		{allowed: []string{"a?b"}, wantErr: topic.ErrUnsupportedWildcard, wantQuote: `"a?b"`},
		{allowed: []string{"ok", "a b"}, wantErr: topic.ErrInvalidChar, wantQuote: `"a b"`},
		{allowed: []string{strings.Repeat("a", topic.MaxLen+1)}, wantErr: topic.ErrTooLong, wantQuote: `"aaaa`},
	}
	for _, tt := range tests {
		g, err := acl.NewGrant(tt.allowed)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("NewGrant(%q) error = %v, want %v", tt.allowed, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), tt.wantQuote) || !strings.HasPrefix(err.Error(), "acl: ") {
				t.Errorf("NewGrant(%q) error = %q, want it to start with acl: and contain %q", tt.allowed, err, tt.wantQuote)
			}
			if !g.Empty() {
				t.Errorf("NewGrant(%q) returned a non-empty grant with an error", tt.allowed)
			}
			continue
		}
		if got := g.Empty(); got != tt.wantEmpty {
			t.Errorf("NewGrant(%q).Empty() = %v, want %v", tt.allowed, got, tt.wantEmpty)
		}
	}
	var zero acl.Grant
	if !zero.Empty() || zero.AllowsTopic("a") || zero.AllowsPattern("*") {
		t.Errorf("zero Grant allows something or is not Empty")
	}
}

func TestAllowsTopic(t *testing.T) {
	g := mustGrant(t, "user/alice", "news/*", "*@example.com", "a*b*c")
	tests := []struct {
		topic string
		want  bool
	}{
		{"user/alice", true},
		{"user/alicex", false},
		{"user/alic", false},
		{"user/bob", false},
		{"user", false},
		{"news/", true},
		{"news/sport", true},
		{"news/sport/football", true},
		{"news", false},
		{"xnews/a", false},
		{"bob@example.com", true},
		{"@example.com", true},
		{"bob@example.co", false},
		{"abc", true},
		{"aXbYc", true},
		{"acb", false},
		// Not valid exact topics: refused whatever they would match.
		{"", false},
		{"news/*", false},
		{"news/a b", false},
		{"news/a?b", false},
		{"news/" + strings.Repeat("a", topic.MaxLen), false},
	}
	for _, tt := range tests {
		if got := g.AllowsTopic(tt.topic); got != tt.want {
			t.Errorf("grant [user/alice news/* *@example.com a*b*c]: AllowsTopic(%q) = %v, want %v", tt.topic, got, tt.want)
		}
	}
}

// allowsPatternTests are single- and multi-entry cases, checked in
// TestAllowsPattern and used as fuzz seeds.
var allowsPatternTests = []struct {
	grant   []string
	pattern string
	want    bool
}{
	// Equal and trivially covered.
	{[]string{"*"}, "*", true},
	{[]string{"*"}, "a*b*c", true},
	{[]string{"*"}, "abc", true},
	{[]string{"news/*"}, "news/*", true},
	{[]string{"news/*"}, "news/**", true},
	{[]string{"news/**"}, "news/*", true},
	{[]string{"a*b"}, "a**b", true},
	{[]string{"a**b"}, "a*b", true},
	// Covered by one pattern.
	{[]string{"news/*"}, "news/sport/*", true},
	{[]string{"news/*"}, "news/*x", true},
	{[]string{"news/*"}, "news/a*b*", true},
	{[]string{"news/*"}, "news/x", true},
	{[]string{"a*"}, "a*a", true},
	{[]string{"a*"}, "ab*", true},
	{[]string{"a*c"}, "a*b*c", true},
	{[]string{"*a*"}, "a*", true},
	{[]string{"*a*"}, "*a", true},
	{[]string{"*a*b*"}, "*ab*", true},
	{[]string{"*a*b*"}, "a*b", true},
	{[]string{"*ab*"}, "*a*ab*", true},
	{[]string{"a*a"}, "aa*aa", true},
	{[]string{"a*a"}, "a*a*a", true},
	// Not covered: each has a witness topic.
	{[]string{"a*b"}, "a*", false},                  // a
	{[]string{"a*"}, "*", false},                    // b
	{[]string{"a*"}, "*a", false},                   // ba
	{[]string{"*a*"}, "*", false},                   // b
	{[]string{"a*c"}, "a*b*", false},                // ab
	{[]string{"a*a"}, "a*", false},                  // a
	{[]string{"a*a"}, "a", false},                   // a is too short for a*a
	{[]string{"*ab*"}, "a*b", false},                // acb; only true over {a,b}
	{[]string{"*ab*"}, "*a*b*", false},              // acb
	{[]string{"*a*b*"}, "*b*a*", false},             // ba
	{[]string{"news/*"}, "news*", false},            // news
	{[]string{"news/*"}, "*/sport", false},          // x/sport
	{[]string{"a*b*c"}, "a*c", false},               // ac
	{[]string{"aa*"}, "a*", false},                  // a
	{[]string{"x"}, "x*", false},                    // xy
	{[]string{"x", "x*y"}, "x*", false},             // xz
	{[]string{"a*", "*a"}, "*a*", false},            // bab
	{[]string{"a*", "b*"}, "*", false},              // c
	{[]string{"news/*", "sport/*"}, "*/*", false},   // x/y
	{[]string{"news/*", "sport/*"}, "news/*", true}, // second entry unused
	{[]string{"news/*", "sport/*"}, "sport/*", true},
	// Several entries: one of them must cover p alone.
	{[]string{"a*b", "a*c"}, "a*b", true},
	{[]string{"ab", "ab*"}, "ab*", true},
	{[]string{"a", "a*"}, "a*", true},
	{[]string{"a", "ab*"}, "a*", false}, // ac
}

func TestAllowsPattern(t *testing.T) {
	for _, tt := range allowsPatternTests {
		g := mustGrant(t, tt.grant...)
		if got := g.AllowsPattern(tt.pattern); got != tt.want {
			t.Errorf("grant %q: AllowsPattern(%q) = %v, want %v", tt.grant, tt.pattern, got, tt.want)
		}
	}
}

func TestAllowsPatternUnion(t *testing.T) {
	// Every nonempty topic ends in some character, so these entries together
	// cover *, but no single one does: AllowsPattern refuses, as documented.
	var entries []string
	for i := 0; i < len(alphabet); i++ {
		entries = append(entries, "*"+alphabet[i:i+1])
	}
	g := mustGrant(t, entries...)
	if g.AllowsPattern("*") {
		t.Errorf("AllowsPattern(%q) with one entry per last character = true, want false (documented refusal)", "*")
	}
	if !g.AllowsPattern("news/*x") {
		t.Errorf("AllowsPattern(%q) = false, want true", "news/*x")
	}
}

// TestUserIsolation pins docs/protocol.md#delivery-semantics: user A can
// never receive user B's private events.
func TestUserIsolation(t *testing.T) {
	g := mustGrant(t, "user/alice", "news/*")
	tests := []struct {
		pattern string
		want    bool
	}{
		{"user/alice", true},
		{"news/*", true},
		{"news/x*", true},
		{"news/sport", true},
		{"user/*", false},
		{"*", false},
		{"**", false},
		{"user/a*", false},
		{"*alice", false},
		{"user/alice*", false}, // matches user/alicex
		{"user/alic*e", false}, // matches user/alicxe
		{"user/bob", false},
		{"user/alice/*", false},
		{"*/*", false},
		{"news*", false}, // matches newsfeed
	}
	for _, tt := range tests {
		if got := g.AllowsPattern(tt.pattern); got != tt.want {
			t.Errorf("grant [user/alice news/*]: AllowsPattern(%q) = %v, want %v", tt.pattern, got, tt.want)
		}
	}
}

func TestAllowsPatternInvalid(t *testing.T) {
	g := mustGrant(t, "*")
	for _, p := range []string{"", "a?b", "a[b]", "a b", "caf\xc3\xa9", strings.Repeat("*", topic.MaxLen+1)} {
		if g.AllowsPattern(p) {
			t.Errorf("grant [*]: AllowsPattern(%q) = true, want false for an invalid pattern", p)
		}
		if g.AllowsTopic(p) {
			t.Errorf("grant [*]: AllowsTopic(%q) = true, want false for an invalid topic", p)
		}
	}
}

// refMatch is a plain dynamic-programming glob matcher, independent of
// topic.Match: * matches any run of bytes, everything else itself.
// m[j] reports whether p[:i] matches s[:j] for the current i.
func refMatch(p, s string) bool {
	m := make([]bool, len(s)+1)
	m[0] = true
	for i := 0; i < len(p); i++ {
		if p[i] == '*' {
			for j := 1; j <= len(s); j++ {
				m[j] = m[j] || m[j-1]
			}
			continue
		}
		for j := len(s); j >= 1; j-- {
			m[j] = m[j-1] && s[j-1] == p[i]
		}
		m[0] = false
	}
	return m[len(s)]
}

// words returns every string over letters of length lo to hi.
func words(letters string, lo, hi int) []string {
	var out []string
	cur := []string{""}
	for n := 0; n <= hi; n++ {
		if n >= lo {
			out = append(out, cur...)
		}
		var next []string
		for _, w := range cur {
			for i := 0; i < len(letters); i++ {
				next = append(next, w+letters[i:i+1])
			}
		}
		cur = next
	}
	return out
}

type bitset []uint64

func (b bitset) subsetOf(c bitset) bool {
	for i := range b {
		if b[i]&^c[i] != 0 {
			return false
		}
	}
	return true
}

// TestAllowsPatternExhaustive checks that single-entry inclusion is exact:
// for every pair of patterns p, q over {a, b, *} of up to 5 bytes,
// AllowsPattern(p) under grant [q] must equal "every topic of 1 to 7 bytes
// that p matches, q matches", found by enumeration with refMatch.
//
// Topics use a third letter c that no pattern contains. It stands for the
// rest of the topic alphabet: over {a, b} alone a*b is covered by *ab*, but
// over real topics it is not (acb). Enumerating up to 7 bytes is exact here:
// when p is not covered, p with every star replaced by c is a witness, and it
// is as long as p.
//
// Grants of two short entries are checked for soundness only.
func TestAllowsPatternExhaustive(t *testing.T) {
	topics := words("abc", 1, 7)
	patterns := words("ab*", 1, 5)
	if testing.Short() {
		patterns = words("ab*", 1, 4)
	}
	matches := make(map[string]bitset, len(patterns))
	for _, p := range patterns {
		b := make(bitset, (len(topics)+63)/64)
		for i, s := range topics {
			if refMatch(p, s) {
				b[i/64] |= 1 << (i % 64)
			}
		}
		matches[p] = b
	}

	covered := 0
	for _, q := range patterns {
		g := mustGrant(t, q)
		for _, p := range patterns {
			want := matches[p].subsetOf(matches[q])
			if want {
				covered++
			}
			if got := g.AllowsPattern(p); got != want {
				t.Errorf("grant [%s]: AllowsPattern(%q) = %v, want %v", q, p, got, want)
			}
		}
	}
	if covered < len(patterns) {
		t.Fatalf("only %d covered pairs for %d patterns; enumeration broken", covered, len(patterns))
	}

	short := words("ab*", 1, 3)
	union := make(bitset, len(matches["*"]))
	for _, q1 := range short {
		for _, q2 := range short {
			g := mustGrant(t, q1, q2)
			for i := range union {
				union[i] = matches[q1][i] | matches[q2][i]
			}
			for _, p := range patterns {
				if g.AllowsPattern(p) && !matches[p].subsetOf(union) {
					t.Errorf("grant [%s %s]: AllowsPattern(%q) = true, but some topic of p is not allowed", q1, q2, p)
				}
			}
		}
	}
}

func TestAllowsTopicAllocs(t *testing.T) {
	g := mustGrant(t, "user/alice", "news/*", "*@example.com", "a*b*c", "orders/*/created")
	var sink bool
	for _, s := range []string{"user/alice", "news/sport", "orders/1/created", "bob@example.com", "user/bob", strings.Repeat("a", topic.MaxLen)} {
		if n := testing.AllocsPerRun(100, func() { sink = g.AllowsTopic(s) }); n != 0 {
			t.Errorf("AllowsTopic(%q): %v allocs per run, want 0", s, n)
		}
		p := s[:min(len(s), topic.MaxLen-1)] + "*"
		if n := testing.AllocsPerRun(100, func() { sink = g.AllowsPattern(p) }); n != 0 {
			t.Errorf("AllowsPattern(%q): %v allocs per run, want 0", p, n)
		}
	}
	_ = sink
}

func BenchmarkAllowsTopic(b *testing.B) {
	g := mustGrant(b, "user/alice", "news/*", "*@example.com", "a*b*c", "orders/*/created")
	b.ReportAllocs()
	for b.Loop() {
		g.AllowsTopic("orders/12345/created")
	}
}

func FuzzAllowsTopic(f *testing.F) {
	for _, tt := range allowsPatternTests {
		f.Add(tt.grant[0], tt.pattern)
	}
	f.Add("a?b", "a?b")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, entry, s string) {
		g, err := acl.NewGrant([]string{entry})
		if err != nil {
			if !g.Empty() {
				t.Fatalf("NewGrant([%q]) = error %v and a non-empty grant", entry, err)
			}
			return
		}
		got := g.AllowsTopic(s)
		if want := topic.ValidateTopic(s) == nil && refMatch(entry, s); got != want {
			t.Fatalf("grant [%s]: AllowsTopic(%q) = %v, want %v", entry, s, got, want)
		}
		if topic.ValidateTopic(s) == nil {
			if p := g.AllowsPattern(s); p != got {
				t.Fatalf("grant [%s]: AllowsPattern(%q) = %v, AllowsTopic = %v", entry, s, p, got)
			}
		}
	})
}

// FuzzAllowsPattern checks soundness: whenever AllowsPattern(pattern) is
// true, every topic in a sample of those pattern matches is allowed. The
// sample fills the stars with strings over the characters of the inputs
// plus x and /, including the witness of every single character.
func FuzzAllowsPattern(f *testing.F) {
	for _, tt := range allowsPatternTests {
		g2 := ""
		if len(tt.grant) > 1 {
			g2 = tt.grant[1]
		}
		f.Add(tt.grant[0], g2, tt.pattern)
	}
	f.Add("user/alice", "news/*", "user/alice*")
	f.Add("*ab*", "*", "a*b")
	f.Add(strings.Repeat("a", 255)+"*", "b", strings.Repeat("a", 254)+"**")
	f.Fuzz(func(t *testing.T, grant1, grant2, pattern string) {
		g, err := acl.NewGrant([]string{grant1, grant2})
		if err != nil {
			return
		}
		allowed := g.AllowsPattern(pattern)
		if topic.ValidatePattern(pattern) != nil {
			if allowed {
				t.Fatalf("grant [%s %s]: AllowsPattern(%q) = true for an invalid pattern", grant1, grant2, pattern)
			}
			return
		}
		if !topic.IsPattern(pattern) {
			if got := g.AllowsTopic(pattern); got != allowed {
				t.Fatalf("grant [%s %s]: AllowsPattern(%q) = %v, AllowsTopic = %v", grant1, grant2, pattern, allowed, got)
			}
		}
		if !allowed {
			return
		}
		for _, s := range sampleTopics(grant1+grant2+pattern, pattern) {
			if !refMatch(pattern, s) {
				t.Fatalf("sampleTopics made %q, which %q does not match", s, pattern)
			}
			if !g.AllowsTopic(s) {
				t.Fatalf("grant [%s %s]: AllowsPattern(%q) = true, but AllowsTopic(%q) = false", grant1, grant2, pattern, s)
			}
		}
	})
}

// sampleTopics returns valid topics matched by pattern, built by replacing
// each star with strings over the topic characters of seed plus x and /.
func sampleTopics(seed, pattern string) []string {
	letters := "x/"
	for i := 0; i < len(seed); i++ {
		if c := seed[i : i+1]; strings.Contains(alphabet, c) && !strings.Contains(letters, c) {
			letters += c
		}
	}
	stars := strings.Count(pattern, "*")
	budget := topic.MaxLen - (len(pattern) - stars) // bytes the stars may add
	fill := func(pick func(star int) string) string {
		var b strings.Builder
		for i := 0; i < len(pattern); i++ {
			if pattern[i] == '*' {
				b.WriteString(pick(i))
			} else {
				b.WriteByte(pattern[i])
			}
		}
		return b.String()
	}
	var out []string
	add := func(s string) {
		if s != "" && len(s) <= topic.MaxLen {
			out = append(out, s)
		}
	}

	// Every star empty, and every star one same character: the latter are
	// the witnesses that decide single-entry inclusion.
	add(fill(func(int) string { return "" }))
	for i := 0; i < len(letters); i++ {
		add(fill(func(int) string { return letters[i : i+1] }))
	}

	h := fnv.New64a()
	h.Write([]byte(seed))
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(len(pattern))))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	for range 48 {
		left := budget
		maxLen := []int{1, 2, 4, 16, topic.MaxLen}[rng.IntN(5)]
		add(fill(func(int) string {
			n := min(rng.IntN(maxLen+1), left)
			left -= n
			return word(n)
		}))
	}
	// One long topic: the first star takes the whole budget.
	first := true
	add(fill(func(int) string {
		if first {
			first = false
			return word(budget)
		}
		return ""
	}))
	return out
}
