package urlpattern

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// oracle decides whether v matches a part list by trying every way to
// split v among the parts, straight from what the standard's regexp for
// each part means ("generate a regular expression and name list", URL
// Pattern #converting-part-lists-to-regular-expressions). Memoized on (part, position), it is polynomial, but it
// shares nothing with the matchers it checks.
type oracle struct {
	parts []part
	delim byte
	v     string
	re    []*regexp.Regexp // the regexp of each regexp part, compiled by Go as written
	memo  map[[3]int]bool
}

// newOracle returns nil if a regexp part uses syntax whose meaning differs
// between ECMAScript's v flag and Go (v-flag class operations and nested
// classes), or that Go does not read, so the oracle cannot judge it.
func newOracle(parts []part, delim byte) *oracle {
	o := &oracle{parts: parts, delim: delim, re: make([]*regexp.Regexp, len(parts))}
	for i, pt := range parts {
		if pt.typ != partRegexp {
			continue
		}
		// Go reads "[]" and "[^]" as the start of a class holding "]".
		if strings.Contains(pt.value, "--") || strings.Contains(pt.value, "&&") || nestedClass(pt.value) ||
			strings.Contains(pt.value, "[]") || strings.Contains(pt.value, "[^]") || hasAssertion(pt.value) {
			return nil
		}
		re, err := regexp.Compile(`\A(?:` + pt.value + `)\z`)
		if err != nil {
			return nil
		}
		o.re[i] = re
	}
	return o
}

// hasAssertion reports whether s has ^, $, \b or \B, which depend on what
// is around the group: the oracle matches a group's regexp on its
// substring alone.
func hasAssertion(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) && (s[i+1] == 'b' || s[i+1] == 'B') {
				return true
			}
			i++
		case '$':
			return true
		case '^':
			if i == 0 || s[i-1] != '[' {
				return true
			}
		}
	}
	return false
}

func nestedClass(s string) bool {
	in := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			if in {
				return true
			}
			in = true
		case ']':
			in = false
		}
	}
	return false
}

func (o *oracle) match(v string) bool {
	o.v, o.memo = v, map[[3]int]bool{}
	return o.rest(0, 0)
}

// unit reports whether x matches the group of part i, without its prefix
// and suffix.
func (o *oracle) unit(i int, x string) bool {
	switch pt := o.parts[i]; pt.typ {
	case partSegment:
		return x != "" && (o.delim == 0 || strings.IndexByte(x, o.delim) < 0)
	case partWildcard:
		return true
	}
	return o.re[i].MatchString(x)
}

// rest reports whether v[pos:] matches parts[i:].
func (o *oracle) rest(i, pos int) bool {
	if i == len(o.parts) {
		return pos == len(o.v)
	}
	key := [3]int{i, pos, 0}
	if r, ok := o.memo[key]; ok {
		return r
	}
	r := o.restUncached(i, pos)
	o.memo[key] = r
	return r
}

func (o *oracle) restUncached(i, pos int) bool {
	pt := o.parts[i]
	s := o.v[pos:]
	optional := pt.mod == modOptional || pt.mod == modZeroOrMore
	if optional && o.rest(i+1, pos) {
		return true
	}
	if pt.typ == partFixed {
		if pt.mod == modNone || pt.mod == modOptional {
			return strings.HasPrefix(s, pt.value) && o.rest(i+1, pos+len(pt.value))
		}
		for p := pos; strings.HasPrefix(o.v[p:], pt.value); {
			p += len(pt.value)
			if o.rest(i+1, p) {
				return true
			}
		}
		return false
	}
	if !strings.HasPrefix(s, pt.prefix) {
		return false
	}
	start := pos + len(pt.prefix)
	if pt.mod == modNone || pt.mod == modOptional {
		for e := start; e <= len(o.v); e++ {
			if o.unit(i, o.v[start:e]) && strings.HasPrefix(o.v[e:], pt.suffix) && o.rest(i+1, e+len(pt.suffix)) {
				return true
			}
		}
		return false
	}
	return o.repeat(i, start)
}

