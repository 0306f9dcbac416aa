package topic_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/topic"
)

// allowed is the topic alphabet written out independently of the
// implementation's table.
const allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:/@"

var sentinels = []error{
	topic.ErrEmpty,
	topic.ErrTooLong,
	topic.ErrInvalidChar,
	topic.ErrUnsupportedWildcard,
	topic.ErrPatternNotAllowed,
}

func TestValidate(t *testing.T) {
	long256 := strings.Repeat("a", topic.MaxLen)
	tests := []struct {
		name        string
		in          string
		wantTopic   error // from ValidateTopic
		wantPattern error // from ValidatePattern
	}{
		// Every allowed class.
		{"upper", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", nil, nil},
		{"lower", "abcdefghijklmnopqrstuvwxyz", nil, nil},
		{"digits", "0123456789", nil, nil},
		{"underscore", "_", nil, nil},
		{"hyphen", "-", nil, nil},
		{"dot", ".", nil, nil},
		{"colon", ":", nil, nil},
		{"slash", "/", nil, nil},
		{"at", "@", nil, nil},
		{"mixed", "user/alice@example.com:orders.v1_x-y", nil, nil},
		{"whole alphabet", allowed, nil, nil},

		// Length boundaries.
		{"0 bytes", "", topic.ErrEmpty, topic.ErrEmpty},
		{"1 byte", "a", nil, nil},
		{"256 bytes", long256, nil, nil},
		{"257 bytes", long256 + "a", topic.ErrTooLong, topic.ErrTooLong},
		{"256 byte pattern", strings.Repeat("*", topic.MaxLen), topic.ErrPatternNotAllowed, nil},
		{"257 byte pattern", strings.Repeat("*", topic.MaxLen+1), topic.ErrTooLong, topic.ErrTooLong},
		{"257 invalid bytes", strings.Repeat(" ", topic.MaxLen+1), topic.ErrTooLong, topic.ErrTooLong},
		{"invalid at 256", long256[1:] + " ", topic.ErrInvalidChar, topic.ErrInvalidChar},

		// Patterns.
		{"star alone", "*", topic.ErrPatternNotAllowed, nil},
		{"trailing star", "news/*", topic.ErrPatternNotAllowed, nil},
		{"leading star", "*/alerts", topic.ErrPatternNotAllowed, nil},
		{"adjacent stars", "a**b", topic.ErrPatternNotAllowed, nil},

		// Every glob character Redis knows besides *.
		{"question mark", "a?b", topic.ErrInvalidChar, topic.ErrUnsupportedWildcard},
		{"open bracket", "a[bc]", topic.ErrInvalidChar, topic.ErrUnsupportedWildcard},
		{"close bracket", "a]", topic.ErrInvalidChar, topic.ErrUnsupportedWildcard},
		{"backslash", `a\*`, topic.ErrInvalidChar, topic.ErrUnsupportedWildcard},
		{"caret", "a^b", topic.ErrInvalidChar, topic.ErrUnsupportedWildcard},

		// Other bytes.
		{"space", "a b", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"NUL", "a\x00b", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"tab", "a\tb", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"newline", "a\nb", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"DEL", "a\x7fb", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"plus", "a+b", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"hash", "a#b", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"percent", "a%20b", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"comma", "a,b", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"unicode letter", "café", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"unicode CJK", "日本", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"fullwidth asterisk", "a＊", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"invalid UTF-8", "a\xffb", topic.ErrInvalidChar, topic.ErrInvalidChar},

		// The first problem from the left wins, except that for an exact
		// topic an invalid byte is reported before a *.
		{"star then space", "a*b c", topic.ErrInvalidChar, topic.ErrInvalidChar},
		{"glob then space", "a?b c", topic.ErrInvalidChar, topic.ErrUnsupportedWildcard},
		{"space then glob", "a b?", topic.ErrInvalidChar, topic.ErrInvalidChar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, "ValidateTopic", tt.in, topic.ValidateTopic(tt.in), tt.wantTopic)
			checkErr(t, "ValidatePattern", tt.in, topic.ValidatePattern(tt.in), tt.wantPattern)
		})
	}
}

func checkErr(t *testing.T, fn, in string, got, want error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s(%q) = %v, want nil", fn, in, got)
		}
		return
	}
	if !errors.Is(got, want) {
		t.Errorf("%s(%q) = %v, want error wrapping %v", fn, in, got, want)
	}
}

