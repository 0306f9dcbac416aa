package urlpattern

import (
	"strconv"
	"strings"
)

// This file parses a component's pattern string into parts ("Parsing
// pattern strings", URL Pattern #parsing-pattern-strings) and writes the normalized pattern
// string back (#converting-part-lists-to-pattern-strings).

type partType uint8

const (
	partFixed    partType = iota // fixed text
	partRegexp                   // a group with a custom regexp
	partSegment                  // a group matching up to the next delimiter, like :id
	partWildcard                 // a group matching anything, like *
)

type modifier uint8

const (
	modNone       modifier = iota
	modOptional            // ?
	modZeroOrMore          // *
	modOneOrMore           // +
)

func (m modifier) String() string {
	switch m {
	case modOptional:
		return "?"
	case modZeroOrMore:
		return "*"
	case modOneOrMore:
		return "+"
	}
	return ""
}

// part is one piece of a pattern string: fixed text, or a group with fixed
// prefix and suffix text, either with a modifier.
type part struct {
	typ    partType
	mod    modifier
	value  string // the fixed text (canonicalized), or a regexp's source
	re     string // partRegexp: the regexp translated to Go syntax
	name   string
	prefix string // canonicalized
	suffix string // canonicalized
}

// options are a component's pattern options (#options-header): the
// delimiter a segment group stops at, and the prefix character that
// becomes optional with the group after it. 0 means none.
type options struct {
	delim  byte
	prefix byte
}

var (
	defaultOptions  = options{}
	hostnameOptions = options{delim: '.'}
	pathnameOptions = options{delim: '/', prefix: '/'}
)

// segmentRegexp is "generate a segment wildcard regexp": the source a
// regexp group must have to be a segment group, such as [^\/]+? in a
// pathname.
func (o options) segmentRegexp() string {
	if o.delim == 0 {
		return "[^]+?"
	}
	return "[^" + escapeRegexpString(string(o.delim)) + "]+?"
}

// encoder canonicalizes a piece of fixed text of a component ("encoding
// callback", #canon-encoding-callbacks).
// The error's offset is left for the caller to fill in.
type encoder func(s string) (string, *perr)

// patternParser is the "pattern parser" struct.
type patternParser struct {
	toks        []token
	enc         encoder
	opts        options
	segRegexp   string
	base        int // offset of the pattern string in the whole pattern
	parts       []part
	pending     string
	pendingOff  int
	index       int
	nextNumeric int
	groups      int
}

// parsePatternString is "parse a pattern string". base is the offset of s
// in the pattern, for error messages.
func parsePatternString(s string, base int, opts options, enc encoder) ([]part, int, *perr) {
	toks, err := tokenize(s, false)
	if err != nil {
		err.off += base
		return nil, 0, err
	}
	p := &patternParser{toks: toks, enc: enc, opts: opts, segRegexp: opts.segmentRegexp(), base: base}
	for p.index < len(p.toks) {
		charTok := p.tryConsume(tokChar)
		nameTok := p.tryConsume(tokName)
		reTok := p.tryConsumeRegexpOrWildcard(nameTok)
		if nameTok != nil || reTok != nil {
			prefix := ""
			if charTok != nil {
				prefix = charTok.value
			}
			if prefix != "" && (p.opts.prefix == 0 || prefix != string(p.opts.prefix)) {
				p.appendPending(prefix, charTok.index)
				prefix = ""
			}
			if err := p.flushPending(); err != nil {
				return nil, 0, err
			}
			mod := p.tryConsumeModifier()
			off := nameTok
			if off == nil {
				off = reTok
			}
			if err := p.addPart(prefix, nameTok, reTok, "", mod, off.index); err != nil {
				return nil, 0, err
			}
			continue
		}
		fixed := charTok
		if fixed == nil {
			fixed = p.tryConsume(tokEscapedChar)
		}
		if fixed != nil {
			p.appendPending(fixed.value, fixed.index)
			continue
		}
		if open := p.tryConsume(tokOpen); open != nil {
			prefix := p.consumeText()
			nameTok = p.tryConsume(tokName)
			reTok = p.tryConsumeRegexpOrWildcard(nameTok)
			suffix := p.consumeText()
			if p.toks[p.index].typ != tokClose {
				return nil, 0, p.unexpected(open)
			}
			p.index++
			mod := p.tryConsumeModifier()
			if err := p.addPart(prefix, nameTok, reTok, suffix, mod, open.index); err != nil {
				return nil, 0, err
			}
			continue
		}
		if err := p.flushPending(); err != nil {
			return nil, 0, err
		}
		if p.toks[p.index].typ != tokEnd {
			return nil, 0, p.unexpected(nil)
		}
		p.index++
	}
	return p.parts, p.groups, nil
}

