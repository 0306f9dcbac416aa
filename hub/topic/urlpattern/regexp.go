package urlpattern

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// This file translates the regexp of a regexp group, an ECMAScript regular
// expression compiled with the v flag (URL Pattern "compile a component",
// #urlpattern-internals), into Go's RE2 syntax, or rejects it.
//
// The translation only has to be right for ASCII input: the URL parser
// percent-encodes every other character of a component. So "." and every
// class, escape and set operation become a set of ASCII bytes, written out
// as a Go class, and a non-ASCII literal becomes a class that matches
// nothing. That sidesteps the differences between the two syntaxes and
// their Unicode tables (\s, \w, case, the v flag's set operations).

// maxRepeat is the largest repeat count RE2 accepts.
const maxRepeat = 1000

// translateRegexp returns the Go regexp for src. An error's offset is
// relative to src.
func translateRegexp(src string) (string, *perr) {
	t := reTranslator{src: src}
	if err := t.disjunction(); err != nil {
		return "", err
	}
	if t.i < len(src) { // only an unbalanced ")" stops a disjunction early
		return "", t.fail(ErrSyntax, t.i, `")" has no matching "("`)
	}
	return t.b.String(), nil
}

type reTranslator struct {
	src string
	i   int
	b   strings.Builder
}

func (t *reTranslator) fail(kind error, off int, format string, args ...any) *perr {
	return &perr{kind: kind, off: off, msg: "in regexp " + quoteText(t.src) + ": " + fmt.Sprintf(format, args...)}
}

func (t *reTranslator) peek(k int) byte {
	if t.i+k < len(t.src) {
		return t.src[t.i+k]
	}
	return 0
}

func (t *reTranslator) disjunction() *perr {
	if err := t.alternative(); err != nil {
		return err
	}
	for t.i < len(t.src) && t.src[t.i] == '|' {
		t.b.WriteByte('|')
		t.i++
		if err := t.alternative(); err != nil {
			return err
		}
	}
	return nil
}

func (t *reTranslator) alternative() *perr {
	for t.i < len(t.src) && t.src[t.i] != '|' && t.src[t.i] != ')' {
		if err := t.term(); err != nil {
			return err
		}
	}
	return nil
}

func (t *reTranslator) term() *perr {
	start := t.i
	c := t.src[t.i]
	assertion := false
	switch c {
	case '^':
		t.b.WriteString(`\A`)
		t.i++
		assertion = true
	case '$':
		t.b.WriteString(`\z`)
		t.i++
		assertion = true
	case '\\':
		switch t.peek(1) {
		case 'b', 'B':
			t.b.WriteString(t.src[t.i : t.i+2])
			t.i += 2
			assertion = true
		default:
			if err := t.atomEscape(); err != nil {
				return err
			}
		}
	case '(':
		if err := t.group(); err != nil {
			return err
		}
	case '[':
		set, err := t.class()
		if err != nil {
			return err
		}
		t.b.WriteString(set.regexp())
	case '.':
		t.b.WriteString(dotSet.regexp())
		t.i++
	case '*', '+', '?':
		return t.fail(ErrSyntax, start, "%q has nothing to repeat", c)
	case '{':
		if _, _, _, ok := t.braces(); ok {
			return t.fail(ErrSyntax, start, "%q has nothing to repeat", c)
		}
		return t.fail(ErrSyntax, start, `a literal "{" must be escaped as "\{"`)
	case '}', ']':
		return t.fail(ErrSyntax, start, `a literal %q must be escaped as "\%c"`, c, c)
	default:
		t.b.WriteString(asciiSetOf(rune(c)).regexp())
		t.i++
	}
	if assertion {
		if c := t.peek(0); c == '*' || c == '+' || c == '?' || c == '{' {
			return t.fail(ErrSyntax, t.i, "an assertion cannot be repeated")
		}
		return nil
	}
	return t.quantifier()
}

// braces parses a {n}, {n,} or {n,m} quantifier at t.i without consuming
// it. m is -1 for none.
func (t *reTranslator) braces() (n, m, end int, ok bool) {
	j := t.i + 1
	num := func() (int, bool) {
		k := j
		v := 0
		for j < len(t.src) && isASCIIDigit(t.src[j]) {
			if v = v*10 + int(t.src[j]-'0'); v > 1e6 {
				v = 1e6
			}
			j++
		}
		return v, j > k
	}
	n, ok = num()
	if !ok {
		return 0, 0, 0, false
	}
	m = n
	if j < len(t.src) && t.src[j] == ',' {
		j++
		if m, ok = num(); !ok {
			m = -1
		}
	}
	if j >= len(t.src) || t.src[j] != '}' {
		return 0, 0, 0, false
	}
	return n, m, j + 1, true
}