// TestValidateEveryByte checks each of the 256 single-byte inputs against the
// alphabet spelled out in this file.
func TestValidateEveryByte(t *testing.T) {
	for b := 0; b < 256; b++ {
		s := string([]byte{byte(b)})
		var wantTopic, wantPattern error
		switch {
		case strings.IndexByte(allowed, byte(b)) >= 0:
		case b == '*':
			wantTopic = topic.ErrPatternNotAllowed
		case strings.IndexByte(`?[]\^`, byte(b)) >= 0:
			wantTopic, wantPattern = topic.ErrInvalidChar, topic.ErrUnsupportedWildcard
		default:
			wantTopic, wantPattern = topic.ErrInvalidChar, topic.ErrInvalidChar
		}
		checkErr(t, "ValidateTopic", s, topic.ValidateTopic(s), wantTopic)
		checkErr(t, "ValidatePattern", s, topic.ValidatePattern(s), wantPattern)
	}
}

func TestValidateMessages(t *testing.T) {
	tests := []struct {
		fn   func(string) error
		name string
		in   string
		want string
	}{
		{topic.ValidateTopic, "ValidateTopic", "", `topic "" is empty; a topic is 1 to 256 bytes`},
		{topic.ValidateTopic, "ValidateTopic", "news/*", `topic "news/*" is a pattern; publish to exact topics`},
		{topic.ValidateTopic, "ValidateTopic", "a b",
			`topic "a b" has invalid byte " " at offset 1; topics may contain only A-Z a-z 0-9 _ - . : / @`},
		{topic.ValidatePattern, "ValidatePattern", "café",
			`topic "café" has invalid byte "\xc3" at offset 3; topics may contain only A-Z a-z 0-9 _ - . : / @ and the wildcard *`},
		{topic.ValidatePattern, "ValidatePattern", "a\x00",
			`topic "a\x00" has invalid byte "\x00" at offset 1; topics may contain only A-Z a-z 0-9 _ - . : / @ and the wildcard *`},
		{topic.ValidatePattern, "ValidatePattern", "news/?",
			`topic "news/?" uses wildcard "?" at offset 5; only * is supported as a wildcard`},
		{topic.ValidatePattern, "ValidatePattern", strings.Repeat("x", 300),
			`topic "` + strings.Repeat("x", 64) + `"... is 300 bytes long; the limit is 256 bytes`},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got == nil || got.Error() != tt.want {
			t.Errorf("%s(%q) = %v, want %s", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestValidateMessageBounded checks that a huge input does not make a huge
// message: the message goes back to the client verbatim.
func TestValidateMessageBounded(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("a", 1<<20),
		strings.Repeat("a", 200) + " ",
		strings.Repeat("\x00", 200),
		strings.Repeat("a", 200) + "*",
	} {
		for _, err := range []error{topic.ValidateTopic(in), topic.ValidatePattern(in)} {
			if err == nil {
				continue
			}
			if n := len(err.Error()); n > 400 {
				t.Errorf("len(Validate(%d bytes).Error()) = %d, want <= 400", len(in), n)
			}
		}
	}
}

func TestIsPattern(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"news", false},
		{"*", true},
		{"news/*", true},
		{"*/x", true},
		{"a?b", false},
	}
	for _, tt := range tests {
		if got := topic.IsPattern(tt.in); got != tt.want {
			t.Errorf("IsPattern(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

var matchTests = []struct {
	pattern, topic string
	want           bool
}{
	// No star: identity only.
	{"news", "news", true},
	{"news", "new", false},
	{"news", "newss", false},
	{"news", "News", false},
	{"", "", true},
	{"", "a", false},
	{"a", "", false},

	// * alone matches everything, including the empty topic and slashes.
	{"*", "", true},
	{"*", "a", true},
	{"*", "user/alice/orders", true},

	// Leading and trailing stars, empty runs.
	{"news/*", "news/", true},
	{"news/*", "news/sport", true},
	{"news/*", "news/sport/football", true},
	{"news/*", "news", false},
	{"news/*", "newsx", false},
	{"*/alerts", "/alerts", true},
	{"*/alerts", "eu/west/alerts", true},
	{"*/alerts", "eu/west/alerts/x", false},
	{"*news*", "news", true},
	{"*news*", "breaking-news-today", true},
	{"*news*", "new", false},

	// Multiple and adjacent stars.
	{"a**b", "ab", true},
	{"a**b", "axyzb", true},
	{"a**b", "axyzbc", false},
	{"**", "", true},
	{"***", "abc", true},
	{"user/*/orders/*", "user/alice/orders/42", true},
	{"user/*/orders/*", "user/alice/orders", false},
	{"user/*/orders/*", "user/a/b/orders/c/d", true},
	{"a*b*c", "abc", true},

	// Cases that need backtracking to the last star.
	{"a*b*c", "aXbYbZc", true},
	{"a*b*c", "aXbYbZ", false},
	{"a*b*c", "aXbYcZ", false},
	{"a*bc", "abbbc", true},
	{"a*bc", "abcbc", true},
	{"a*bc", "abcbd", false},
	{"*ab", "aab", true},
	{"*aab", "aaaab", true},
	{"*a*ab", "aXab", true},
	{"*a*ab", "aXa", false},
	{"a*a*a*a*b", strings.Repeat("a", 50), false},
	{"a*a*a*a*b", strings.Repeat("a", 50) + "b", true},
	{"*x*", "yyyyyy", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		if got := topic.Match(tt.pattern, tt.topic); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.topic, got, tt.want)
		}
		// The table doubles as a check of the fuzz reference.
		if got := refMatch(tt.pattern, tt.topic); got != tt.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v", tt.pattern, tt.topic, got, tt.want)
		}
	}
}

func TestAllocs(t *testing.T) {
	pattern, name := "user/*/orders/*", "user/alice/orders/42"
	var sink bool
	var errSink error
	tests := []struct {
		name string
		f    func()
	}{
		{"Match", func() { sink = topic.Match(pattern, name) }},
		{"ValidatePattern", func() { errSink = topic.ValidatePattern(pattern) }},
		{"ValidateTopic", func() { errSink = topic.ValidateTopic(name) }},
		{"IsPattern", func() { sink = topic.IsPattern(pattern) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
	_, _ = sink, errSink
}

func BenchmarkMatch(b *testing.B) {
	long := strings.Repeat("a", topic.MaxLen-1) + "b"
	benchmarks := []struct {
		name, pattern, topic string
	}{
		{"exact", "news/sport/football", "news/sport/football"},
		{"trailingStar", "news/*", "news/sport/football"},
		{"twoStars", "user/*/orders/*", "user/alice/orders/42"},
		{"miss", "user/*/orders/*", "user/alice/invoices/42"},
		{"worstCase", "*" + strings.Repeat("a", 127) + "b", long},
		{"worstCaseMiddle", "*" + strings.Repeat("a", 127) + "b*", strings.Repeat("a", topic.MaxLen)},
		{"manyStars", strings.Repeat("*ab", 85), strings.Repeat("a", topic.MaxLen)},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				topic.Match(bm.pattern, bm.topic)
			}
		})
	}
}

func BenchmarkValidatePattern(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = topic.ValidatePattern("user/*/orders/2024-06:eu@west")
	}
}

// refMatch is an obviously correct dynamic-programming glob matcher for any
// bytes: m[j] says whether the pattern prefix read so far matches topic[:j].
func refMatch(pattern, name string) bool {
	m := make([]bool, len(name)+1)
	m[0] = true
	for i := 0; i < len(pattern); i++ {
		next := make([]bool, len(name)+1)
		if pattern[i] == '*' {
			// Empty run, or extend a run that already matched up to j-1.
			for j := 0; j <= len(name); j++ {
				next[j] = m[j] || (j > 0 && next[j-1])
			}
		} else {
			for j := 1; j <= len(name); j++ {
				next[j] = m[j-1] && pattern[i] == name[j-1]
			}
		}
		m = next
	}
	return m[len(name)]
}

// regexpFor builds the reference regexp: literal segments joined by .*,
// anchored at both ends.
func regexpFor(pattern string) *regexp.Regexp {
	segs := strings.Split(pattern, "*")
	for i, s := range segs {
		segs[i] = regexp.QuoteMeta(s)
	}
	return regexp.MustCompile(`\A` + strings.Join(segs, `(?s).*`) + `\z`)
}

func FuzzMatch(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.pattern, tt.topic)
	}
	f.Add("*@*", "user@example.com")
	f.Add("a?b", "axb")
	f.Add("a\x00*", "a\x00b")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := topic.Match(pattern, name)
		// Match is defined on any bytes, so check it against the plain
		// reference before restricting to valid input.
		if want := refMatch(pattern, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, refMatch = %v", pattern, name, got, want)
		}
		// Deleting the stars gives a topic the pattern must match.
		if lit := strings.ReplaceAll(pattern, "*", ""); !topic.Match(pattern, lit) {
			t.Fatalf("Match(%q, %q) = false, want true", pattern, lit)
		}
		if topic.ValidatePattern(pattern) != nil || topic.ValidateTopic(name) != nil {
			return
		}
		if want := regexpFor(pattern).MatchString(name); got != want {
			t.Fatalf("Match(%q, %q) = %v, regexp = %v", pattern, name, got, want)
		}
		if !topic.IsPattern(pattern) && got != (pattern == name) {
			t.Fatalf("Match(%q, %q) = %v for a pattern without *, want %v", pattern, name, got, pattern == name)
		}
	})
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"", "a", "news", "news/*", "*", "a?b", "a[b]", `a\b`, "a^b", "a b",
		"a\x00", "café", "\xff", allowed, strings.Repeat("a", topic.MaxLen),
		strings.Repeat("a", topic.MaxLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		errT, errP := topic.ValidateTopic(s), topic.ValidatePattern(s)
		for _, c := range []struct {
			name  string
			err   error
			alpha string
		}{
			{"ValidateTopic", errT, allowed},
			{"ValidatePattern", errP, allowed + "*"},
		} {
			if c.err == nil {
				if len(s) < 1 || len(s) > topic.MaxLen {
					t.Fatalf("%s(%d bytes) = nil, want error", c.name, len(s))
				}
				for i := 0; i < len(s); i++ {
					if strings.IndexByte(c.alpha, s[i]) < 0 {
						t.Fatalf("%s(%q) = nil, but byte %d is not allowed", c.name, s, i)
					}
				}
				continue
			}
			if n := wrapped(c.err); n != 1 {
				t.Fatalf("%s(%q) = %v, wraps %d sentinels, want 1", c.name, s, c.err, n)
			}
			if msg := c.err.Error(); !strings.HasPrefix(msg, "topic ") || len(msg) > 400 {
				t.Fatalf("%s(%q) message = %q, want prefix %q and <= 400 bytes", c.name, s, msg, "topic ")
			}
		}
		if errT == nil && (errP != nil || topic.IsPattern(s)) {
			t.Fatalf("ValidateTopic(%q) = nil, but ValidatePattern = %v, IsPattern = %v", s, errP, topic.IsPattern(s))
		}
		if topic.IsPattern(s) != strings.Contains(s, "*") {
			t.Fatalf("IsPattern(%q) = %v, want %v", s, topic.IsPattern(s), !topic.IsPattern(s))
		}
	})
}

