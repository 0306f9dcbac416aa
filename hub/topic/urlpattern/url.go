package urlpattern

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file parses inputs: the subset of the URL Standard's basic URL
// parser (https://url.spec.whatwg.org/#concept-basic-url-parser) that an
// absolute, non-file URL without a base needs, producing the canonical
// component strings the "match" algorithm (URL Pattern #high-level-operations) tests. Where
// the input is already canonical, the components are substrings of it and
// nothing is allocated.

// url holds an input's components, indexed by Component.
type url struct {
	c [numComponents]string
	// opaque tells an opaque path ("urn:x") from the empty path of a
	// URL with a host ("foo://x"), which serialize the same.
	opaque bool
}

// appendKey appends the IndexKey of u to b.
func (u *url) appendKey(b []byte) []byte {
	b = append(b, u.c[Protocol]...)
	b = append(b, "://"...)
	b = append(b, u.c[Hostname]...)
	if u.c[Port] != "" {
		b = append(append(b, ':'), u.c[Port]...)
	}
	b = append(b, u.c[Pathname]...)
	b = append(append(b, '?'), u.c[Search]...)
	return append(append(b, '#'), u.c[Hash]...)
}

// parseURL parses s into u, reporting whether it is an absolute URL this
// package can canonicalize as the URL Standard does.
func parseURL(s string, u *url) bool { return parseInput(s, nil, u) }

// parseInput parses s into u as the basic URL parser does with base as the
// base URL (none if nil), reporting whether the result is a URL this
// package can canonicalize as the URL Standard does.
func parseInput(s string, base *Base, u *url) bool {
	*u = url{}
	if !utf8.ValidString(s) {
		return false
	}
	s = trimInput(s)

	// Scheme. Without one (the scheme state starts over in the no scheme
	// state), s is a relative reference: "/x", "x", "?q", "#h", "//host/x",
	// and also "1a:b" or "a b:c", whose ":" does not end a scheme.
	i := 0
	if s != "" && isASCIIAlpha(s[0]) {
		i = 1
		for i < len(s) && isSchemeChar(s[i]) {
			i++
		}
	}
	if i == 0 || i == len(s) || s[i] != ':' {
		if base == nil {
			return false
		}
		return resolve(s, base, u)
	}
	scheme := lowerASCII(s[:i])
	rest := s[i+1:]
	port, special := defaultPort(scheme)
	if scheme == "file" {
		return false // file URLs have rules of their own; not supported
	}
	if special && base != nil && scheme == base.u.c[Protocol] && !strings.HasPrefix(rest, "//") {
		// The special relative or authority state: "https:x" against an
		// https base is the relative reference "x", not the host x.
		return resolve(rest, base, u)
	}
	u.c[Protocol] = scheme

	// Authority.
	hasAuthority := special
	if special {
		rest = trimSlashes(rest)
	} else if strings.HasPrefix(rest, "//") {
		rest, hasAuthority = rest[2:], true
	}
	return parseHierarchical(rest, special, hasAuthority, port, u)
}

// trimInput drops what the URL parser ignores: leading and trailing C0
// controls and spaces, and tabs and newlines anywhere.
func trimInput(s string) string {
	for len(s) > 0 && s[0] <= ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] <= ' ' {
		s = s[:len(s)-1]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\t' || c == '\n' || c == '\r' {
			return strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
		}
	}
	return s
}

// trimSlashes drops the leading "/" and "\" that a special URL's authority
// ignores.
func trimSlashes(s string) string {
	for len(s) > 0 && (s[0] == '/' || s[0] == '\\') {
		s = s[1:]
	}
	return s
}

// parseHierarchical parses what follows the scheme and, if hasAuthority,
// the "//" before the authority: authority, path, query and fragment.
// defPort is the scheme's default port.
func parseHierarchical(rest string, special, hasAuthority bool, defPort string, u *url) bool {
	if hasAuthority {
		end := 0
		for end < len(rest) && !authorityEnd(rest[end], special) {
			end++
		}
		if !parseAuthority(rest[:end], special, defPort, u) {
			return false
		}
		rest = rest[end:]
	}

	// Path, query and fragment.
	pathEnd := pathEnd(rest)
	p := rest[:pathEnd]
	switch {
	case hasAuthority || strings.HasPrefix(p, "/"):
		u.c[Pathname] = parsePath(p, special)
	default:
		// An opaque path, as in "urn:isbn:1234". A space right before
		// the query or fragment is encoded, so it is not lost.
		u.opaque = true
		if pathEnd < len(rest) && strings.HasSuffix(p, " ") {
			u.c[Pathname] = percentEncode(p[:len(p)-1], &c0ControlSet) + "%20"
		} else {
			u.c[Pathname] = percentEncode(p, &c0ControlSet)
		}
	}
	parseQueryFragment(rest[pathEnd:], special, u)
	return true
}

