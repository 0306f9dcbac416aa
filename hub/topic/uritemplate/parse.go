package uritemplate

import "unicode/utf8"

// operator is an expression's operator (RFC 6570 section 2.2).
type operator uint8

const (
	opSimple   operator = iota // {var}
	opReserved                 // {+var}
	opFragment                 // {#var}
	opLabel                    // {.var}
	opPath                     // {/var}
	opParam                    // {;var}
	opQuery                    // {?var}
	opCont                     // {&var}
)

// opInfo is an operator's row of the expansion table in RFC 6570
// appendix A.
type opInfo struct {
	first byte // written before the first defined variable; 0 for none
	sep   byte // written between defined variables and exploded members
	named bool // each value is written as name=value
	// ifemp reports whether an empty named value is written "name=" (? and
	// &) rather than "name" (;).
	ifemp bool
	// reserved reports whether values may hold reserved characters and
	// percent-encoded triplets unencoded (+ and #), rather than only
	// unreserved ones.
	reserved bool
}

var opInfos = [...]opInfo{
	opSimple:   {sep: ','},
	opReserved: {sep: ',', reserved: true},
	opFragment: {first: '#', sep: ',', reserved: true},
	opLabel:    {first: '.', sep: '.'},
	opPath:     {first: '/', sep: '/'},
	opParam:    {first: ';', sep: ';', named: true},
	opQuery:    {first: '?', sep: '&', named: true, ifemp: true},
	opCont:     {first: '&', sep: '&', named: true, ifemp: true},
}

// varspec is one variable of an expression (RFC 6570 section 2.3).
type varspec struct {
	name    string // as written, percent-encoded triplets included
	prefix  int    // the prefix modifier's length, 0 for none
	explode bool   // the explode modifier "*"
}

// expression is one {...} of a template.
type expression struct {
	op   operator
	vars []varspec
}

// literalASCII marks the ASCII bytes RFC 6570 section 2.1 allows in a
// literal as they are: %x21 / %x23-24 / %x26 / %x28-3B / %x3D / %x3F-5B /
// %x5D / %x5F / %x61-7A / %x7E. The rest (controls, space, " ' < > \ ^ `
// { | } and DEL) must be percent-encoded; % only starts a triplet.
var literalASCII = func() (t [utf8.RuneSelf]bool) {
	for _, r := range [][2]byte{
		{0x21, 0x21}, {0x23, 0x24}, {0x26, 0x26}, {0x28, 0x3B}, {0x3D, 0x3D},
		{0x3F, 0x5B}, {0x5D, 0x5D}, {0x5F, 0x5F}, {0x61, 0x7A}, {0x7E, 0x7E},
	} {
		for c := r[0]; c <= r[1]; c++ {
			t[c] = true
		}
	}
	return t
}()

// isIRIChar reports whether r, a non-ASCII character, is a ucschar or an
// iprivate of RFC 3987, the characters RFC 6570 allows in literals.
func isIRIChar(r rune) bool {
	switch {
	case r >= 0xA0 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFDCF: // iprivate E000-F8FF, then ucschar F900-FDCF
		return true
	case r >= 0xFDF0 && r <= 0xFFEF:
		return true
	case r >= 0x10000 && r <= 0x10FFFD:
		// Every plane but the last two noncharacters of each, and minus
		// E0000-E0FFF (tags and variation selectors).
		return r&0xFFFF < 0xFFFE && (r < 0xE0000 || r >= 0xE1000)
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isVarchar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// pctAt reports whether s[i:] starts with a percent-encoded triplet.
func pctAt(s string, i int) bool {
	return i+2 < len(s) && s[i] == '%' && isHex(s[i+1]) && isHex(s[i+2])
}

// parse parses s by the grammar of RFC 6570 section 2. With build false it
// only validates, and does not allocate.
func parse(s string, build bool) (*Template, parseError) {
	if len(s) > MaxLen {
		return nil, parseError{code: errTooLong, off: MaxLen}
	}
	var t *Template
	if build {
		t = &Template{raw: s}
	}
	nexpr, nvars := 0, 0
	litStart := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '{':
			if nexpr++; nexpr > MaxExpressions {
				return nil, parseError{code: errTooManyExprs, off: i}
			}
			var e expression
			end, perr := parseExpression(s, i, &e, &nvars, build)
			if perr.code != errNone {
				return nil, perr
			}
			if build {
				t.lits = append(t.lits, s[litStart:i])
				t.exprs = append(t.exprs, e)
			}
			i, litStart = end, end
		case c == '}':
			return nil, parseError{code: errStrayClose, off: i}
		case c == '%':
			if !pctAt(s, i) {
				return nil, parseError{code: errPct, off: i}
			}
			i += 3
		case c < utf8.RuneSelf:
			if !literalASCII[c] {
				return nil, parseError{code: errLiteralChar, off: i}
			}
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, parseError{code: errUTF8, off: i}
			}
			if !isIRIChar(r) {
				return nil, parseError{code: errLiteralChar, off: i}
			}
			i += size
		}
	}
	if build {
		t.lits = append(t.lits, s[litStart:])
	}
	return t, parseError{}
}