func (t *reTranslator) quantifier() *perr {
	start := t.i
	switch t.peek(0) {
	case '*', '+', '?':
		t.b.WriteByte(t.src[t.i])
		t.i++
	case '{':
		n, m, end, ok := t.braces()
		if !ok {
			return t.fail(ErrSyntax, start, `a literal "{" must be escaped as "\{"`)
		}
		if m >= 0 && m < n {
			return t.fail(ErrSyntax, start, "repeat count %s is out of order", t.src[start:end])
		}
		if n > maxRepeat || m > maxRepeat {
			return t.fail(ErrTooComplex, start, "repeat count %s is above %d, the most RE2 allows", t.src[start:end], maxRepeat)
		}
		t.b.WriteString(t.src[start:end])
		t.i = end
	default:
		return nil
	}
	if t.peek(0) == '?' { // lazy
		t.b.WriteByte('?')
		t.i++
	}
	return nil
}

func (t *reTranslator) group() *perr {
	start := t.i
	rest := t.src[t.i:]
	switch {
	case strings.HasPrefix(rest, "(?:"):
		t.i += 3
	case strings.HasPrefix(rest, "(?=") || strings.HasPrefix(rest, "(?!"):
		return t.fail(ErrUnsupported, start, "lookahead is not supported (regexp groups run on RE2, which has none)")
	case strings.HasPrefix(rest, "(?<=") || strings.HasPrefix(rest, "(?<!"):
		return t.fail(ErrUnsupported, start, "lookbehind is not supported (regexp groups run on RE2, which has none)")
	case strings.HasPrefix(rest, "(?<"):
		j := t.i + 3
		for j < len(t.src) && isNameRune(rune(t.src[j]), j == t.i+3) {
			j++
		}
		if j == t.i+3 || j >= len(t.src) || t.src[j] != '>' {
			return t.fail(ErrSyntax, start, "invalid group name")
		}
		t.i = j + 1
	case strings.HasPrefix(rest, "(?"):
		return t.fail(ErrUnsupported, start, `modifier groups such as "(?i:" are not supported`)
	default:
		t.i++
	}
	t.b.WriteString("(?:")
	if err := t.disjunction(); err != nil {
		return err
	}
	if t.peek(0) != ')' {
		return t.fail(ErrSyntax, start, `"(" has no matching ")"`)
	}
	t.i++
	t.b.WriteByte(')')
	return nil
}

// atomEscape handles a \ escape outside a class.
func (t *reTranslator) atomEscape() *perr {
	start := t.i
	e := t.peek(1)
	switch {
	case e == 'p' || e == 'P':
		return t.fail(ErrUnsupported, start, `Unicode property escapes such as "\p{L}" are not supported`)
	case '1' <= e && e <= '9' || e == 'k':
		return t.fail(ErrUnsupported, start, "backreferences are not supported (regexp groups run on RE2, which has none)")
	}
	if set, ok := classEscape(e); ok {
		t.b.WriteString(set.regexp())
		t.i += 2
		return nil
	}
	r, err := t.charEscape(false)
	if err != nil {
		return err
	}
	t.b.WriteString(asciiSetOf(r).regexp())
	return nil
}

// classEscape returns the set of \d, \D, \w, \W, \s or \S.
func classEscape(e byte) (asciiSet, bool) {
	switch e {
	case 'd':
		return digitSet, true
	case 'D':
		return digitSet.not(), true
	case 'w':
		return wordSet, true
	case 'W':
		return wordSet.not(), true
	case 's':
		return spaceSet, true
	case 'S':
		return spaceSet.not(), true
	}
	return asciiSet{}, false
}

// charEscape consumes a \ escape that stands for one character and returns
// it. inClass allows the escapes only classes have.
func (t *reTranslator) charEscape(inClass bool) (rune, *perr) {
	start := t.i
	if t.i+1 >= len(t.src) {
		return 0, t.fail(ErrSyntax, start, `the regexp ends with an unpaired "\"`)
	}
	e := t.src[t.i+1]
	t.i += 2
	switch e {
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'v':
		return '\v', nil
	case 'c':
		if c := t.peek(0); isASCIIAlpha(c) {
			t.i++
			return rune(c % 32), nil
		}
	case '0':
		if !isASCIIDigit(t.peek(0)) {
			return 0, nil
		}
	case 'x':
		if isHexDigit(t.peek(0)) && isHexDigit(t.peek(1)) {
			v, _ := strconv.ParseUint(t.src[t.i:t.i+2], 16, 8)
			t.i += 2
			return rune(v), nil
		}
	case 'u':
		if r, ok := t.unicodeEscape(); ok {
			return r, nil
		}
	case '^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/':
		return rune(e), nil
	case '-':
		if inClass {
			return '-', nil
		}
	case 'b':
		if inClass {
			return '\b', nil
		}
	case '&', '!', '#', '%', ',', ':', ';', '<', '=', '>', '@', '`', '~':
		if inClass {
			return rune(e), nil
		}
	}
	return 0, t.fail(ErrSyntax, start, "invalid escape %q", t.src[start:min(t.i, len(t.src))])
}

