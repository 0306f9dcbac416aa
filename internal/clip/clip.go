// Package clip quotes untrusted input for error messages, cut short, so that
// a megabyte-long field name or topic cannot make a megabyte-long error
// response or log line.
package clip

import (
	"strconv"
	"unicode/utf8"
)

// Max is how many bytes of its input Quote keeps at most.
const Max = 64

// Quote returns s quoted as %q does, cut to at most Max bytes and then
// marked with ... after the closing quote. The cut does not split a UTF-8
// sequence, which %q would show as \x escapes of its bytes.
func Quote(s string) string {
	if len(s) <= Max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:cut(s)]) + "..."
}

// cut returns where to cut s, which is longer than Max: before the rune
// that s[Max] is in the middle of, if any, else at Max.
func cut(s string) int {
	start := Max
	for start > Max-utf8.UTFMax+1 && !utf8.RuneStart(s[start]) {
		start--
	}
	if r, size := utf8.DecodeRuneInString(s[start:]); start < Max && r != utf8.RuneError && start+size > Max {
		return start
	}
	return Max // on a rune boundary, or in bytes that are not UTF-8 anyway
}
