// Package uritemplate matches strings against RFC 6570 URI templates the
// way a Mercure hub matches update topics against topic selectors.
//
// # Selectors
//
// The Mercure protocol (draft-dunglas-mercure, section "Topic Selectors")
// lets a subscriber pass topic selectors. A topic matches a selector when
// the selector is "*", when the two strings are identical, or when the
// selector is a valid URI template that the topic matches. This package is
// the last step: [Parse] turns a selector into a [Template], and
// [Template.Match] reports whether a topic matches it. A selector that does
// not parse is not a template, and only the first two rules apply to it;
// [IsTemplate] tells a hub which selectors need the third.
//
// # What matches
//
// Match(s) reports whether some expansion of the template equals s: whether
// there are values of the template's variables (each undefined, a string, a
// list or an associative array, RFC 6570 section 2.3) whose expansion by
// the algorithm of RFC 6570 section 3.2 is s. So, as the RFC specifies:
//
//   - {var}, {.var}, {/var}, {;var}, {?var} and {&var} values are made of
//     unreserved characters (A-Z a-z 0-9 - . _ ~) and percent-encoded
//     triplets: https://example.com/books/{id} matches
//     https://example.com/books/1 and .../books/caf%C3%A9 but not
//     .../books/1/2, .../books/a?b or .../books/a%2 (section 3.2.1).
//     Commas separate the members of a list (.../books/1,2 matches).
//   - {+var} and {#var} values may also hold reserved characters
//     (: / ? # [ ] @ ! $ & ' ( ) * + , ; =), so
//     https://example.com/{+path} matches https://example.com/a/b?c=d
//     (sections 3.2.3 and 3.2.4).
//   - Operators add their prefix and separator only around defined
//     variables: X{.a,b} matches X, X.1 and X.1.2; {/a}/here matches /here
//     and /1/here (sections 3.2.5 and 3.2.6).
//   - Named operators spell out the variable names, in template order:
//     {?x,y} matches "", ?x=1, ?y=2 and ?x=1&y=2, but not ?y=2&x=1, ?z=3 or
//     ?x; {;x} matches ;x and ;x=1 (sections 3.2.7 to 3.2.9).
//   - An explode modifier allows any number of members, and for an
//     associative array any non-empty keys: {?q*} matches ?a=1&b=2 and
//     {/p*} matches /a/b/c (section 2.4.2).
//   - A prefix modifier limits a string value to that many characters:
//     {id:3} matches abc and %C3%A9t%C3%A9 (été, three characters), but
//     not abcd (section 2.4.1). A percent-encoded UTF-8 sequence counts as
//     the one character it encodes, and any other triplet as one.
//
// Three choices follow the reference Mercure hub (dunglas/mercure, which
// matches with the regular expression that github.com/yosida95/uritemplate
// builds from the template) rather than the letter of RFC 6570:
//
//   - Literals match themselves byte for byte. RFC 6570 section 3.1 would
//     percent-encode a non-ASCII literal on expansion; Mercure topics are
//     IRIs, so https://example.com/café/{id} matches
//     https://example.com/café/1 and not .../caf%C3%A9/1.
//   - Any percent-encoded triplet is accepted in a value, with hexadecimal
//     digits of either case, although an expander writes upper case and
//     would never write, say, %41 for A.
//   - Non-ASCII characters in a value must be percent-encoded, as RFC 6570
//     requires of every expansion: {id} does not match café.
//
// Elsewhere this package is stricter than the reference hub, whose regular
// expression ignores variable names, prefix lengths and the number of
// variables in named expressions ({?x} matches ?anything=1 and ? there).
// Subscribers and authorization rules written for the reference hub may
// match fewer topics here. To our reading of its source, they match more
// only in one corner: an expression whose first variable is undefined and
// a later one exploded ({a,b*} matches k=v, as section 3.2.1 expands it).
//
// # Cost
//
// Parse bounds its input: [MaxLen] bytes, [MaxExpressions] expressions and
// [MaxVariables] variables. Match never backtracks, and does not allocate.
// It compares the template's first and last literals with the ends of s,
// then matches the rest in one of two ways:
//
//   - A single scan, where the next byte decides where each variable's
//     value ends: for templates whose expressions are {var}, {+var},
//     {#var}, {.var} or single-variable {/var}, without prefix modifiers,
//     each followed by a literal that cannot continue the value (or by the
//     end). That covers the usual
//     https://example.com/books/{id} and
//     .../users/{user}/books/{+rest}, and takes 20 to 50 ns, against 0.4 to
//     0.9 µs for the regular expression the reference hub runs.
//   - Otherwise, a nondeterministic automaton run over the rest (a Pike
//     VM), in O(len(s)·P) time for a program of P instructions: a few
//     dozen for typical templates (https://example.com/search{?q,lang}
//     takes about half a microsecond), about two thousand at the limits,
//     where a 1 KiB string costs up to about 1 ms.
//
// A hub that matches untrusted templates should therefore also bound the
// length of topics and the number of templates a subscriber may hold. A
// [Set] holds many templates and finds those that match a string without
// trying each one.
package uritemplate

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/ssehub/ssehub/internal/clip"
)