// unicodeEscape parses what follows \u: four hexadecimal digits (a
// surrogate pair may be two such escapes) or {hex digits}.
func (t *reTranslator) unicodeEscape() (rune, bool) {
	hex4 := func(at int) (rune, bool) {
		if at+4 > len(t.src) {
			return 0, false
		}
		v, err := strconv.ParseUint(t.src[at:at+4], 16, 16)
		return rune(v), err == nil && !strings.ContainsAny(t.src[at:at+4], "+-")
	}
	if t.peek(0) == '{' {
		j := t.i + 1
		for j < len(t.src) && isHexDigit(t.src[j]) {
			j++
		}
		if j == t.i+1 || j >= len(t.src) || t.src[j] != '}' {
			return 0, false
		}
		v, err := strconv.ParseUint(t.src[t.i+1:j], 16, 32)
		if err != nil || v > 0x10FFFF {
			return 0, false
		}
		t.i = j + 1
		return rune(v), true
	}
	r, ok := hex4(t.i)
	if !ok {
		return 0, false
	}
	t.i += 4
	if 0xD800 <= r && r < 0xDC00 && strings.HasPrefix(t.src[t.i:], `\u`) {
		if lo, ok := hex4(t.i + 2); ok && 0xDC00 <= lo && lo < 0xE000 {
			t.i += 6
			return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), true
		}
	}
	return r, true
}

// class parses a character class with the v flag's syntax: nested
// classes, ranges, and the && and -- set operations.
func (t *reTranslator) class() (asciiSet, *perr) {
	start := t.i
	t.i++ // [
	negate := false
	if t.peek(0) == '^' {
		negate = true
		t.i++
	}
	set, err := t.classContents()
	if err != nil {
		return asciiSet{}, err
	}
	if t.peek(0) != ']' {
		return asciiSet{}, t.fail(ErrSyntax, start, `"[" has no matching "]"`)
	}
	t.i++
	if negate {
		set = set.not()
	}
	return set, nil
}

func (t *reTranslator) classContents() (asciiSet, *perr) {
	if t.peek(0) == ']' {
		return asciiSet{}, nil
	}
	first, single, err := t.classOperand()
	if err != nil {
		return asciiSet{}, err
	}
	if op := t.src[t.i:min(t.i+2, len(t.src))]; op == "&&" || op == "--" {
		set := first
		for strings.HasPrefix(t.src[t.i:], op) {
			t.i += 2
			next, _, err := t.classOperand()
			if err != nil {
				return asciiSet{}, err
			}
			if op == "&&" {
				set = set.and(next)
			} else {
				set = set.and(next.not())
			}
		}
		if t.peek(0) != ']' {
			return asciiSet{}, t.fail(ErrSyntax, t.i, "a class cannot mix %q with other operations", op)
		}
		return set, nil
	}
	// A union of operands and ranges.
	var set asciiSet
	for {
		if single >= 0 && t.peek(0) == '-' && t.peek(1) != '-' {
			at := t.i
			t.i++
			_, hi, err := t.classOperand()
			if err != nil {
				return asciiSet{}, err
			}
			if hi < 0 {
				return asciiSet{}, t.fail(ErrSyntax, at, "a range must end with a single character")
			}
			if hi < single {
				return asciiSet{}, t.fail(ErrSyntax, at, "range %s is out of order", t.src[at-1:t.i])
			}
			first = asciiRange(single, hi)
		}
		set = set.or(first)
		switch c := t.peek(0); {
		case c == ']' || t.i >= len(t.src):
			return set, nil
		case strings.HasPrefix(t.src[t.i:], "&&") || strings.HasPrefix(t.src[t.i:], "--"):
			return asciiSet{}, t.fail(ErrSyntax, t.i, "a class cannot mix %q with other operations", t.src[t.i:t.i+2])
		}
		if first, single, err = t.classOperand(); err != nil {
			return asciiSet{}, err
		}
	}
}