func wrapped(err error) int {
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

func ExampleMatch() {
	fmt.Println(topic.Match("user/*/orders", "user/alice/orders"))
	fmt.Println(topic.Match("news/*", "news/sport/football"))
	fmt.Println(topic.Match("news", "news/sport"))
	// Output:
	// true
	// true
	// false
}

func ExampleValidatePattern() {
	fmt.Println(topic.ValidatePattern("news/*"))
	fmt.Println(topic.ValidatePattern("news/?"))
	// Output:
	// <nil>
	// topic "news/?" uses wildcard "?" at offset 5; only * is supported as a wildcard
}

func TestMatchAnyAndMatchedByAny(t *testing.T) {
	tests := []struct {
		patterns, topics []string
		want             bool
	}{
		{nil, []string{"a"}, false},
		{[]string{"a*"}, nil, false},
		{[]string{"user/*"}, []string{"news", "user/1"}, true},
		{[]string{"news", "user/*"}, []string{"alerts"}, false},
		{[]string{"x*", "*s"}, []string{"news"}, true},
	}
	for _, tt := range tests {
		matched := false
		for _, p := range tt.patterns {
			matched = matched || topic.MatchAny(p, tt.topics)
		}
		by := false
		for _, tp := range tt.topics {
			by = by || topic.MatchedByAny(tt.patterns, tp)
		}
		if matched != tt.want || by != tt.want {
			t.Errorf("patterns %q, topics %q: MatchAny = %v, MatchedByAny = %v, want %v",
				tt.patterns, tt.topics, matched, by, tt.want)
		}
	}
}
