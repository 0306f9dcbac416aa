package urlpattern

import (
	"fmt"
	"strings"
)

// This file splits a constructor string into component pattern strings
// (URL Pattern #constructor-string-parsing) and builds the Pattern from
// them ("create", #high-level-operations).

// ctorState is the constructor string parser's state.
type ctorState uint8

const (
	stateInit ctorState = iota
	stateProtocol
	stateAuthority
	stateUsername
	statePassword
	stateHostname
	statePort
	statePathname
	stateSearch
	stateHash
	stateDone
)

// stateComponent maps the states that produce a component to it; the
// others map to -1.
var stateComponent = [...]Component{
	stateInit:      -1,
	stateProtocol:  Protocol,
	stateAuthority: -1,
	stateUsername:  Username,
	statePassword:  Password,
	stateHostname:  Hostname,
	statePort:      Port,
	statePathname:  Pathname,
	stateSearch:    Search,
	stateHash:      Hash,
	stateDone:      -1,
}

// ctorResult is the constructor string parser's result: the components the
// string gives, with the byte offset of each in the pattern.
type ctorResult struct {
	val [numComponents]string
	off [numComponents]int
	set [numComponents]bool
	// prefix is the length of base URL text put before the pattern's
	// text of a component: a relative pathname's base directory.
	prefix [numComponents]int
}

func (r *ctorResult) put(c Component, val string, off int) {
	r.val[c], r.off[c], r.set[c] = val, off, true
}

type ctorParser struct {
	input           string
	toks            []token
	res             ctorResult
	componentStart  int
	tokenIndex      int
	tokenIncrement  int
	groupDepth      int
	ipv6Depth       int
	protocolSpecial bool
	state           ctorState
}

// parseConstructorString is "parse a constructor string".
func parseConstructorString(s string) (*ctorResult, *perr) {
	toks, _ := tokenize(s, true) // lenient tokenizing cannot fail
	p := &ctorParser{input: s, toks: toks}
	for p.tokenIndex < len(p.toks) {
		p.tokenIncrement = 1
		if p.toks[p.tokenIndex].typ == tokEnd {
			if p.state == stateInit {
				// No protocol: a relative pattern. Find where it starts,
				// so the caller can say which.
				p.rewind()
				switch {
				case p.isHashPrefix():
					p.changeState(stateHash, 1)
				case p.isSearchPrefix():
					p.changeState(stateSearch, 1)
				default:
					p.changeState(statePathname, 0)
				}
				p.tokenIndex += p.tokenIncrement
				continue
			}
			if p.state == stateAuthority {
				// No "@": no username or password.
				p.rewindAndSetState(stateHostname)
				p.tokenIndex += p.tokenIncrement
				continue
			}
			p.changeState(stateDone, 0)
			break
		}
		// Component separators inside {...} are not separators.
		if p.toks[p.tokenIndex].typ == tokOpen {
			p.groupDepth++
			p.tokenIndex += p.tokenIncrement
			continue
		}
		if p.groupDepth > 0 {
			if p.toks[p.tokenIndex].typ == tokClose {
				p.groupDepth--
			} else {
				p.tokenIndex += p.tokenIncrement
				continue
			}
		}
		switch p.state {
		case stateInit:
			if p.isNonSpecial(p.tokenIndex, ":") {
				p.rewindAndSetState(stateProtocol)
			}
		case stateProtocol:
			if p.isNonSpecial(p.tokenIndex, ":") {
				if err := p.computeProtocolSpecial(); err != nil {
					return nil, err
				}
				next, skip := statePathname, 1
				if p.isNonSpecial(p.tokenIndex+1, "/") && p.isNonSpecial(p.tokenIndex+2, "/") {
					next, skip = stateAuthority, 3
				} else if p.protocolSpecial {
					next = stateAuthority
				}
				p.changeState(next, skip)
			}
		case stateAuthority:
			if p.isNonSpecial(p.tokenIndex, "@") {
				p.rewindAndSetState(stateUsername)
			} else if p.isNonSpecial(p.tokenIndex, "/") || p.isSearchPrefix() || p.isHashPrefix() {
				p.rewindAndSetState(stateHostname)
			}
		case stateUsername:
			if p.isNonSpecial(p.tokenIndex, ":") {
				p.changeState(statePassword, 1)
			} else if p.isNonSpecial(p.tokenIndex, "@") {
				p.changeState(stateHostname, 1)
			}
		case statePassword:
			if p.isNonSpecial(p.tokenIndex, "@") {
				p.changeState(stateHostname, 1)
			}
		case stateHostname:
			switch {
			case p.isNonSpecial(p.tokenIndex, "["):
				p.ipv6Depth++
			case p.isNonSpecial(p.tokenIndex, "]"):
				p.ipv6Depth--
			case p.isNonSpecial(p.tokenIndex, ":") && p.ipv6Depth == 0:
				p.changeState(statePort, 1)
			case p.isNonSpecial(p.tokenIndex, "/"):
				p.changeState(statePathname, 0)
			case p.isSearchPrefix():
				p.changeState(stateSearch, 1)
			case p.isHashPrefix():
				p.changeState(stateHash, 1)
			}
		case statePort:
			switch {
			case p.isNonSpecial(p.tokenIndex, "/"):
				p.changeState(statePathname, 0)
			case p.isSearchPrefix():
				p.changeState(stateSearch, 1)
			case p.isHashPrefix():
				p.changeState(stateHash, 1)
			}
		case statePathname:
			if p.isSearchPrefix() {
				p.changeState(stateSearch, 1)
			} else if p.isHashPrefix() {
				p.changeState(stateHash, 1)
			}
		case stateSearch:
			if p.isHashPrefix() {
				p.changeState(stateHash, 1)
			}
		}
		p.tokenIndex += p.tokenIncrement
	}
	// A hostname without a port means the default port: "https://a.example"
	// is one origin, and "https://a.example:*" is any port.
	if p.res.set[Hostname] && !p.res.set[Port] {
		p.res.put(Port, "", -1)
	}
	return &p.res, nil
}

