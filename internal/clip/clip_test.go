package clip

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"short, escaped", "a\nb\x00", `"a\nb\x00"`},
		{"exactly Max", a(64), `"` + a(64) + `"`},
		{"one over", a(65), `"` + a(64) + `"...`},
		{"huge", a(900 << 10), `"` + a(64) + `"...`},
		{"two-byte rune across the cut", a(63) + "é" + a(10), `"` + a(63) + `"...`},
		{"three-byte rune across the cut", a(62) + "日本", `"` + a(62) + `"...`},
		{"four-byte rune across the cut", a(61) + "😀" + a(10), `"` + a(61) + `"...`},
		{"rune ending at the cut", a(62) + "é" + a(10), `"` + a(62) + `é"...`},
		{"rune starting at the cut", a(64) + "日本", `"` + a(64) + `"...`},
		{"bytes that are not UTF-8", strings.Repeat("\xff", 100), strconv.Quote(strings.Repeat("\xff", 64)) + "..."},
		{"stray continuation bytes", a(60) + strings.Repeat("\x80", 10), strconv.Quote(a(60)+strings.Repeat("\x80", 4)) + "..."},
		{"truncated sequence before the cut", a(62) + "\xe6\x97" + a(5), strconv.Quote(a(62)+"\xe6\x97") + "..."},
		{"truncated sequence across the cut", a(63) + "\xe6\x97" + a(5), strconv.Quote(a(63)+"\xe6") + "..."},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%.80q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", strings.Repeat("a", 63) + "é", strings.Repeat("é", 40), strings.Repeat("\xff", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Quote(s)
		quoted, cut := strings.CutSuffix(got, "...")
		kept, err := strconv.Unquote(quoted)
		switch {
		case err != nil:
			t.Fatalf("Quote(%q) = %s, not a quoted string: %v", s, got, err)
		case !strings.HasPrefix(s, kept):
			t.Fatalf("Quote(%q) = %s, not a prefix of the input", s, got)
		case cut != (len(kept) < len(s)):
			t.Fatalf("Quote(%q) = %s, want the mark exactly when cut", s, got)
		case len(kept) > Max, cut && len(kept) < Max-utf8.UTFMax+1:
			t.Fatalf("Quote(%q) keeps %d bytes, want %d to %d", s, len(kept), Max-utf8.UTFMax+1, Max)
		case utf8.ValidString(s) && !utf8.ValidString(kept):
			t.Fatalf("Quote(%q) = %s splits a rune", s, got)
		}
	})
}
