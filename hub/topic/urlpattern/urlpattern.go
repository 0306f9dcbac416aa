// Package urlpattern matches URLs against URL patterns: the pattern syntax
// of the WHATWG URL Pattern Standard (https://urlpattern.spec.whatwg.org/,
// the browser URLPattern API), which the Mercure protocol uses for its
// URLPattern topic matcher type (draft-dunglas-mercure, "Matcher Types").
//
// [Parse] reads a pattern in the constructor-string form, as
// new URLPattern(pattern) does, and [Pattern.Test] answers what
// URLPattern.prototype.test(input) answers for an absolute URL. [Set]
// matches one input against many patterns at once. With a base URL
// ([NewBase]), [ParseWithBase], [Pattern.TestBase] and [Set.MatchBase] do
// the same for relative patterns and inputs, as new URLPattern(pattern,
// baseURL) and test(input, baseURL) do; the Mercure draft resolves
// relative patterns and topics against the hub's URL.
//
// Patterns come from untrusted subscribers and are matched in a shard loop,
// so the work is bounded: a pattern has at most [MaxLen] bytes and
// [MaxGroups] groups, its regexp groups at most [MaxRegexpSize] RE2
// instructions, and nothing backtracks. Test parses the input once, in
// linear time, then matches the eight components, each the cheapest way
// its shape allows: a wildcard costs nothing; fixed text, and fixed text
// around one group ("/books/:id", "*.example.com"), are comparisons; other
// components without regexp groups or repeat modifiers track the set of
// positions each part can end at, at worst O(len(component) × len(text));
// the rest run on Go's regexp package (RE2), O(len(component) × program
// size). Test does not allocate for an input that is already canonical
// (lower-case scheme and host, no default port, no dot segments, nothing to
// percent-encode) with components shorter than 512 bytes; nor does
// TestBase for a relative input, but for a path-relative one ("x",
// "../x"), whose path is joined to the base's in one allocation.
//
// # What is supported
//
// The names after # are the sections of the standard
// (https://urlpattern.spec.whatwg.org/#constructor-string-parsing and so
// on).
//
//   - Constructor strings (#constructor-string-parsing): every component
//     (protocol, username, password, hostname, port, pathname, search,
//     hash), authority and IPv6 brackets, escaped separators, {...} groups
//     across separators, the wildcard defaults of omitted components, the
//     empty port a hostname implies, dropping a special scheme's default
//     port (#high-level-operations, "create"), and the special-scheme
//     rules for pathnames.
//   - Base URLs for patterns (#constructor-string-parsing and
//     #process-a-urlpatterninit): the components before the first one a
//     relative pattern gives are the base's, as escaped fixed text
//     ("/books/:id" against "https://example.com/a?q" has protocol
//     "https", hostname "example.com" and the base's port); the base's
//     username and password never are, and the components after the first
//     one given are wildcards, as the standard has it. A pathname not
//     starting with "/" (nor "\/" or "{/") is appended to the base's path
//     up to its last "/", in relative patterns and, for opaque schemes
//     such as "data\:x", absolute ones alike. "" is a pattern too: the
//     base's directory.
//   - Pattern strings (#parsing-pattern-strings): fixed text and \ escapes,
//     named groups (:id, with Unicode identifier names), regexp groups
//     ((\d+), :id(\d+)), wildcards (*), {...} groups with prefix and
//     suffix text, the modifiers ?, * and +, the automatic "/" prefix in
//     pathnames and the segment separators ("." in hostnames, "/" in
//     pathnames). Duplicate group names are errors. [Pattern.Component]
//     returns a component's normalized pattern string
//     (#converting-part-lists-to-pattern-strings).
//   - Canonicalization of fixed text (#canon-encoding-callbacks): protocols
//     are checked and lower-cased; username, password, pathname, search and
//     hash text is percent-encoded with the URL Standard's sets (search text
//     with the query set, not the special-query set, as the standard
//     says, so a "'" in it never matches an http(s) URL, whose "'" is
//     %27); pathname text has its dot segments removed; port text is a
//     number; hostnames are checked and lower-cased.
//   - Regexp groups, ECMAScript regular expressions with the v flag
//     (#urlpattern-internals, "compile a component"): literals, escapes
//     (\d \w \s and their negations, \b \B, \n \t \xHH \uHHHH \u{H...} \cX
//     \0), ".", classes with ranges, nesting, && and --, anchors,
//     alternation, (?:...), (?<name>...), and the quantifiers * + ? {n}
//     {n,} {n,m} and their lazy forms.
//   - Inputs (#high-level-operations, "match"): an absolute URL is parsed
//     and canonicalized as the URL Standard's basic URL parser does
//     (scheme and host lower-cased, IPv4 numbers in every base normalized,
//     IPv6 compressed, default ports dropped, dot segments removed, \ read
//     as / in special URLs, percent-encoding with the URL Standard's sets),
//     for the special schemes http, https, ws, wss and ftp and for any
//     non-special scheme. One deliberate difference: the host of a
//     non-special URL ("foo://Host/") is lower-cased too, as pattern
//     hostnames are, because Mercure makes hosts case-insensitive.
//   - Relative inputs (test(input, baseURL)): the basic URL parser's
//     relative states against any base but a file URL: path-absolute
//     ("/x", and "\x" for special bases), path-relative ("x", "../x",
//     with dot segments applied to the joined path), query-only ("?q"),
//     fragment-only ("#h"), empty (the base without its fragment),
//     network-path ("//host/x", which takes only the scheme) and the
//     special same-scheme form ("https:x" against an https base, which
//     the URL Standard reads as relative); against a base with an opaque
//     path ("urn:x"), only "#h". The result is canonicalized as an
//     absolute input is.
//
// # What is not supported
//
// Each of these is reported, so a caller can turn a subscription down with a
// clear message instead of matching differently from a browser.
//
//   - Relative patterns and inputs without a base URL: [Parse] returns an
//     error wrapping [ErrUnsupported] for a relative pattern (one without
//     a protocol, such as "/books/:id"), [Pattern.Test] and [Set.Match]
//     never match a relative input, and [IndexKey] reports it not ok; the
//     ...Base variants take a base.
//   - file: base URLs, which [NewBase] rejects with [ErrUnsupported], as
//     file: inputs never match.
//   - URLPatternInit dictionaries (so no base URL for a dictionary, nor a
//     baseURL member), exec and captured group values.
//   - The ignoreCase option (which Mercure forbids anyway).
//   - IDNA (the URL Standard's "domain to ASCII"): non-ASCII hostname text
//     in a pattern is an error wrapping [ErrUnsupported]; write its xn--
//     form. An input whose host is not ASCII never matches. xn-- labels
//     are compared as they are, not decoded and validated.
//   - file: inputs never match (the URL Standard's file-URL rules for
//     drive letters and "localhost" are not implemented).
//   - Regexp features RE2 lacks, errors wrapping [ErrUnsupported]:
//     backreferences (\1, \k<name>), lookahead and lookbehind, \p{...}
//     property escapes, \q{...} string literals and modifier groups
//     ((?i:...)). Repeat counts above 1000 (RE2's limit) are errors
//     wrapping [ErrTooComplex].
//   - Fixed text the URL parser would silently rewrite or cut is rejected
//     instead: control characters anywhere (Mercure forbids them in
//     matchers), hostname text with / ? # or :, port text that is not all
//     digits, and opaque-pathname text with ? or #. Hexadecimal or octal
//     IPv4 numbers in hostname text are not rewritten (inputs' are).
//   - Input that is not valid UTF-8 never matches (Mercure requires
//     UTF-8 topics).
//
// Mercure's reserved matcher value "*", which matches every topic, is not
// a URL pattern (it is relative) and is for the caller to recognize.
package urlpattern

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/internal/kinderr"
)