func (p *ctorParser) changeState(next ctorState, skip int) {
	if c := stateComponent[p.state]; c >= 0 {
		val, off := p.componentString()
		p.res.put(c, val, off)
	}
	if p.state != stateInit && next != stateDone {
		early := p.state == stateProtocol || p.state == stateAuthority ||
			p.state == stateUsername || p.state == statePassword
		// Skipping from before the hostname to after it: the hostname is
		// empty, not a wildcard.
		if early && (next == statePort || next == statePathname || next == stateSearch || next == stateHash) &&
			!p.res.set[Hostname] {
			p.res.put(Hostname, "", -1)
		}
		// Skipping the pathname: it is the empty path, "/" for a special
		// scheme.
		if (early || p.state == stateHostname || p.state == statePort) &&
			(next == stateSearch || next == stateHash) && !p.res.set[Pathname] {
			if p.protocolSpecial {
				p.res.put(Pathname, "/", -1)
			} else {
				p.res.put(Pathname, "", -1)
			}
		}
		// Skipping the search: it is empty.
		if (early || p.state == stateHostname || p.state == statePort || p.state == statePathname) &&
			next == stateHash && !p.res.set[Search] {
			p.res.put(Search, "", -1)
		}
	}
	p.state = next
	p.tokenIndex += skip
	p.componentStart = p.tokenIndex
	p.tokenIncrement = 0
}

func (p *ctorParser) rewind() {
	p.tokenIndex = p.componentStart
	p.tokenIncrement = 0
}

func (p *ctorParser) rewindAndSetState(s ctorState) {
	p.rewind()
	p.state = s
}

// safeToken returns the token at i, or the end token past the end.
func (p *ctorParser) safeToken(i int) token {
	if i < len(p.toks) {
		return p.toks[i]
	}
	return p.toks[len(p.toks)-1]
}

// isNonSpecial reports whether the token at i is the character value
// without pattern meaning: plain, escaped or invalid.
func (p *ctorParser) isNonSpecial(i int, value string) bool {
	t := p.safeToken(i)
	if t.value != value {
		return false
	}
	return t.typ == tokChar || t.typ == tokEscapedChar || t.typ == tokInvalidChar
}

