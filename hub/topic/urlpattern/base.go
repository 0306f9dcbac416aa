package urlpattern

import (
	"strings"
	"unicode/utf8"

	"github.com/ssehub/ssehub/internal/clip"
)

// This file holds base URLs: the baseURL argument of new URLPattern(input,
// baseURL) and of URLPattern.prototype.test(input, baseURL), which relative
// patterns and relative inputs are resolved against. The Mercure hub uses
// its own URL.

// Base is a parsed absolute URL that relative patterns ([ParseWithBase])
// and relative inputs ([Pattern.TestBase], [Set.MatchBase],
// [IndexKeyBase]) are resolved against. Make one with [NewBase]; the zero
// Base is not a URL. It is immutable, and safe for use by several
// goroutines at once.
type Base struct {
	src     string
	u       url    // canonical components
	special bool   // the scheme is special (http, https, ws, wss, ftp)
	opaque  bool   // the path is opaque ("urn:x"): only "#h" resolves against it
	defPort string // the scheme's default port, "" if none
	// dir is the pathname up to and including its last "/" ("/" if it
	// has none): what a path-relative input "x" is appended to.
	dir string
}

// NewBase parses s, an absolute URL such as
// "https://hub.example.com/.well-known/mercure", as the URL Standard's
// basic URL parser does (the package's input rules apply: no file URLs, no
// non-ASCII hosts). The error, if any, wraps [ErrSyntax] or
// [ErrUnsupported].
func NewBase(s string) (*Base, error) {
	var u url
	if !parseURL(s, &u) {
		return nil, baseError(s)
	}
	b := &Base{src: s, u: u, opaque: u.opaque}
	b.defPort, b.special = defaultPort(u.c[Protocol])
	if i := strings.LastIndexByte(u.c[Pathname], '/'); i >= 0 {
		b.dir = u.c[Pathname][:i+1]
	} else {
		b.dir = "/"
	}
	return b, nil
}

// baseError explains why s is not a base URL.
func baseError(s string) error {
	q := clip.Quote(s)
	if !utf8.ValidString(s) {
		return newError(ErrSyntax, "base URL %s is not valid UTF-8", q)
	}
	t := trimInput(s)
	i := 0
	if t != "" && isASCIIAlpha(t[0]) {
		i = 1
		for i < len(t) && isSchemeChar(t[i]) {
			i++
		}
	}
	switch {
	case i == 0 || i == len(t) || t[i] != ':':
		return newError(ErrSyntax, `base URL %s is not an absolute URL (it has no scheme, such as "https:")`, q)
	case strings.EqualFold(t[:i], "file"):
		return newError(ErrUnsupported, "base URL %s is a file URL, which is not supported", q)
	}
	for j := 0; j < len(t); j++ {
		if t[j] >= 0x80 || t[j] == '%' {
			// A host that decodes to non-ASCII needs IDNA. Other
			// non-ASCII text is fine, so this is only a hint.
			return newError(ErrSyntax,
				"base URL %s is not a valid URL, or its host is not ASCII (IDNA is not supported)", q)
		}
	}
	return newError(ErrSyntax, "base URL %s is not a valid URL", q)
}

// String returns the base URL as it was given to NewBase.
func (b *Base) String() string { return b.src }

// TestBase reports whether input matches p, as
// URLPattern.prototype.test(input, baseURL) does: input is parsed with the
// URL Standard's basic URL parser against base, so a relative input
// ("/books/1", "1", "?page=2", "//host/x") is resolved against it, and an
// absolute one is taken as it is (but for "https:1" against an https base,
// which the URL Standard reads as relative too). A nil base is Test.
//
// Test's cost and allocation promise holds, except that a path-relative
// input ("1", "../x") allocates one string: its path is joined to the
// base's.
func (p *Pattern) TestBase(input string, base *Base) bool {
	var u url
	if !parseInput(input, base, &u) {
		return false
	}
	return p.match(&u)
}

// IndexKeyBase is [IndexKey] for input resolved against base as
// [Pattern.TestBase] resolves it. A nil base is IndexKey.
func IndexKeyBase(input string, base *Base) (key string, ok bool) {
	var u url
	if !parseInput(input, base, &u) {
		return "", false
	}
	return string(u.appendKey(nil)), true
}
