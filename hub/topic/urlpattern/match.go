package urlpattern

import (
	"math/bits"
	"regexp"
	"regexp/syntax"
	"strings"
)

// This file matches one component. The standard compiles every component
// to an ECMAScript regexp ("generate a regular expression and name list",
// URL Pattern #converting-part-lists-to-regular-expressions) and allows
// implementations to match the part list directly instead. Here the common
// shapes never reach a regexp engine: a wildcard matches anything, fixed
// text is a comparison, fixed text around one group is two comparisons,
// and other parts without repetition or custom regexps are matched by
// tracking the set of input positions each part can end at. Only
// components with a regexp group or a * or + modifier compile to a Go
// regexp, whose RE2 engine runs in time linear in the input.

type matchKind uint8

const (
	matchAny   matchKind = iota // matches every string
	matchExact                  // matches exact
	matchAffix                  // prefix, one group, suffix
	matchParts                  // position sets over parts
	matchRE                     // re
)

type matcher struct {
	kind   matchKind
	seg    bool   // matchAffix: the group is a segment, not a wildcard
	delim  byte   // the segment delimiter; 0 for none
	prefix string // fixed text every match starts with; all of it for matchExact
	suffix string // matchAffix: fixed text after the group
	parts  []part // matchParts
	re     *regexp.Regexp
}

func (m *matcher) isExact() bool { return m.kind == matchExact }

// newMatcher picks the cheapest way to match parts. size is the number of
// RE2 instructions if it compiles them to a regexp.
func newMatcher(parts []part, opts options) (m matcher, size int, err *perr) {
	m = matcher{prefix: literalPrefix(parts), delim: opts.delim}
	exact := true
	for _, pt := range parts {
		exact = exact && pt.typ == partFixed && pt.mod == modNone
	}
	needRE := false
	for _, pt := range parts {
		needRE = needRE || pt.typ == partRegexp || pt.mod == modZeroOrMore || pt.mod == modOneOrMore
	}
	switch {
	case exact:
		m.kind = matchExact
	case len(parts) == 1 && parts[0].typ == partWildcard && parts[0].prefix == "" && parts[0].suffix == "":
		// *, *?, ** and *+ all match any string.
		m.kind = matchAny
	case !needRE && m.setAffix(parts):
		m.kind = matchAffix
	case !needRE:
		m.kind, m.parts = matchParts, parts
	default:
		src := generateRegexp(parts, opts)
		if size, err = regexpSize(src); err != nil {
			return matcher{}, 0, err
		}
		re, cerr := regexp.Compile(src)
		if cerr != nil {
			return matcher{}, 0, errAt(ErrTooComplex, -1, "the component's regexp does not compile: %v", cerr)
		}
		m.kind, m.re = matchRE, re
	}
	return m, size, nil
}

// literalPrefix returns the fixed text every string matching parts starts
// with: the leading fixed text, and the prefix text of a first group that
// must appear.
func literalPrefix(parts []part) string {
	var b strings.Builder
	for _, pt := range parts {
		if pt.typ == partFixed && pt.mod == modNone {
			b.WriteString(pt.value)
			continue
		}
		if pt.typ != partFixed && (pt.mod == modNone || pt.mod == modOneOrMore) {
			b.WriteString(pt.prefix)
		}
		break
	}
	return b.String()
}

func (m *matcher) match(v string) bool {
	switch m.kind {
	case matchAny:
		return true
	case matchExact:
		return v == m.prefix
	}
	if !strings.HasPrefix(v, m.prefix) {
		return false
	}
	switch m.kind {
	case matchAffix:
		// v is prefix, a middle part, suffix: the split is unique.
		if len(v) < len(m.prefix)+len(m.suffix) || !strings.HasSuffix(v, m.suffix) {
			return false
		}
		if !m.seg {
			return true
		}
		mid := v[len(m.prefix) : len(v)-len(m.suffix)]
		return mid != "" && (m.delim == 0 || strings.IndexByte(mid, m.delim) < 0)
	case matchRE:
		return m.re.MatchString(v)
	}
	return m.matchParts(v)
}

// setAffix sets prefix and suffix if parts are fixed text around one
// segment or wildcard group, all without modifiers, the commonest shape
// ("/books/:id", "*.example.com", "/users/42/*"), so that matching is two
// comparisons and at most a scan for the delimiter.
func (m *matcher) setAffix(parts []part) bool {
	group := -1
	for i, pt := range parts {
		if pt.mod != modNone {
			return false
		}
		if pt.typ != partFixed {
			if group >= 0 {
				return false
			}
			group = i
		}
	}
	if group < 0 {
		return false
	}
	var pre, suf strings.Builder
	for _, pt := range parts[:group] {
		pre.WriteString(pt.value)
	}
	pre.WriteString(parts[group].prefix)
	suf.WriteString(parts[group].suffix)
	for _, pt := range parts[group+1:] {
		suf.WriteString(pt.value)
	}
	m.prefix, m.suffix, m.seg = pre.String(), suf.String(), parts[group].typ == partSegment
	return true
}

// matchesSpecialScheme is "protocol component matches a special scheme".
func (m *matcher) matchesSpecialScheme() bool {
	for _, s := range specialSchemes {
		if m.match(s.scheme) {
			return true
		}
	}
	return false
}

// posWords is how many 64-bit words of position sets fit on the stack:
// components up to 511 bytes long need no allocation.
const posWords = 8

