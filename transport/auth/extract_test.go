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
		{"prefix cookie name", "", "xssehub_token=" + tok, "", "", "missing_token"},

		{"nothing", "", "", "", "", "missing_token"},
		{"other cookies only", "", "a=b", "", "", "missing_token"},
		{"basic scheme", "Basic dXNlcjpwYXNz", "ssehub_token=" + tok, "", "", "malformed_token"},
		{"bearer without token", "Bearer", "", "", "", "malformed_token"},
		{"bearer with spaces only", "Bearer    ", "", "", "", "malformed_token"},
		{"bearer glued", "Bearer" + tok, "", "", "", "malformed_token"},
		{"two tokens", "Bearer a b", "", "", "", "malformed_token"},
		{"control byte", "Bearer a\x00b", "", "", "", "malformed_token"},
		{"CRLF in query", "", "", "a\r\nb", "", "malformed_token"},
		{"oversized header", "Bearer " + long, "", "", "", "malformed_token"},
		{"oversized cookie", "", "ssehub_token=" + long, "", "", "malformed_token"},
		{"oversized query", "", "", long, "", "malformed_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Extract(tc.auth, tc.cookie, tc.query)
			if got != tc.want || Code(err) != tc.code {
				t.Errorf("Extract(%.40q, %.40q, %.40q) = %q, %v; want %q, code %q", tc.auth, tc.cookie, tc.query, got, err, tc.want, tc.code)
			}
		})
	}
}