// parseExpression parses the expression whose "{" is at s[open], into e
// when build is set, and returns the offset just past its "}". nvars counts
// the template's variables so far.
func parseExpression(s string, open int, e *expression, nvars *int, build bool) (int, parseError) {
	unclosed := parseError{code: errUnclosed, off: len(s), open: open}
	i := open + 1
	if i >= len(s) {
		return 0, unclosed
	}
	switch s[i] {
	case '+':
		e.op = opReserved
	case '#':
		e.op = opFragment
	case '.':
		e.op = opLabel
	case '/':
		e.op = opPath
	case ';':
		e.op = opParam
	case '?':
		e.op = opQuery
	case '&':
		e.op = opCont
	case '=', ',', '!', '@', '|': // op-reserve
		return 0, parseError{code: errReservedOp, off: i}
	case '}':
		return 0, parseError{code: errEmptyExpr, off: open}
	}
	if e.op != opSimple {
		i++
	}
	for {
		// varname = varchar *( ["."] varchar )
		start := i
		dot := false // the name so far ends in "."
	name:
		for i < len(s) {
			c := s[i]
			switch {
			case isVarchar(c):
				i++
			case c == '%':
				if !pctAt(s, i) {
					return 0, parseError{code: errPct, off: i}
				}
				i += 3
			case c == '.' && i > start && !dot:
				dot = true
				i++
				continue
			default:
				break name
			}
			dot = false
		}
		if i >= len(s) {
			return 0, unclosed
		}
		if i == start {
			if s[i] == '}' && start == open+1 {
				return 0, parseError{code: errEmptyExpr, off: open}
			}
			return 0, parseError{code: errVarStart, off: i}
		}
		if dot {
			if s[i] == '.' {
				return 0, parseError{code: errVarChar, off: i}
			}
			return 0, parseError{code: errVarDot, off: i - 1}
		}
		if *nvars++; *nvars > MaxVariables {
			return 0, parseError{code: errTooManyVars, off: start}
		}
		v := varspec{name: s[start:i]}

		modifier := false
		switch s[i] {
		case ':':
			// max-length = %x31-39 0*3DIGIT
			i++
			n, digits := 0, 0
			for i < len(s) && '0' <= s[i] && s[i] <= '9' && digits < 5 {
				if digits == 0 && s[i] == '0' {
					break
				}
				n = n*10 + int(s[i]-'0')
				digits++
				i++
			}
			if digits == 0 || n > 9999 {
				return 0, parseError{code: errPrefix, off: start + len(v.name)}
			}
			v.prefix = n
			modifier = true
		case '*':
			v.explode = true
			modifier = true
			i++
		}
		if build {
			e.vars = append(e.vars, v)
		}
		if i >= len(s) {
			return 0, unclosed
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return i + 1, parseError{}
		default:
			if modifier {
				return 0, parseError{code: errAfterModifier, off: i}
			}
			return 0, parseError{code: errAfterVar, off: i}
		}
	}
}