// unexpected describes the token at p.index, which does not fit; open is
// the group being parsed, if any.
func (p *patternParser) unexpected(open *token) *perr {
	t := p.toks[p.index]
	off := p.base + t.index
	switch {
	case t.typ == tokEnd && open != nil:
		return errAt(ErrSyntax, p.base+open.index, `the "{" group is not closed`)
	case t.typ == tokOpen:
		return errAt(ErrSyntax, off, `"{" groups cannot be nested`)
	case t.typ == tokClose:
		return errAt(ErrSyntax, off, `"}" has no matching "{"`)
	case t.typ == tokOtherModifier || t.typ == tokAsterisk:
		return errAt(ErrSyntax, off,
			"modifier %q does not follow a group; to make fixed text optional or repeated, put it in braces, as in {text}%s",
			t.value, t.value)
	case t.typ == tokName || t.typ == tokRegexp:
		return errAt(ErrSyntax, off, "a group cannot follow another inside a {...} group")
	}
	return errAt(ErrSyntax, off, "unexpected %q", t.value)
}

func (p *patternParser) tryConsume(typ tokenType) *token {
	if p.toks[p.index].typ != typ {
		return nil
	}
	p.index++
	return &p.toks[p.index-1]
}

func (p *patternParser) tryConsumeModifier() *token {
	if t := p.tryConsume(tokOtherModifier); t != nil {
		return t
	}
	return p.tryConsume(tokAsterisk)
}

func (p *patternParser) tryConsumeRegexpOrWildcard(name *token) *token {
	t := p.tryConsume(tokRegexp)
	if name == nil && t == nil {
		t = p.tryConsume(tokAsterisk)
	}
	return t
}

func (p *patternParser) consumeText() string {
	var b strings.Builder
	for {
		t := p.tryConsume(tokChar)
		if t == nil {
			t = p.tryConsume(tokEscapedChar)
		}
		if t == nil {
			return b.String()
		}
		b.WriteString(t.value)
	}
}

func (p *patternParser) appendPending(s string, off int) {
	if p.pending == "" {
		p.pendingOff = off
	}
	p.pending += s
}

func (p *patternParser) encode(s string, off int) (string, *perr) {
	if s == "" {
		return "", nil
	}
	v, err := p.enc(s)
	if err != nil {
		err.off = p.base + off
		return "", err
	}
	return v, nil
}

func (p *patternParser) flushPending() *perr {
	if p.pending == "" {
		return nil
	}
	v, err := p.encode(p.pending, p.pendingOff)
	if err != nil {
		return err
	}
	p.pending = ""
	p.parts = append(p.parts, part{typ: partFixed, value: v})
	return nil
}

