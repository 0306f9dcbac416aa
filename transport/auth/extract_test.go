package auth

import (
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	const tok = "aaa.bbb.ccc"
	long := strings.Repeat("a", MaxTokenSize+1)
	for _, tc := range []struct {
		name                string
		auth, cookie, query string
		want                string
		code                string
	}{
		{"bearer", "Bearer " + tok, "", "", tok, ""},
		{"bearer lower case", "bearer " + tok, "", "", tok, ""},
		{"bearer upper case, spaces", "  BEARER   " + tok + " ", "", "", tok, ""},
		{"cookie", "", "ssehub_token=" + tok, "", tok, ""},
		{"cookie among others", "", "a=1; ssehub_token=" + tok + "; b=2", "", tok, ""},
		{"cookie quoted", "", `x=y;ssehub_token="` + tok + `"`, "", tok, ""},
		{"cookie first wins", "", "ssehub_token=" + tok + "; ssehub_token=zzz", "", tok, ""},
		{"malformed other cookie", "", "junk; =; a=\"; ssehub_token=" + tok, "", tok, ""},
		{"query", "", "", tok, tok, ""},
		{"header wins over cookie and query", "Bearer " + tok, "ssehub_token=c.c.c", "q.q.q", tok, ""},
		{"cookie wins over query", "", "ssehub_token=" + tok, "q.q.q", tok, ""},
		{"empty cookie falls through", "", "ssehub_token=", tok, tok, ""},
		{"prefix cookie name", "", "xssehub_token=" + tok, "", "", CodeMissingToken},

		{"nothing", "", "", "", "", CodeMissingToken},
		{"other cookies only", "", "a=b", "", "", CodeMissingToken},
		{"basic scheme", "Basic dXNlcjpwYXNz", "ssehub_token=" + tok, "", "", CodeMalformedToken},
		{"bearer without token", "Bearer", "", "", "", CodeMalformedToken},
		{"bearer with spaces only", "Bearer    ", "", "", "", CodeMalformedToken},
		{"bearer glued", "Bearer" + tok, "", "", "", CodeMalformedToken},
		{"two tokens", "Bearer a b", "", "", "", CodeMalformedToken},
		{"control byte", "Bearer a\x00b", "", "", "", CodeMalformedToken},
		{"CRLF in query", "", "", "a\r\nb", "", CodeMalformedToken},
		{"oversized header", "Bearer " + long, "", "", "", CodeMalformedToken},
		{"oversized cookie", "", "ssehub_token=" + long, "", "", CodeMalformedToken},
		{"oversized query", "", "", long, "", CodeMalformedToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Extract(tc.auth, tc.cookie, tc.query)
			if got != tc.want || Code(err) != tc.code {
				t.Errorf("Extract(%.40q, %.40q, %.40q) = %q, %v; want %q, code %q", tc.auth, tc.cookie, tc.query, got, err, tc.want, tc.code)
			}
		})
	}
}
