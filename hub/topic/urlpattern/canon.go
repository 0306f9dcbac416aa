package urlpattern

import (
	"fmt"
	"strconv"
	"strings"
)

// This file canonicalizes fixed pattern text ("Encoding callbacks", URL
// Pattern #canon-encoding-callbacks), so that it compares equal to the
// canonical components the URL parser makes of inputs (url.go). The
// standard runs the URL parser on each piece of text; these functions do
// the same for the cases a constructor string can produce, and reject text
// the URL parser would silently cut or rewrite.

// component is one compiled component of a pattern.
type component struct {
	pattern string // normalized pattern string
	m       matcher
}

// The commonest components, shared by every pattern that has them: a
// pattern holds subscriptions for as long as they last, so its size is
// multiplied by their number.
var (
	anyComponent   = &component{pattern: "*", m: matcher{kind: matchAny}}
	emptyComponent = &component{pattern: "", m: matcher{kind: matchExact}}
)

// compiled is a compiled component with what the pattern's limits need to
// know about it.
type compiled struct {
	comp      *component
	groups    int  // groups in the text (the caller counts only the pattern's)
	reSize    int  // RE2 instructions, if it compiled to a regexp
	hasRegexp bool // whether it has a regexp group
}

// parseComponent parses the text s of component c, which starts at byte
// off of the pattern. off is -1 for text the pattern does not have, such as
// a default, and less than the offset of the pattern's text in s when s
// starts with base URL text (ParseWithBase), so that errors in the
// pattern's text point into the pattern. special says whether the protocol
// can match a special scheme, which decides how a pathname is read.
func parseComponent(c Component, s string, off int, special bool) ([]part, options, int, *perr) {
	enc, opts := componentEncoder(c, s, special)
	parts, groups, err := parsePatternString(s, off, opts, enc)
	return parts, opts, groups, err
}

// compileComponent is "compile a component" (#urlpattern-internals).
func compileComponent(c Component, s string, off int, special bool) (compiled, *perr) {
	parts, opts, groups, err := parseComponent(c, s, off, special)
	if err != nil {
		return compiled{}, err
	}
	m, size, err := newMatcher(parts, opts)
	if err != nil {
		if err.off < 0 {
			err.off = off
		}
		return compiled{}, err
	}
	cc := compiled{reSize: size, groups: groups}
	for _, pt := range parts {
		cc.hasRegexp = cc.hasRegexp || pt.typ == partRegexp
	}
	switch pattern := generatePatternString(parts, opts); {
	case m.kind == matchAny && pattern == "*":
		cc.comp = anyComponent
	case m.kind == matchExact && m.prefix == "":
		cc.comp = emptyComponent
	default:
		cc.comp = &component{pattern: pattern, m: m}
	}
	return cc, nil
}

func componentEncoder(c Component, s string, special bool) (encoder, options) {
	switch c {
	case Protocol:
		return encodeProtocol, defaultOptions
	case Username, Password:
		return encodeUserinfo, defaultOptions
	case Hostname:
		if isIPv6Pattern(s) {
			return encodeIPv6Hostname, hostnameOptions
		}
		return encodeHostname, hostnameOptions
	case Port:
		return encodePort, defaultOptions
	case Pathname:
		if special {
			return encodePathname, pathnameOptions
		}
		return encodeOpaquePathname, defaultOptions
	case Search:
		return encodeSearch, defaultOptions
	}
	return encodeHash, defaultOptions
}