// matchParts tracks the set of positions in v that the parts so far can
// end at, starting from {0}; v matches if the last set holds len(v). Each
// part maps a set to the next in one pass over v, so the cost is
// O(len(parts) × len(v)) whatever the pattern, with no backtracking.
func (m *matcher) matchParts(v string) bool {
	n := len(v)
	w := n>>6 + 1
	var stack [3][posWords]uint64
	var sets [3][]uint64
	if w <= posWords {
		for i := range sets {
			sets[i] = stack[i][:w]
		}
	} else {
		buf := make([]uint64, 3*w)
		for i := range sets {
			sets[i] = buf[i*w : (i+1)*w]
		}
	}
	cur := 0
	sets[0][0] = 1
	for i := range m.parts {
		pt := &m.parts[i]
		in, x, y := sets[cur], sets[(cur+1)%3], sets[(cur+2)%3]
		var out []uint64
		next := 0
		if pt.typ == partFixed {
			advanceText(x, in, v, pt.value)
			out, next = x, (cur+1)%3
		} else {
			from := in
			if pt.prefix != "" {
				advanceText(x, in, v, pt.prefix)
				from = x
			}
			if pt.typ == partSegment {
				advanceSegment(y, from, v, m.delim)
			} else {
				advanceAny(y, from, n)
			}
			out, next = y, (cur+2)%3
			if pt.suffix != "" {
				advanceText(x, y, v, pt.suffix)
				out, next = x, (cur+1)%3
			}
		}
		if pt.mod == modOptional {
			for j := range out {
				out[j] |= in[j]
			}
		}
		if isEmpty(out) {
			return false
		}
		cur = next
	}
	return sets[cur][n>>6]&(1<<(n&63)) != 0
}

// advanceText sets dst to the positions after text t, starting at a
// position in src.
func advanceText(dst, src []uint64, v, t string) {
	clear(dst)
	for wi, word := range src {
		for word != 0 {
			i := wi<<6 + bits.TrailingZeros64(word)
			word &= word - 1
			if j := i + len(t); j <= len(v) && v[i:j] == t {
				dst[j>>6] |= 1 << (j & 63)
			}
		}
	}
}

// advanceSegment sets dst to the positions after one or more bytes other
// than delim (any bytes if delim is 0), starting at a position in src.
func advanceSegment(dst, src []uint64, v string, delim byte) {
	clear(dst)
	first, ok := lowest(src)
	if !ok {
		return
	}
	open := false
	for j := first; j < len(v); j++ {
		if src[j>>6]&(1<<(j&63)) != 0 {
			open = true
		}
		if delim != 0 && v[j] == delim {
			open = false
			continue
		}
		if open {
			k := j + 1
			dst[k>>6] |= 1 << (k & 63)
		}
	}
}

// advanceAny sets dst to the positions after any bytes, possibly none,
// starting at a position in src: every position from the lowest on.
func advanceAny(dst, src []uint64, n int) {
	clear(dst)
	first, ok := lowest(src)
	if !ok {
		return
	}
	for k := first; k <= n; {
		if k&63 == 0 && k+64 <= n+1 {
			dst[k>>6] = ^uint64(0)
			k += 64
			continue
		}
		dst[k>>6] |= 1 << (k & 63)
		k++
	}
}

func lowest(s []uint64) (int, bool) {
	for wi, word := range s {
		if word != 0 {
			return wi<<6 + bits.TrailingZeros64(word), true
		}
	}
	return 0, false
}

func isEmpty(s []uint64) bool {
	for _, word := range s {
		if word != 0 {
			return false
		}
	}
	return true
}

// generateRegexp is "generate a regular expression and name list" in Go
// syntax, without captures (Test needs none). Component values are ASCII
// without line terminators (the URL parser percent-encodes everything
// else), so the standard's "." and [^] both mean any byte here.
func generateRegexp(parts []part, opts options) string {
	seg := `(?s:.+?)`
	if opts.delim != 0 {
		seg = `[^` + regexp.QuoteMeta(string(opts.delim)) + `]+?`
	}
	var b strings.Builder
	b.WriteString(`\A`)
	for _, pt := range parts {
		if pt.typ == partFixed {
			if pt.mod == modNone {
				b.WriteString(regexp.QuoteMeta(pt.value))
			} else {
				b.WriteString(`(?:` + regexp.QuoteMeta(pt.value) + `)` + pt.mod.String())
			}
			continue
		}
		var v string
		switch pt.typ {
		case partSegment:
			v = seg
		case partWildcard:
			v = `(?s:.*)`
		default:
			v = pt.re
		}
		pre, suf := regexp.QuoteMeta(pt.prefix), regexp.QuoteMeta(pt.suffix)
		repeat := pt.mod == modZeroOrMore || pt.mod == modOneOrMore
		switch {
		case pt.prefix == "" && pt.suffix == "" && !repeat:
			b.WriteString(`(?:` + v + `)` + pt.mod.String())
		case pt.prefix == "" && pt.suffix == "":
			b.WriteString(`(?:(?:` + v + `)` + pt.mod.String() + `)`)
		case !repeat:
			b.WriteString(`(?:` + pre + `(?:` + v + `)` + suf + `)` + pt.mod.String())
		default:
			// The prefix and suffix separate the repetitions but do not
			// start the first or end the last: prefix v (suffix prefix v)*
			// suffix, optional as a whole for *.
			b.WriteString(`(?:` + pre + `(?:(?:` + v + `)(?:` + suf + pre + `(?:` + v + `))*)` + suf + `)`)
			if pt.mod == modZeroOrMore {
				b.WriteByte('?')
			}
		}
	}
	b.WriteString(`\z`)
	return b.String()
}

// regexpSize returns the number of RE2 program instructions src compiles
// to, which bounds the cost of matching it per input byte.
func regexpSize(src string) (int, *perr) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return 0, errAt(ErrTooComplex, -1, "the component's regexp does not compile: %v", err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, errAt(ErrTooComplex, -1, "the component's regexp does not compile: %v", err)
	}
	return len(prog.Inst), nil
}