// addPart is "add a part"; off is where the part starts, for errors.
func (p *patternParser) addPart(prefix string, nameTok, reTok *token, suffix string, modTok *token, off int) *perr {
	mod := modNone
	if modTok != nil {
		switch modTok.value {
		case "?":
			mod = modOptional
		case "*":
			mod = modZeroOrMore
		case "+":
			mod = modOneOrMore
		}
	}
	if nameTok == nil && reTok == nil && mod == modNone {
		// "{foo}": plain text, joined to the text around it.
		p.appendPending(prefix, off)
		return nil
	}
	if err := p.flushPending(); err != nil {
		return err
	}
	if nameTok == nil && reTok == nil {
		// "{foo}?": optional or repeated text.
		if prefix == "" {
			return nil
		}
		v, err := p.encode(prefix, off)
		if err != nil {
			return err
		}
		p.parts = append(p.parts, part{typ: partFixed, value: v, mod: mod})
		p.groups++
		return nil
	}
	pt := part{typ: partRegexp, mod: mod}
	switch {
	case reTok == nil:
		pt.typ = partSegment
	case reTok.typ == tokAsterisk:
		pt.typ = partWildcard
	case reTok.value == p.segRegexp:
		pt.typ = partSegment
	case reTok.value == ".*":
		pt.typ = partWildcard
	default:
		pt.value = reTok.value
		re, err := translateRegexp(reTok.value)
		if err != nil {
			err.off += p.base + reTok.index + 1
			return err
		}
		pt.re = re
	}
	if nameTok != nil {
		pt.name = nameTok.value
	} else {
		pt.name = strconv.Itoa(p.nextNumeric)
		p.nextNumeric++
	}
	for _, q := range p.parts {
		if q.name == pt.name && q.typ != partFixed {
			return errAt(ErrSyntax, p.base+off, "group name %q is used twice", pt.name)
		}
	}
	var err *perr
	if pt.prefix, err = p.encode(prefix, off); err != nil {
		return err
	}
	if pt.suffix, err = p.encode(suffix, off); err != nil {
		return err
	}
	p.parts = append(p.parts, pt)
	p.groups++
	return nil
}

// escapeRegexpString is "escape a regexp string".
func escapeRegexpString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`.+*?^${}()[]|/\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapePatternString is "escape a pattern string".
func escapePatternString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`+*?:{}()\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// generatePatternString is "generate a pattern string": the shortest
// pattern string for parts.
func generatePatternString(parts []part, opts options) string {
	var b strings.Builder
	for i := range parts {
		pt := &parts[i]
		var prev, next *part
		if i > 0 {
			prev = &parts[i-1]
		}
		if i < len(parts)-1 {
			next = &parts[i+1]
		}
		if pt.typ == partFixed {
			if pt.mod == modNone {
				b.WriteString(escapePatternString(pt.value))
				continue
			}
			b.WriteString("{" + escapePatternString(pt.value) + "}" + pt.mod.String())
			continue
		}
		customName := !isASCIIDigit(pt.name[0])
		prefixIsOpt := opts.prefix != 0 && pt.prefix == string(opts.prefix)
		needsGrouping := pt.suffix != "" || (pt.prefix != "" && !prefixIsOpt)
		if !needsGrouping && customName && pt.typ == partSegment && pt.mod == modNone &&
			next != nil && next.prefix == "" && next.suffix == "" {
			if next.typ == partFixed {
				r := firstRune(next.value)
				needsGrouping = isNameRune(r, false)
			} else {
				needsGrouping = isASCIIDigit(next.name[0])
			}
		}
		if !needsGrouping && pt.prefix == "" && prev != nil && prev.typ == partFixed &&
			opts.prefix != 0 && prev.value != "" && prev.value[len(prev.value)-1] == opts.prefix {
			needsGrouping = true
		}
		if needsGrouping {
			b.WriteByte('{')
		}
		b.WriteString(escapePatternString(pt.prefix))
		if customName {
			b.WriteString(":" + pt.name)
		}
		switch {
		case pt.typ == partRegexp:
			b.WriteString("(" + pt.value + ")")
		case pt.typ == partSegment && !customName:
			b.WriteString("(" + opts.segmentRegexp() + ")")
		case pt.typ == partWildcard:
			if !customName && (prev == nil || prev.typ == partFixed || prev.mod != modNone ||
				needsGrouping || pt.prefix != "") {
				b.WriteByte('*')
			} else {
				b.WriteString("(.*)")
			}
		}
		if pt.typ == partSegment && customName && pt.suffix != "" && isNameRune(firstRune(pt.suffix), false) {
			b.WriteByte('\\')
		}
		b.WriteString(escapePatternString(pt.suffix))
		if needsGrouping {
			b.WriteByte('}')
		}
		b.WriteString(pt.mod.String())
	}
	return b.String()
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return -1
}

func isASCIIDigit(c byte) bool { return '0' <= c && c <= '9' }
