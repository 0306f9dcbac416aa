package urlpattern

import (
	"unicode"
	"unicode/utf8"
)

// tokenType is the kind of a token (URL Pattern #tokens).
type tokenType uint8

const (
	tokInvalidChar   tokenType = iota // a malformed construct, in lenient mode
	tokOpen                           // {
	tokClose                          // }
	tokRegexp                         // (regexp); value is the regexp
	tokName                           // :name; value is the name
	tokChar                           // any other code point
	tokEscapedChar                    // \c; value is c
	tokOtherModifier                  // ? or +
	tokAsterisk                       // *, a wildcard or a modifier
	tokEnd                            // the end of the input
)

// token is one lexical token. index is the byte offset of its first byte in
// the tokenized string; the standard counts code points, and byte offsets
// serve the same purpose (cutting component strings) while being what Go
// slices and error messages want.
type token struct {
	typ   tokenType
	index int
	value string
}

// tokenize splits s into tokens (#tokenizing). A malformed construct
// is an error, or with lenient set (the constructor string parser's
// policy) an invalid-char token for its first byte, after which tokenizing
// resumes at the next byte.
func tokenize(s string, lenient bool) ([]token, *perr) {
	toks := make([]token, 0, len(s)+1)
	i := 0
	// bad reports a malformed construct starting at i: an error, or in
	// lenient mode an invalid-char token.
	bad := func(off int, msg string) *perr {
		if !lenient {
			return &perr{kind: ErrSyntax, off: off, msg: msg}
		}
		toks = append(toks, token{tokInvalidChar, i, s[i : i+1]})
		i++
		return nil
	}
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch r {
		case '*':
			toks = append(toks, token{tokAsterisk, i, s[i : i+1]})
			i++
		case '+', '?':
			toks = append(toks, token{tokOtherModifier, i, s[i : i+1]})
			i++
		case '{':
			toks = append(toks, token{tokOpen, i, s[i : i+1]})
			i++
		case '}':
			toks = append(toks, token{tokClose, i, s[i : i+1]})
			i++
		case '\\':
			if i+1 == len(s) {
				if e := bad(i, `the pattern ends with an unpaired "\"`); e != nil {
					return nil, e
				}
				continue
			}
			_, n := utf8.DecodeRuneInString(s[i+1:])
			toks = append(toks, token{tokEscapedChar, i, s[i+1 : i+1+n]})
			i += 1 + n
		case ':':
			j := i + 1
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if !isNameRune(r, j == i+1) {
					break
				}
				j += n
			}
			if j == i+1 {
				if e := bad(i, `":" is not followed by a group name; write "\:" for a literal colon`); e != nil {
					return nil, e
				}
				continue
			}
			toks = append(toks, token{tokName, i, s[i+1 : j]})
			i = j
		case '(':
			end, off, msg := scanRegexp(s, i)
			if msg != "" {
				if e := bad(off, msg); e != nil {
					return nil, e
				}
				continue
			}
			toks = append(toks, token{tokRegexp, i, s[i+1 : end-1]})
			i = end
		default:
			toks = append(toks, token{tokChar, i, s[i : i+size]})
			i += size
		}
	}
	toks = append(toks, token{tokEnd, len(s), ""})
	return toks, nil
}

// scanRegexp finds the end of the regexp group opening at s[open] == '(':
// the offset just past its closing parenthesis. On error it returns the
// offset of the problem and a message. The rules are the standard's: only
// ASCII, no "?" first, and every nested "(" must start a "(?" construct,
// because the standard numbers groups itself and a capturing group inside
// would shift the numbering.
func scanRegexp(s string, open int) (end, off int, msg string) {
	depth := 1
	start := open + 1
	j := start
	for j < len(s) {
		c := s[j]
		switch {
		case c >= utf8.RuneSelf:
			return 0, j, "a regexp group may contain only ASCII characters"
		case j == start && c == '?':
			return 0, j, `a regexp group cannot start with "?"`
		case c == '\\':
			if j == len(s)-1 {
				return 0, j, `the regexp group ends with an unpaired "\"`
			}
			if s[j+1] >= utf8.RuneSelf {
				return 0, j + 1, "a regexp group may contain only ASCII characters"
			}
			j += 2
			continue
		case c == ')':
			depth--
			if depth == 0 {
				if j == start {
					return 0, open, "the regexp group is empty"
				}
				return j + 1, 0, ""
			}
		case c == '(':
			depth++
			if j == len(s)-1 {
				return 0, open, "the regexp group is not closed"
			}
			if s[j+1] != '?' {
				return 0, j, `a regexp group cannot contain a capturing group; use "(?:" instead`
			}
		}
		j++
	}
	return 0, open, "the regexp group is not closed"
}

// isNameRune reports whether r may appear in a group name: an ECMAScript
// IdentifierStart if first, else an IdentifierPart ("is a valid name code
// point", #tokenizing).
func isNameRune(r rune, first bool) bool {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', r == '$', r == '_':
			return true
		case '0' <= r && r <= '9':
			return !first
		}
		return false
	}
	if first {
		return isIDStart(r)
	}
	return r == 0x200C || r == 0x200D || isIDContinue(r)
}

// isIDStart and isIDContinue implement Unicode's ID_Start and ID_Continue
// (UAX #31) from the general categories and the Other_ID_* properties Go
// has tables for.
func isIDStart(r rune) bool {
	if !(unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_ID_Start, r)) {
		return false
	}
	return !unicode.Is(unicode.Pattern_Syntax, r) && !unicode.Is(unicode.Pattern_White_Space, r)
}

func isIDContinue(r rune) bool {
	if isIDStart(r) {
		return true
	}
	if !unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Pc, unicode.Other_ID_Continue) {
		return false
	}
	return !unicode.Is(unicode.Pattern_Syntax, r) && !unicode.Is(unicode.Pattern_White_Space, r)
}
