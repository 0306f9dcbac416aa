package mercure

import (
	"strings"
)

// formField is one name and value of an application/x-www-form-urlencoded
// string, decoded.
type formField struct{ name, value string }

// parseForm decodes an application/x-www-form-urlencoded string as the
// WHATWG URL standard does, which draft-08 §3 (Subscription) and §5
// (Publication) name: split at "&", each at its first "=", "+" is a
// space, and percent escapes are decoded, a "%" that starts no valid
// escape staying as it is. It never fails (unlike net/url.ParseQuery,
// which refuses ";" and bad escapes): what the bytes decode to is checked
// by the callers (UTF-8, control characters). Fields keep their order, so
// that the first topic stays the canonical one (draft-07 §5).
func parseForm(s string, dst []formField) []formField {
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		dst = append(dst, formField{formDecode(name), formDecode(value)})
	}
	return dst
}

// formDecode decodes one name or value of a form.
func formDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