// Limits on a pattern. They bound the memory a subscription holds and the
// work every published topic costs it.
const (
	// MaxLen is the maximum length of a pattern in bytes.
	MaxLen = 1024
	// MaxGroups is the maximum number of groups (named groups, regexp
	// groups, wildcards, and {...} groups with a modifier) in a pattern,
	// over all its components.
	MaxGroups = 32
	// MaxRegexpSize is the maximum size, in RE2 program instructions, of
	// the regexps compiled for the components that need one, added up.
	// RE2 matches in O(len(input) × size), so this bounds what a regexp
	// can cost per topic: the worst pattern within it takes about 0.2ms
	// on a 256-byte topic (BenchmarkTest/worstRegexp), while typical
	// regexp groups such as (\d+) or ([0-9a-f]{7,40}) compile to tens of
	// instructions and cost about 1µs.
	MaxRegexpSize = 300
)

// Sentinel errors. Parse returns errors that wrap exactly one of them; test
// with [errors.Is]. The message is a complete sentence meant for the API
// user, naming the pattern and, where there is one, the byte offset of the
// problem, so callers can show it as is.
var (
	// ErrTooLong means the pattern is longer than MaxLen bytes.
	ErrTooLong = errors.New("urlpattern: too long")
	// ErrTooComplex means the pattern has more than MaxGroups groups, or
	// regexps larger than MaxRegexpSize or RE2's repeat limit.
	ErrTooComplex = errors.New("urlpattern: too complex")
	// ErrSyntax means the pattern is not a valid URL pattern (the browser
	// URLPattern constructor would throw a TypeError too), or has fixed
	// text a browser would silently cut or rewrite (the package
	// documentation lists those).
	ErrSyntax = errors.New("urlpattern: invalid")
	// ErrUnsupported means the pattern uses something this package does
	// not implement (see the package documentation): a browser might
	// accept it, but this package would not match as the browser does.
	ErrUnsupported = errors.New("urlpattern: unsupported")
)