// Limits on the templates Parse accepts. A template is untrusted input (a
// subscriber chooses it), and these bound the memory it takes and the work
// each Match does.
const (
	// MaxLen is the maximum length of a template in bytes.
	MaxLen = 1024
	// MaxExpressions is the maximum number of {...} expressions in a
	// template.
	MaxExpressions = 16
	// MaxVariables is the maximum number of variables in a template,
	// counted over all its expressions ({a,b}{c} has three).
	MaxVariables = 32
)

// Sentinel errors. Parse returns an *[Error] that wraps exactly one of them;
// test with [errors.Is].
var (
	// ErrSyntax means the input is not a URI template by the grammar of
	// RFC 6570 section 2.
	ErrSyntax = errors.New("uritemplate: syntax error")
	// ErrTooLong means the input is longer than MaxLen bytes.
	ErrTooLong = errors.New("uritemplate: too long")
	// ErrTooComplex means the input has more than MaxExpressions
	// expressions or more than MaxVariables variables.
	ErrTooComplex = errors.New("uritemplate: too complex")
)

// Error is a template that Parse rejected: where, and why. Its message is a
// complete sentence meant for the API user, naming the offset and what was
// expected there, with the template quoted and cut to a bounded length.
type Error struct {
	// Offset is the byte offset in the template at which the problem was
	// found.
	Offset int

	kind error
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the sentinel error: ErrSyntax, ErrTooLong or ErrTooComplex.
func (e *Error) Unwrap() error { return e.kind }

// Template is a parsed URI template, ready to match. It is safe for
// concurrent use. A template matched by the automaton (see Cost in the
// package documentation) keeps its scratch space between matches: a few
// hundred bytes for typical templates, a few KiB at the limits.
type Template struct {
	raw string
	// lits are the literals around the expressions: lits[i] comes before
	// exprs[i], and the last one ends the template. len(lits) is
	// len(exprs)+1; any of them may be empty.
	lits  []string
	exprs []expression
	// minLen is the length of the shortest string that can match: the sum
	// of the literals.
	minLen int
	// plan is the single-scan matcher for the middle (everything between
	// the first and the last literal), nil where a scan cannot decide
	// every variable's extent from the next byte.
	plan []planStep
	// prog is the automaton for the middle, used when plan is nil.
	prog prog
	// vm is prog's scratch space, kept between calls; nil while a call
	// uses it.
	vm atomic.Pointer[vm]
}

// Parse parses s as a URI template (RFC 6570 section 2, all four levels).
// A string without expressions is a valid template that matches only
// itself. An error is an *[Error] wrapping [ErrSyntax], [ErrTooLong] or
// [ErrTooComplex].
func Parse(s string) (*Template, error) {
	t, perr := parse(s, true)
	if perr.code != errNone {
		return nil, perr.toError(s)
	}
	t.compile()
	return t, nil
}

// IsTemplate reports whether s is a valid URI template with at least one
// expression: whether a Mercure hub must match topics against s as a
// template rather than only compare them with it. It does not allocate.
func IsTemplate(s string) bool {
	if strings.IndexByte(s, '{') < 0 {
		return false
	}
	_, perr := parse(s, false)
	return perr.code == errNone
}

// String returns the template's source text, as given to Parse.
func (t *Template) String() string { return t.raw }

// LiteralPrefix returns the literal text that every match of t begins
// with: the template up to its first expression. complete reports whether
// that is the whole template, which then matches only itself. An index of
// many templates can file each under its prefix (as [Set] does).
func (t *Template) LiteralPrefix() (prefix string, complete bool) {
	return t.lits[0], len(t.exprs) == 0
}

// Match reports whether some expansion of t equals s (see the package
// documentation for what that allows). It does not allocate, and its time
// is linear in len(s).
func (t *Template) Match(s string) bool {
	if !strings.HasPrefix(s, t.lits[0]) {
		return false
	}
	return t.matchAfterPrefix(s)
}

// matchAfterPrefix is Match for an s already known to begin with the
// template's literal prefix.
func (t *Template) matchAfterPrefix(s string) bool {
	if len(t.exprs) == 0 {
		return len(s) == len(t.lits[0])
	}
	suffix := t.lits[len(t.lits)-1]
	if len(s) < t.minLen || !strings.HasSuffix(s, suffix) {
		return false
	}
	middle := s[len(t.lits[0]) : len(s)-len(suffix)]
	if t.plan != nil {
		return t.matchPlan(middle)
	}
	return t.matchProg(middle)
}

// errCode says what parse found wrong, so that the check that IsTemplate
// makes does not format (and allocate) a message it would throw away.
type errCode uint8

const (
	errNone errCode = iota
	errTooLong
	errTooManyExprs
	errTooManyVars
	errUnclosed
	errStrayClose
	errLiteralChar
	errPct
	errUTF8
	errEmptyExpr
	errReservedOp
	errVarStart
	errVarChar
	errVarDot
	errPrefix
	errAfterVar
	errAfterModifier
)

// parseError is what parse found wrong, before it is formatted: at offset
// off, and for errUnclosed the offset of the "{" in open.
type parseError struct {
	code errCode
	off  int
	open int
}

func (pe parseError) toError(s string) error {
	kind := ErrSyntax
	var detail string
	switch pe.code {
	case errTooLong:
		kind = ErrTooLong
		detail = fmt.Sprintf("is %d bytes long; the limit is %d bytes", len(s), MaxLen)
	case errTooManyExprs:
		kind = ErrTooComplex
		detail = fmt.Sprintf("has more than %d expressions (the one at offset %d is one too many)", MaxExpressions, pe.off)
	case errTooManyVars:
		kind = ErrTooComplex
		detail = fmt.Sprintf("has more than %d variables (the one at offset %d is one too many)", MaxVariables, pe.off)
	case errUnclosed:
		detail = fmt.Sprintf(`has an expression opened at offset %d that is not closed; expected "}" before the end`, pe.open)
	case errStrayClose:
		detail = fmt.Sprintf(`has "}" at offset %d outside an expression; a literal "}" is written %%7D`, pe.off)
	case errLiteralChar:
		detail = fmt.Sprintf("has %s at offset %d, which is not allowed in a literal; percent-encode it as %s",
			quoteRuneAt(s, pe.off), pe.off, pctEncodeRuneAt(s, pe.off))
	case errPct:
		detail = fmt.Sprintf(`has "%%" at offset %d not followed by two hexadecimal digits; a literal "%%" is written %%25`, pe.off)
	case errUTF8:
		detail = fmt.Sprintf("has invalid UTF-8 at offset %d", pe.off)
	case errEmptyExpr:
		detail = fmt.Sprintf("has an empty expression at offset %d; expected a variable name", pe.off)
	case errReservedOp:
		detail = fmt.Sprintf("uses operator %q at offset %d, which RFC 6570 reserves for future extensions; the operators are + # . / ; ? &",
			s[pe.off:pe.off+1], pe.off)
	case errVarStart:
		detail = fmt.Sprintf("has %s at offset %d where a variable name was expected; names are made of A-Z a-z 0-9 _ and percent-encoded bytes, with single dots between",
			quoteRuneAt(s, pe.off), pe.off)
	case errVarChar:
		detail = fmt.Sprintf("has %s at offset %d in a variable name; names are made of A-Z a-z 0-9 _ and percent-encoded bytes, with single dots between",
			quoteRuneAt(s, pe.off), pe.off)
	case errVarDot:
		detail = fmt.Sprintf(`has a variable name ending in "." at offset %d; dots may only separate name characters`, pe.off)
	case errPrefix:
		detail = fmt.Sprintf("has a prefix modifier at offset %d whose length is not an integer from 1 to 9999", pe.off)
	case errAfterVar:
		detail = fmt.Sprintf(`has %s at offset %d after a variable name; expected ",", "}", ":" (a prefix) or "*" (explode)`,
			quoteRuneAt(s, pe.off), pe.off)
	case errAfterModifier:
		detail = fmt.Sprintf(`has %s at offset %d after a modifier; expected "," or "}" (a variable takes one modifier)`,
			quoteRuneAt(s, pe.off), pe.off)
	default:
		detail = fmt.Sprintf("is invalid at offset %d", pe.off)
	}
	return &Error{Offset: pe.off, kind: kind, msg: "uri template " + clip.Quote(s) + " " + detail}
}

// quoteRuneAt quotes the character at s[i:], or the byte there if it does
// not start valid UTF-8, so that a message names what the user typed.
func quoteRuneAt(s string, i int) string {
	if i >= len(s) {
		return "the end"
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("%q", s[i:i+1])
	}
	return fmt.Sprintf("%q", s[i:i+size])
}

// pctEncodeRuneAt percent-encodes the UTF-8 bytes of the character at s[i:].
func pctEncodeRuneAt(s string, i int) string {
	_, size := utf8.DecodeRuneInString(s[i:])
	var b strings.Builder
	for _, c := range []byte(s[i : i+size]) {
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"