// isSearchPrefix reports whether the token starts the search: a "?" that
// is not a modifier of what precedes it.
func (p *ctorParser) isSearchPrefix() bool {
	if p.isNonSpecial(p.tokenIndex, "?") {
		return true
	}
	if p.toks[p.tokenIndex].value != "?" {
		return false
	}
	if p.tokenIndex == 0 {
		return true
	}
	switch p.safeToken(p.tokenIndex - 1).typ {
	case tokName, tokRegexp, tokClose, tokAsterisk:
		return false
	}
	return true
}

func (p *ctorParser) isHashPrefix() bool { return p.isNonSpecial(p.tokenIndex, "#") }

// componentString returns the input from the component start to the current
// token, with its byte offset.
func (p *ctorParser) componentString() (string, int) {
	start := p.safeToken(p.componentStart).index
	end := p.toks[p.tokenIndex].index
	return p.input[start:end], start
}

// computeProtocolSpecial compiles the protocol early to learn whether it
// can match a special scheme, which decides whether an authority follows
// and what an omitted pathname is.
func (p *ctorParser) computeProtocolSpecial() *perr {
	val, off := p.componentString()
	cc, err := compileComponent(Protocol, val, off, false)
	if err != nil {
		return err
	}
	p.protocolSpecial = cc.comp.m.matchesSpecialScheme()
	return nil
}

// specialSchemes are the URL Standard's special schemes with their default
// ports.
var specialSchemes = [...]struct{ scheme, port string }{
	{"ftp", "21"}, {"file", ""}, {"http", "80"}, {"https", "443"}, {"ws", "80"}, {"wss", "443"},
}

func defaultPort(scheme string) (port string, special bool) {
	for _, s := range specialSchemes {
		if s.scheme == scheme {
			return s.port, true
		}
	}
	return "", false
}

func isScheme(s string) bool {
	if !isASCIIAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isSchemeChar(s[i]) {
			return false
		}
	}
	return true
}

// build is "create" for a constructor string and a base URL (none if
// nil).
func build(s string, base *Base) (*Pattern, *perr) {
	res, err := parseConstructorString(s)
	if err != nil {
		return nil, err
	}
	if !res.set[Protocol] && base == nil {
		msg := `the pattern is relative (it has no protocol, such as "https:"), ` +
			"and there is no base URL to resolve it against"
		if i := strings.IndexByte(s, ':'); i > 0 && isScheme(s[:i]) && i+1 < len(s) && isNameRune(firstRune(s[i+1:]), true) {
			// "mailto:a@b" reads as "mailto" and a group named a.
			msg += fmt.Sprintf(`; the ":" at offset %d starts a named group, so write "\:" if it ends the protocol`, i)
		}
		return nil, errAt(ErrUnsupported, -1, "%s", msg)
	}
	// "process a URLPatternInit" for patterns: a trailing ":" of the
	// protocol and a leading "?" or "#" of the search or hash are
	// separators, not pattern text.
	if v := res.val[Protocol]; len(v) > 0 && v[len(v)-1] == ':' {
		res.val[Protocol] = v[:len(v)-1]
	}
	if v := res.val[Search]; len(v) > 0 && v[0] == '?' {
		res.val[Search], res.off[Search] = v[1:], res.off[Search]+1
	}
	if v := res.val[Hash]; len(v) > 0 && v[0] == '#' {
		res.val[Hash], res.off[Hash] = v[1:], res.off[Hash]+1
	}
	if base != nil {
		res.inherit(base)
	}
	for c := range numComponents {
		if !res.set[c] {
			res.put(c, "*", -1)
		}
	}
	if port, special := defaultPort(res.val[Protocol]); special && port != "" && res.val[Port] == port {
		res.val[Port] = ""
	}

	p := &Pattern{src: s}
	groups, size := 0, 0
	special := false
	for c := range numComponents {
		off := res.off[c]
		if off >= 0 {
			off -= res.prefix[c]
		}
		cc, err := compileComponent(c, res.val[c], off, special)
		if err != nil {
			if err.off < res.off[c] {
				// Not in the pattern's text: the error is about the
				// component as a whole.
				err.off = res.off[c]
			}
			return nil, err
		}
		if c == Protocol {
			special = cc.comp.m.matchesSpecialScheme()
		}
		p.comps[c] = cc.comp
		if res.off[c] >= 0 {
			// Only the pattern's text counts: defaults and base URL
			// text are wildcards and escaped fixed text.
			groups += cc.groups
		}
		size += cc.reSize
		p.hasRegexp = p.hasRegexp || cc.hasRegexp
	}
	if groups > MaxGroups {
		return nil, errAt(ErrTooComplex, -1, "the pattern has %d groups; the limit is %d", groups, MaxGroups)
	}
	if size > MaxRegexpSize {
		return nil, errAt(ErrTooComplex, -1,
			"the pattern's regexps compile to %d RE2 instructions; the limit is %d", size, MaxRegexpSize)
	}
	p.literal = p.computeLiteral()
	return p, nil
}