// Component names one of the eight parts of a URL a pattern matches.
type Component int

// The components, in URL order.
const (
	Protocol Component = iota
	Username
	Password
	Hostname
	Port
	Pathname
	Search
	Hash
	numComponents
)

var componentNames = [numComponents]string{
	"protocol", "username", "password", "hostname", "port", "pathname", "search", "hash",
}

// String returns the component's name as the URLPattern API spells it.
func (c Component) String() string {
	if c < 0 || c >= numComponents {
		return fmt.Sprintf("Component(%d)", int(c))
	}
	return componentNames[c]
}

// Pattern is a parsed URL pattern. It is immutable, and safe for use by
// several goroutines at once.
type Pattern struct {
	src       string
	comps     [numComponents]*component
	literal   string
	hasRegexp bool
}

// Parse parses s, a URL pattern in the constructor-string form, such as
// "https://example.com/books/:id". The pattern must be absolute (have a
// protocol). The error, if any, wraps one of the package's sentinel errors.
func Parse(s string) (*Pattern, error) { return ParseWithBase(s, nil) }

// ParseWithBase parses s as new URLPattern(s, baseURL) does: s may be
// relative ("/books/:id", "books/:id", "?page=:n", "#:section"), and the
// components before the first one it gives are base's, the ones after it
// wildcards. For "/books/:id" against "https://example.com/a?q#h" that is
// protocol "https", hostname "example.com" and the port; username,
// password, search and hash are "*". A pathname not starting with "/"
// is appended to base's path up to its last "/". An absolute s takes
// nothing from base but that. A nil base is Parse. The error, if any,
// wraps one of the package's sentinel errors; [Pattern.String] is s.
func ParseWithBase(s string, base *Base) (*Pattern, error) {
	switch {
	case s == "" && base == nil:
		// With a base, "" is a relative pattern like any other: the
		// base's directory, as new URLPattern("", baseURL) has it.
		return nil, newError(ErrSyntax, "URL pattern %q is empty", s)
	case len(s) > MaxLen:
		return nil, newError(ErrTooLong, "URL pattern %s is %d bytes long; the limit is %d bytes",
			clip.Quote(s), len(s), MaxLen)
	case !utf8.ValidString(s):
		i := firstInvalidUTF8(s)
		return nil, newError(ErrSyntax, "URL pattern %s is not valid UTF-8 at offset %d", clip.Quote(s), i)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return nil, newError(ErrSyntax, "URL pattern %s has control character %q at offset %d",
				clip.Quote(s), s[i:i+1], i)
		}
	}
	p, perr := build(s, base)
	if perr != nil {
		return nil, perr.toError(s)
	}
	return p, nil
}

