package mercure

import (
	"strings"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"
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

// formDecode decodes one name or value of a form: "+" is a space, then
// percent escapes as the URL standard decodes them.
func formDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	return urlpattern.PercentDecode(strings.ReplaceAll(s, "+", " "))
}