// pathEnd returns the index of the first "?" or "#" in s, or len(s).
func pathEnd(s string) int {
	i := 0
	for i < len(s) && s[i] != '?' && s[i] != '#' {
		i++
	}
	return i
}

// parseQueryFragment parses rest, which is empty or starts with "?" or
// "#", into u's search and hash.
func parseQueryFragment(rest string, special bool, u *url) {
	if strings.HasPrefix(rest, "?") {
		q := rest[1:]
		if j := strings.IndexByte(q, '#'); j >= 0 {
			q, rest = q[:j], q[j:]
		} else {
			rest = ""
		}
		set := &querySet
		if special {
			set = &specialQuerySet
		}
		u.c[Search] = percentEncode(q, set)
	}
	if strings.HasPrefix(rest, "#") {
		u.c[Hash] = percentEncode(rest[1:], &fragmentSet)
	}
}

// resolve parses the relative reference s against b into u: the URL
// Standard's relative state and the states it leads to. Every component
// the reference leaves out is b's, up to the first one it gives.
func resolve(s string, b *Base, u *url) bool {
	u.c[Protocol] = b.u.c[Protocol]
	if b.opaque {
		// Only a fragment resolves against an opaque path ("urn:x").
		if !strings.HasPrefix(s, "#") {
			return false
		}
		u.c[Pathname], u.c[Search] = b.u.c[Pathname], b.u.c[Search]
		parseQueryFragment(s, b.special, u)
		return true
	}
	isSep := func(c byte) bool { return c == '/' || b.special && c == '\\' }
	if len(s) >= 2 && isSep(s[0]) && isSep(s[1]) {
		// "//host/x": a network-path reference keeps only the scheme.
		// A special URL ignores any further slashes, as it does after
		// "https:".
		s = s[2:]
		if b.special {
			s = trimSlashes(s)
		}
		return parseHierarchical(s, b.special, true, b.defPort, u)
	}
	u.c[Username], u.c[Password] = b.u.c[Username], b.u.c[Password]
	u.c[Hostname], u.c[Port] = b.u.c[Hostname], b.u.c[Port]
	switch {
	case s != "" && isSep(s[0]):
		// "/x": a path-absolute reference keeps the authority.
	case s == "" || s[0] == '?' || s[0] == '#':
		// "?q", "#h" or nothing: the base's path, and its query unless
		// the reference has one. The fragment is never the base's.
		u.c[Pathname], u.c[Search] = b.u.c[Pathname], b.u.c[Search]
		parseQueryFragment(s, b.special, u)
		return true
	default:
		// "x": a path-relative reference replaces the base path's last
		// segment. Joining the strings and running the path state over
		// them is the same as the URL Standard's shortening the base's
		// segment list and appending to it, because the base's path is
		// canonical: it has no dot segments and nothing left to encode.
		// This is the one kind of reference that costs an allocation
		// even when it is canonical.
		end := pathEnd(s)
		u.c[Pathname] = parsePath(b.dir+s[:end], b.special)
		parseQueryFragment(s[end:], b.special, u)
		return true
	}
	end := pathEnd(s)
	u.c[Pathname] = parsePath(s[:end], b.special)
	parseQueryFragment(s[end:], b.special, u)
	return true
}

// authorityEnd reports whether c ends the authority.
func authorityEnd(c byte, special bool) bool {
	return c == '/' || c == '?' || c == '#' || special && c == '\\'
}

// parseAuthority parses userinfo, host and port (the authority, host and
// port states) into u. defPort is the scheme's default port.
func parseAuthority(a string, special bool, defPort string, u *url) bool {
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		user, pass, _ := strings.Cut(a[:at], ":")
		u.c[Username] = percentEncode(user, &userinfoSet)
		u.c[Password] = percentEncode(pass, &userinfoSet)
		a = a[at+1:]
		if a == "" {
			return false
		}
	}
	host, port := a, ""
	inBrackets := false
	for i := 0; i < len(a); i++ {
		switch a[i] {
		case '[':
			inBrackets = true
		case ']':
			inBrackets = false
		case ':':
			if !inBrackets {
				host, port = a[:i], a[i+1:]
				if host == "" {
					return false
				}
				i = len(a)
			}
		}
	}
	if special && host == "" {
		return false
	}
	h, ok := parseHost(host, special)
	if !ok {
		return false
	}
	u.c[Hostname] = h

	// Port: digits only, at most 65535, without leading zeros, and empty
	// when it is the scheme's default.
	for i := 0; i < len(port); i++ {
		if !isASCIIDigit(port[i]) {
			return false
		}
	}
	if t := strings.TrimLeft(port, "0"); t != port {
		if t == "" && port != "" {
			t = "0"
		}
		port = t
	}
	if len(port) > 5 {
		return false
	}
	if len(port) == 5 && port > "65535" {
		return false
	}
	if port == defPort {
		port = ""
	}
	u.c[Port] = port
	return true
}