// String returns the pattern as it was given to Parse or ParseWithBase,
// without the base.
func (p *Pattern) String() string { return p.src }

// Component returns the normalized pattern string of one component, as the
// URLPattern attribute of that name returns it: "*" for an omitted
// component, fixed text canonicalized, groups written in their shortest
// form.
func (p *Pattern) Component(c Component) string {
	if c < 0 || c >= numComponents {
		return ""
	}
	return p.comps[c].pattern
}

// HasRegexpGroups reports whether the pattern has a regexp group, as the
// URLPattern hasRegExpGroups attribute does.
func (p *Pattern) HasRegexpGroups() bool { return p.hasRegexp }

// Literal returns a prefix of the [IndexKey] of every URL the pattern
// matches, so patterns can be indexed by it: an input can match p only if
// IndexKey(input) starts with p.Literal(). It is "" when the protocol is
// not fixed text, and it includes fixed text up to the first component
// that is not (for "https://example.com/books/:id", the prefix
// "https://example.com/books/").
func (p *Pattern) Literal() string { return p.literal }

// Test reports whether input, an absolute URL, matches p, as
// URLPattern.prototype.test(input) does without a base URL. An input that
// is not an absolute URL, or that the package cannot canonicalize as a
// browser would (see the package documentation), does not match.
func (p *Pattern) Test(input string) bool {
	var u url
	if !parseURL(input, &u) {
		return false
	}
	return p.match(&u)
}

func (p *Pattern) match(u *url) bool {
	// Pathname and hostname first: they are where patterns differ most.
	return p.comps[Pathname].m.match(u.c[Pathname]) &&
		p.comps[Hostname].m.match(u.c[Hostname]) &&
		p.comps[Protocol].m.match(u.c[Protocol]) &&
		p.comps[Port].m.match(u.c[Port]) &&
		p.comps[Search].m.match(u.c[Search]) &&
		p.comps[Hash].m.match(u.c[Hash]) &&
		p.comps[Username].m.match(u.c[Username]) &&
		p.comps[Password].m.match(u.c[Password])
}

// IndexKey returns the key [Pattern.Literal] is a prefix of for every
// pattern input matches: the canonical protocol, "://", hostname, ":" and
// port if the port is not empty, pathname, "?", search, "#" and hash. The
// user name and password are left out, so that patterns, which nearly
// always leave them wildcards, can still have long literals. ok is false
// if input is not an absolute URL the package can parse; no pattern
// matches it then.
func IndexKey(input string) (key string, ok bool) {
	var u url
	if !parseURL(input, &u) {
		return "", false
	}
	return string(u.appendKey(nil)), true
}

// perr is a parse error before it is formatted with the pattern: a sentinel,
// the byte offset of the problem in the pattern (-1 for none) and what is
// wrong.
type perr struct {
	kind error
	off  int
	msg  string
}

func errAt(kind error, off int, format string, args ...any) *perr {
	return &perr{kind: kind, off: off, msg: fmt.Sprintf(format, args...)}
}

func (e *perr) toError(pattern string) error {
	if e.off < 0 {
		return newError(e.kind, "URL pattern %s: %s", clip.Quote(pattern), e.msg)
	}
	return newError(e.kind, "URL pattern %s at offset %d: %s", clip.Quote(pattern), e.off, e.msg)
}

// newError is the package's error of kind, with a message for the user.
var newError = kinderr.New

func firstInvalidUTF8(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(s)
}

// quoteText quotes fixed text for a message, cut short like the pattern.
func quoteText(s string) string { return clip.Quote(s) }