// computeLiteral builds the Literal: the components in IndexKey order, as
// long as they are fixed text, then the fixed prefix of the first one that
// is not.
func (p *Pattern) computeLiteral() string {
	var b []byte
	m := &p.comps[Protocol].m
	if !m.isExact() {
		return m.prefix
	}
	b = append(b, m.prefix...)
	b = append(b, "://"...)
	m = &p.comps[Hostname].m
	if !m.isExact() {
		return string(append(b, m.prefix...))
	}
	b = append(b, m.prefix...)
	m = &p.comps[Port].m
	if !m.isExact() {
		if m.prefix != "" { // the port is not empty, so ":" follows
			b = append(append(b, ':'), m.prefix...)
		}
		return string(b)
	}
	if m.prefix != "" {
		b = append(append(b, ':'), m.prefix...)
	}
	for _, c := range [...]Component{Pathname, Search, Hash} {
		switch c {
		case Search:
			b = append(b, '?')
		case Hash:
			b = append(b, '#')
		}
		m = &p.comps[c].m
		if !m.isExact() {
			return string(append(b, m.prefix...))
		}
		b = append(b, m.prefix...)
	}
	return string(b)
}

// inherit is the baseURL step of "process a URLPatternInit" for patterns:
// the components before the first one the constructor string gives are
// the base's, as fixed text; the base's username and password never are
// (the standard takes them only for inputs, not for patterns), so they
// stay wildcards unless given. A relative pathname is resolved against
// the base's.
func (r *ctorResult) inherit(b *Base) {
	given := r.set
	gives := func(cs ...Component) bool {
		for _, c := range cs {
			if given[c] {
				return true
			}
		}
		return false
	}
	if !gives(Protocol) {
		r.put(Protocol, escapePatternString(b.u.c[Protocol]), -1)
	}
	if !gives(Protocol, Hostname) {
		r.put(Hostname, escapePatternString(b.u.c[Hostname]), -1)
	}
	if !gives(Protocol, Hostname, Port) {
		r.put(Port, b.u.c[Port], -1)
	}
	if !gives(Protocol, Hostname, Port, Pathname) {
		r.put(Pathname, escapePatternString(b.u.c[Pathname]), -1)
	}
	if !gives(Protocol, Hostname, Port, Pathname, Search) {
		r.put(Search, escapePatternString(b.u.c[Search]), -1)
	}
	if !gives(Protocol, Hostname, Port, Pathname, Search, Hash) {
		r.put(Hash, escapePatternString(b.u.c[Hash]), -1)
	}
	// This applies to absolute patterns too, as the standard says:
	// against "https://example.com/a/b", "data\:foo" has the pathname
	// "/a/foo".
	if v := r.val[Pathname]; given[Pathname] && !b.opaque && !isAbsolutePathname(v) {
		dir := escapePatternString(b.u.c[Pathname])
		if i := strings.LastIndexByte(dir, '/'); i >= 0 {
			r.val[Pathname], r.prefix[Pathname] = dir[:i+1]+v, i+1
		}
	}
}

// isAbsolutePathname is "is an absolute pathname" for patterns: whether
// the pathname pattern starts with "/", escaped or not, or with a group
// that does.
func isAbsolutePathname(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, `\/`) || strings.HasPrefix(s, "{/")
}