// repeat reports whether v[p:] matches R (suffix prefix R)* suffix and
// then parts[i+1:], R being part i's group.
func (o *oracle) repeat(i, p int) bool {
	key := [3]int{i, p, 1}
	if r, ok := o.memo[key]; ok {
		return r
	}
	pt := o.parts[i]
	sep := pt.suffix + pt.prefix
	r := false
	for e := p; e <= len(o.v) && !r; e++ {
		if !o.unit(i, o.v[p:e]) {
			continue
		}
		if strings.HasPrefix(o.v[e:], pt.suffix) && o.rest(i+1, e+len(pt.suffix)) {
			r = true
		} else if strings.HasPrefix(o.v[e:], sep) && e+len(sep) > p && o.repeat(i, e+len(sep)) {
			// An empty repetition adds nothing, so skipping it loses
			// no match and keeps the recursion finite.
			r = true
		}
	}
	o.memo[key] = r
	return r
}

// oracleTest is Test with every component decided by the oracle; ok is
// false if the oracle cannot judge the pattern.
//
// The pattern keeps no part lists, so they are parsed again from its
// normalized component strings, which also checks that those mean what
// the pattern does.
//
// base, if not nil, is the base URL input is resolved against: the
// oracle then also checks what ParseWithBase took from the base, since
// the components it judges by are the pattern's.
func oracleTest(t *testing.T, p *Pattern, input string, base *Base) (match, ok bool) {
	t.Helper()
	var u url
	if !parseInput(input, base, &u) {
		return false, true
	}
	special := p.comps[Protocol].m.matchesSpecialScheme()
	match = true
	for c := range numComponents {
		parts, opts, _, err := parseComponent(c, p.Component(c), 0, special)
		if err != nil {
			t.Fatalf("Parse(%q): component %s = %q, which does not parse: %s", p, c, p.Component(c), err.msg)
		}
		o := newOracle(parts, opts.delim)
		if o == nil {
			return false, false
		}
		match = match && o.match(u.c[c])
	}
	return match, true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// componentKinds are the components FuzzComponentMatch compiles patterns
// for: one with each delimiter and prefix option.
var componentKinds = [...]Component{Pathname, Hostname, Search}

// FuzzComponentMatch compares each component matcher (exact, wildcard,
// position sets, RE2) with the oracle, on values of printable ASCII, which
// is what canonical component values consist of.
func FuzzComponentMatch(f *testing.F) {
	for _, s := range [][3]string{
		{"0", "/books/:id", "/books/42"},
		{"0", "/books/:id(\\d+)", "/books/42"},
		{"0", "/foo/:bar*", "/foo/a/b"},
		{"0", "/foo{/bar}+", "/foo/bar/bar"},
		{"0", "/{a:x.}+b", "/a1.a2.b"},
		{"0", "/*/x/*", "/a/x/b"},
		{"0", "/:a-:b", "/x-y-z"},
		{"0", "/(a|b)+/:c?", "/ab/c"},
		{"0", "/{:a}?{:b}*(x)", "/x"},
		{"0", "/:name.html", "/a.b.html"},
		{"1", "{:sub.}?example.com", "www.example.com"},
		{"1", "*.example.com", "a.b.example.com"},
		{"1", ":a.:b+", "a.b.c"},
		{"2", "q=:term", "q=go"},
		{"2", "{a}*b{c}?", "aab"},
		{"2", "(\\w+)=*", "a=b&c"},
	} {
		f.Add(uint8(s[0][0]-'0'), s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, kind uint8, pattern, value string) {
		if len(pattern) > 64 || len(value) > 48 || !printableASCII(value) {
			return
		}
		c := componentKinds[int(kind)%len(componentKinds)]
		cc, err := compileComponent(c, pattern, 0, true)
		if err != nil {
			return
		}
		parts, opts, _, _ := parseComponent(c, pattern, 0, true)
		o := newOracle(parts, opts.delim)
		if o == nil {
			return
		}
		m := &cc.comp.m
		if got, want := m.match(value), o.match(value); got != want {
			t.Fatalf("%s pattern %q (kind %d) match(%q) = %v, oracle says %v", c, pattern, m.kind, value, got, want)
		}
		// The normalized pattern string is a pattern string that
		// normalizes to itself, but for one quirk of the standard: "\[" is
		// an IPv6 hostname, written back as "[", which is too short to
		// be one ("hostname pattern is an IPv6 address").
		if c == Hostname && cc.comp.pattern == "[" {
			return
		}
		again, err := compileComponent(c, cc.comp.pattern, 0, true)
		if err != nil {
			t.Fatalf("%s pattern %q normalizes to %q, which does not compile: %s", c, pattern, cc.comp.pattern, err.msg)
		}
		if again.comp.pattern != cc.comp.pattern {
			t.Fatalf("%s pattern %q normalizes to %q, which normalizes to %q", c, pattern, cc.comp.pattern, again.comp.pattern)
		}
	})
}

// TestTestAgainstOracle compares Test with the oracle on generated patterns
// and inputs over a small alphabet, where matches are common.
func TestTestAgainstOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pathPieces := []string{"/", "/", "a", "b", ".", "-", "*", `(\d+)`, "(a|b)", "{/a}", "{-b}", "{a:q.}", "(a*b?)"}
	hostPieces := []string{"a", "b", ".", "*", "{x.}", "(a|b)"}
	mods := []string{"", "", "", "?", "*", "+"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	gen := func(pieces []string, n int, names *int) string {
		var b strings.Builder
		for range n {
			switch x := pick(pieces); {
			case x == "*" || strings.HasPrefix(x, "(") || strings.HasPrefix(x, "{"):
				b.WriteString(x + pick(mods))
			case rng.IntN(4) == 0:
				*names++
				fmt.Fprintf(&b, ":n%d%s", *names, pick(mods))
			default:
				b.WriteString(x)
			}
		}
		return b.String()
	}
	alphabet := func(chars string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		return string(b)
	}
	checked, matched := 0, 0
	for range 8000 {
		names := 0
		pattern := "https://" + gen(hostPieces, 1+rng.IntN(4), &names) + "/" + gen(pathPieces, rng.IntN(6), &names)
		p, err := Parse(pattern)
		if err != nil {
			continue
		}
		for range 8 {
			input := "https://" + alphabet("ab.x1", 1+rng.IntN(6)) + "/" + alphabet("ab/.-12x", rng.IntN(10))
			want, ok := oracleTest(t, p, input, nil)
			if !ok {
				break
			}
			checked++
			if want {
				matched++
			}
			if got := p.Test(input); got != want {
				t.Fatalf("Parse(%q).Test(%q) = %v, oracle says %v", pattern, input, got, want)
			}
		}
	}
	if checked < 20000 || matched < 500 {
		t.Fatalf("checked %d inputs, %d matching; the generator needs tuning", checked, matched)
	}
	t.Logf("checked %d inputs against the oracle, %d matching", checked, matched)
}

// TestTestBaseAgainstOracle is TestTestAgainstOracle for relative patterns
// and relative inputs, both resolved against a base URL: the pattern's
// components hold the base's text, and inputs are resolved by the URL
// parser's relative states.
func TestTestBaseAgainstOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base, err := NewBase("https://ab.x/a/b?q#h")
	if err != nil {
		t.Fatal(err)
	}
	pieces := []string{"/", "/", "a", "b", ".", "..", "-", "*", `(\d+)`, "(a|b)", "{/a}", "{-b}", "(a*b?)"}
	mods := []string{"", "", "", "?", "*", "+"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	checked, matched := 0, 0
	for range 4000 {
		var b strings.Builder
		// Absolute and relative pathnames, and a search or hash alone,
		// which take the base's pathname.
		b.WriteString(pick([]string{"/", "/", "", "../", "?", "#"}))
		names := 0
		for range rng.IntN(6) {
			switch x := pick(pieces); {
			case x == "*" || strings.HasPrefix(x, "(") || strings.HasPrefix(x, "{"):
				b.WriteString(x + pick(mods))
			case rng.IntN(4) == 0:
				names++
				fmt.Fprintf(&b, ":n%d%s", names, pick(mods))
			default:
				b.WriteString(x)
			}
		}
		pattern := b.String()
		p, err := ParseWithBase(pattern, base)
		if err != nil {
			continue
		}
		for range 8 {
			in := []byte(pick([]string{"/", "/", "", "../", "//ab.x/", "https:", "?", "#"}))
			for range rng.IntN(8) {
				in = append(in, "ab/.-12"[rng.IntN(7)])
			}
			input := string(in)
			want, ok := oracleTest(t, p, input, base)
			if !ok {
				break
			}
			checked++
			if want {
				matched++
			}
			if got := p.TestBase(input, base); got != want {
				t.Fatalf("ParseWithBase(%q, %q).TestBase(%q) = %v, oracle says %v", pattern, base, input, got, want)
			}
		}
	}
	if checked < 10000 || matched < 500 {
		t.Fatalf("checked %d inputs, %d matching; the generator needs tuning", checked, matched)
	}
	t.Logf("checked %d inputs against the oracle, %d matching", checked, matched)
}