// classOperand parses a nested class, a class escape or one character. For
// one character it also returns the character, else -1.
func (t *reTranslator) classOperand() (asciiSet, rune, *perr) {
	start := t.i
	if t.i >= len(t.src) {
		return asciiSet{}, -1, t.fail(ErrSyntax, start, `a class is not closed with "]"`)
	}
	c := t.src[t.i]
	switch c {
	case '[':
		set, err := t.class()
		return set, -1, err
	case '\\':
		e := t.peek(1)
		if set, ok := classEscape(e); ok {
			t.i += 2
			return set, -1, nil
		}
		switch e {
		case 'p', 'P':
			return asciiSet{}, -1, t.fail(ErrUnsupported, start, `Unicode property escapes such as "\p{L}" are not supported`)
		case 'q':
			return asciiSet{}, -1, t.fail(ErrUnsupported, start, `string literals "\q{...}" in classes are not supported`)
		}
		r, err := t.charEscape(true)
		if err != nil {
			return asciiSet{}, -1, err
		}
		return asciiSetOf(r), r, nil
	case '(', ')', ']', '{', '}', '/', '-', '|':
		return asciiSet{}, -1, t.fail(ErrSyntax, start, "%q must be escaped in a class", c)
	}
	if t.peek(1) == c && strings.IndexByte("&!#$%*+,.:;<=>?@^`~", c) >= 0 {
		return asciiSet{}, -1, t.fail(ErrSyntax, start, "%q is reserved in a class; escape one of them", t.src[t.i:t.i+2])
	}
	t.i++
	return asciiSetOf(rune(c)), rune(c), nil
}

// asciiSet is a set of ASCII characters: bit c of word c/64.
type asciiSet [2]uint64

var (
	digitSet = asciiRange('0', '9')
	wordSet  = asciiRange('a', 'z').or(asciiRange('A', 'Z')).or(digitSet).or(asciiSetOf('_'))
	// spaceSet is the ASCII part of \s: WhiteSpace and LineTerminator.
	spaceSet = asciiSetOf('\t').or(asciiSetOf('\n')).or(asciiSetOf('\v')).or(asciiSetOf('\f')).
			or(asciiSetOf('\r')).or(asciiSetOf(' '))
	// dotSet is "." without the s flag: anything but a line terminator.
	dotSet = asciiSetOf('\n').or(asciiSetOf('\r')).not()
)

// asciiSetOf returns {r}, or the empty set for a character that is not
// ASCII, which no component value contains.
func asciiSetOf(r rune) asciiSet {
	var s asciiSet
	if 0 <= r && r < 0x80 {
		s[r>>6] |= 1 << (r & 63)
	}
	return s
}

func asciiRange(lo, hi rune) asciiSet {
	var s asciiSet
	for r := lo; r <= hi && r < 0x80; r++ {
		s = s.or(asciiSetOf(r))
	}
	return s
}

func (s asciiSet) or(o asciiSet) asciiSet  { return asciiSet{s[0] | o[0], s[1] | o[1]} }
func (s asciiSet) and(o asciiSet) asciiSet { return asciiSet{s[0] & o[0], s[1] & o[1]} }
func (s asciiSet) not() asciiSet           { return asciiSet{^s[0], ^s[1]} }
func (s asciiSet) has(c int) bool          { return s[c>>6]&(1<<(c&63)) != 0 }

// regexp writes the set as a Go regexp: a quoted literal for one
// character, a class otherwise, and a class no character is in for none.
func (s asciiSet) regexp() string {
	switch bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) {
	case 0:
		return `[^\x00-\x{10FFFF}]`
	case 1:
		c := bits.TrailingZeros64(s[0])
		if s[0] == 0 {
			c = 64 + bits.TrailingZeros64(s[1])
		}
		return hexChar(c)
	}
	var b strings.Builder
	b.WriteByte('[')
	for c := 0; c < 128; c++ {
		if !s.has(c) {
			continue
		}
		hi := c
		for hi+1 < 128 && s.has(hi+1) {
			hi++
		}
		b.WriteString(hexChar(c))
		if hi > c {
			b.WriteString("-" + hexChar(hi))
		}
		c = hi
	}
	b.WriteByte(']')
	return b.String()
}

// hexChar writes c as an escape Go's regexp reads the same inside and
// outside classes.
func hexChar(c int) string {
	if isASCIIAlpha(byte(c)) || isASCIIDigit(byte(c)) {
		return string(rune(c))
	}
	return fmt.Sprintf(`\x%02x`, c)
}