// textErr returns an error about fixed text; the caller adds the offset.
func textErr(kind error, format string, args ...any) *perr {
	return &perr{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// isIPv6Pattern is "hostname pattern is an IPv6 address".
func isIPv6Pattern(s string) bool {
	if len(s) < 2 {
		return false
	}
	return s[0] == '[' || (s[0] == '{' || s[0] == '\\') && s[1] == '['
}

// encodeProtocol is "canonicalize a protocol": the URL parser reads the
// text followed by "://dummy.test", so the text must be a whole scheme.
func encodeProtocol(s string) (string, *perr) {
	if !isASCIIAlpha(s[0]) {
		return "", textErr(ErrSyntax, "protocol text %s is not a URL scheme, which starts with a letter", quoteText(s))
	}
	for i := 1; i < len(s); i++ {
		if !isSchemeChar(s[i]) {
			return "", textErr(ErrSyntax,
				`protocol text %s is not a URL scheme, which has only letters, digits, "+", "-" and "."`, quoteText(s))
		}
	}
	return lowerASCII(s), nil
}

// encodeUserinfo is "canonicalize a username" and "canonicalize a
// password".
func encodeUserinfo(s string) (string, *perr) {
	return percentEncode(s, &userinfoSet), nil
}

// encodeHostname is "canonicalize a hostname" for ASCII text: checked
// against the URL Standard's forbidden host code points and lower-cased as
// domain-to-ASCII lower-cases ASCII.
func encodeHostname(s string) (string, *perr) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return "", textErr(ErrUnsupported,
				"hostname text %s is not ASCII; internationalized domain names (IDNA) are not supported, write the xn-- form",
				quoteText(s))
		}
		if forbiddenHost[c] {
			return "", textErr(ErrSyntax, "hostname text %s has %q, which a hostname cannot contain", quoteText(s), c)
		}
	}
	return lowerASCII(s), nil
}

// encodeIPv6Hostname is "canonicalize an IPv6 hostname".
func encodeIPv6Hostname(s string) (string, *perr) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isHexDigit(c) && c != '[' && c != ']' && c != ':' {
			return "", textErr(ErrSyntax,
				`IPv6 hostname text %s has %q; only hexadecimal digits, ":", "[" and "]" are allowed`, quoteText(s), c)
		}
	}
	return lowerASCII(s), nil
}

// encodePort is "canonicalize a port". The URL parser stops at the first
// non-digit; such text is rejected instead.
func encodePort(s string) (string, *perr) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isASCIIDigit(s[i]) {
			return "", textErr(ErrSyntax, "port text %s is not a number", quoteText(s))
		}
		if n = n*10 + int(s[i]-'0'); n > 65535 {
			return "", textErr(ErrSyntax, "port %s is above 65535", quoteText(s))
		}
	}
	return strconv.Itoa(n), nil
}

// encodePathname is "canonicalize a pathname": the URL parser's path state
// with "/" as the only separator (the dummy URL it uses has no special
// scheme). Text not starting with "/" gets "/-" in front, so that its first
// segment is neither made absolute nor taken for a dot segment, and loses
// it after.
func encodePathname(s string) (string, *perr) {
	if s[0] == '/' {
		return canonPath(s[1:], false), nil
	}
	out := canonPath("-"+s, false)
	if !strings.HasPrefix(out, "/-") {
		// "-a/../.." climbs above the text's start; the standard would
		// cut off part of the result.
		return "", textErr(ErrSyntax, `pathname text %s has more ".." segments than segments before them`, quoteText(s))
	}
	return out[2:], nil
}

// encodeOpaquePathname is "canonicalize an opaque pathname". An opaque
// path ends at "?" or "#", which the URL parser would cut the text at;
// such text is rejected instead.
func encodeOpaquePathname(s string) (string, *perr) {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return "", textErr(ErrSyntax, `pathname text %s has %q, which ends a path that does not start with "/"`,
			quoteText(s), s[i])
	}
	return percentEncode(s, &c0ControlSet), nil
}

// encodeSearch is "canonicalize a search". The dummy URL the standard uses
// has no special scheme, so the query set applies, not the special-query
// set (which also encodes "'").
func encodeSearch(s string) (string, *perr) {
	return percentEncode(s, &querySet), nil
}

// encodeHash is "canonicalize a hash".
func encodeHash(s string) (string, *perr) {
	return percentEncode(s, &fragmentSet), nil
}