// parseHost is "host parsing" for a special (domain) or opaque host.
func parseHost(h string, special bool) (string, bool) {
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return "", false
		}
		return parseIPv6(h[1 : len(h)-1])
	}
	if !special {
		for i := 0; i < len(h); i++ {
			if forbiddenHost[h[i]] {
				return "", false
			}
		}
		// The URL Standard keeps an opaque host as written; it is
		// lower-cased here as pattern hostnames are, because Mercure makes
		// hosts case-insensitive.
		return lowerASCII(percentEncode(h, &c0ControlSet)), true
	}
	if strings.IndexByte(h, '%') >= 0 {
		h = PercentDecode(h)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 0x80 {
			return "", false // needs IDNA; not supported
		}
		if forbiddenDomain[c] {
			return "", false
		}
	}
	h = lowerASCII(h)
	if endsInNumber(h) {
		return parseIPv4(h)
	}
	return h, true
}

// endsInNumber is the URL Standard's "ends in a number checker": whether
// the last label (ignoring one trailing dot) is a number, making the host
// an IPv4 address or invalid.
func endsInNumber(h string) bool {
	h = strings.TrimSuffix(h, ".")
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	allDigits := true
	for i := 0; i < len(last); i++ {
		allDigits = allDigits && isASCIIDigit(last[i])
	}
	if allDigits {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

// parseIPv4 is the URL Standard's IPv4 parser, which accepts one to four
// parts in decimal, octal (leading 0) or hexadecimal (leading 0x), and
// serializes the address in dotted decimal.
func parseIPv4(h string) (string, bool) {
	parts := strings.Split(strings.TrimSuffix(h, "."), ".")
	if len(parts) > 4 {
		return "", false
	}
	var nums [4]uint64
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok || (i < len(parts)-1 && n > 255) {
			return "", false
		}
		nums[i] = n
	}
	last := nums[len(parts)-1]
	if last >= 1<<(8*(5-len(parts))) {
		return "", false
	}
	addr := last
	for i := 0; i < len(parts)-1; i++ {
		addr += nums[i] << (8 * (3 - i))
	}
	b := make([]byte, 0, 15)
	for i := 3; i >= 0; i-- {
		b = strconv.AppendUint(b, addr>>(8*i)&0xff, 10)
		if i > 0 {
			b = append(b, '.')
		}
	}
	return string(b), true
}

// parseIPv4Number parses one part of an IPv4 address. Values above 2^32
// are reported as 2^32, which no check accepts.
func parseIPv4Number(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		p, base = p[2:], 16
	case len(p) >= 2 && p[0] == '0':
		p, base = p[1:], 8
	}
	var n uint64
	for i := 0; i < len(p); i++ {
		c := p[i]
		var d uint64
		switch {
		case isASCIIDigit(c):
			d = uint64(c - '0')
		case 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		if n = n*base + d; n > 1<<32 {
			n = 1 << 32
		}
	}
	return n, true
}

// parseIPv6 parses the text between an IPv6 host's brackets and serializes
// it as the URL Standard does: lower-case hexadecimal pieces, the first
// longest run of two or more zero pieces compressed to "::", and an
// embedded IPv4 address written as two pieces.
func parseIPv6(s string) (string, bool) {
	if strings.IndexByte(s, '%') >= 0 || !strings.Contains(s, ":") {
		return "", false // zones are not URL syntax; neither is IPv4 in brackets
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return "", false
	}
	b := a.As16()
	var pieces [8]uint16
	for i := range pieces {
		pieces[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	start, length := -1, 1
	for i := 0; i < 8; {
		if pieces[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && pieces[j] == 0 {
			j++
		}
		if j-i > length {
			start, length = i, j-i
		}
		i = j
	}
	out := make([]byte, 0, 41)
	out = append(out, '[')
	for i := 0; i < 8; i++ {
		if i == start {
			if i == 0 {
				out = append(out, ':')
			}
			out = append(out, ':')
			i += length - 1
			continue
		}
		out = strconv.AppendUint(out, uint64(pieces[i]), 16)
		if i < 7 {
			out = append(out, ':')
		}
	}
	return string(append(out, ']')), true
}

// parsePath is the path start and path states for a path that is not
// opaque: segments split at "/" (and "\" for special URLs), percent-encoded,
// with dot segments applied. p is the path as it appears in the URL.
func parsePath(p string, special bool) string {
	if p == "" {
		if special {
			return "/"
		}
		return ""
	}
	if !pathNeedsWork(p, special) {
		return p
	}
	if p[0] == '/' || special && p[0] == '\\' {
		p = p[1:]
	}
	return canonPath(p, special)
}

// pathNeedsWork reports whether canonPath would change p, a path starting
// with "/": whether it has a backslash separator, a dot segment or a byte
// to percent-encode.
func pathNeedsWork(p string, special bool) bool {
	if p[0] != '/' {
		return true
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			if pathSet[c] || special && c == '\\' {
				return true
			}
			if c != '/' {
				continue
			}
		}
		if seg := p[start:i]; seg != "" && (seg[0] == '.' || seg[0] == '%') && (isSingleDot(seg) || isDoubleDot(seg)) {
			return true
		}
		start = i + 1
	}
	return false
}

// canonPath runs the URL Standard's path state over p, whose leading
// separator has been consumed, and serializes the path.
func canonPath(p string, special bool) string {
	var segs []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' && !(special && p[i] == '\\') {
			continue
		}
		seg := percentEncode(p[start:i], &pathSet)
		last := i == len(p)
		switch {
		case isDoubleDot(seg):
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			if last {
				segs = append(segs, "")
			}
		case isSingleDot(seg):
			if last {
				segs = append(segs, "")
			}
		default:
			segs = append(segs, seg)
		}
		start = i + 1
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	return b.String()
}

func isSingleDot(s string) bool {
	return s == "." || strings.EqualFold(s, "%2e")
}

func isDoubleDot(s string) bool {
	switch len(s) {
	case 2:
		return s == ".."
	case 4:
		return strings.EqualFold(s, ".%2e") || strings.EqualFold(s, "%2e.")
	case 6:
		return strings.EqualFold(s, "%2e%2e")
	}
	return false
}

// Percent-encode sets of the URL Standard, as byte tables. Every byte of a
// multi-byte UTF-8 sequence is above 0x7E and so in every set.
var (
	c0ControlSet    = byteSet(func(c byte) bool { return c < 0x20 || c > 0x7e })
	fragmentSet     = byteSet(func(c byte) bool { return c0ControlSet[c] || strings.IndexByte(" \"<>`", c) >= 0 })
	querySet        = byteSet(func(c byte) bool { return c0ControlSet[c] || strings.IndexByte(" \"#<>", c) >= 0 })
	specialQuerySet = byteSet(func(c byte) bool { return querySet[c] || c == '\'' })
	pathSet         = byteSet(func(c byte) bool { return querySet[c] || strings.IndexByte("?^`{}", c) >= 0 })
	userinfoSet     = byteSet(func(c byte) bool { return pathSet[c] || strings.IndexByte("/:;=@[\\]^|", c) >= 0 })

	// forbiddenHost holds the forbidden host code points, which no host
	// may contain; forbiddenDomain adds those a domain may not contain.
	forbiddenHost   = byteSet(func(c byte) bool { return strings.IndexByte("\x00\t\n\r #/:<>?@[\\]^|", c) >= 0 })
	forbiddenDomain = byteSet(func(c byte) bool { return forbiddenHost[c] || c <= 0x1f || c == '%' || c == 0x7f })
)

func byteSet(in func(byte) bool) (t [256]bool) {
	for c := range 256 {
		t[c] = in(byte(c))
	}
	return t
}

// percentEncode is "UTF-8 percent-encode" of s with set. It returns s
// itself when nothing needs encoding.
func percentEncode(s string, set *[256]bool) string {
	i := 0
	for i < len(s) && !set[s[i]] {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if set[c] {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// PercentDecode is the URL standard's percent-decode: it decodes %XX
// escapes, leaving a % not followed by two hexadecimal digits as it is.
// The Mercure front door decodes form data with it.
func PercentDecode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isHexDigit(c byte) bool {
	return isASCIIDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isASCIIAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isSchemeChar(c byte) bool {
	return isASCIIAlpha(c) || isASCIIDigit(c) || c == '+' || c == '-' || c == '.'
}

// lowerASCII lower-cases ASCII letters, returning s itself when it has
// none in upper case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
