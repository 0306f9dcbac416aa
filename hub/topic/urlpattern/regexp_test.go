package urlpattern

import (
	"regexp"
	"testing"
)

// TestTranslateRegexp checks regexp groups' ECMAScript syntax (v flag)
// against what it means for ASCII input.
func TestTranslateRegexp(t *testing.T) {
	tests := []struct {
		name, src string
		match     []string
		noMatch   []string
	}{
		{"literal", "abc", []string{"abc"}, []string{"ab", "abcd", "ABC"}},
		{"alternation", "a|bc|", []string{"a", "bc", ""}, []string{"b", "abc"}},
		{"digit", `\d+`, []string{"0", "123"}, []string{"", "1a", "٣"}},
		{"not digit", `\D`, []string{"a", "%"}, []string{"1"}},
		{"word", `\w+`, []string{"a_Z9"}, []string{"a-b"}},
		{"not word", `\W`, []string{"-"}, []string{"_"}},
		{"space", `a\sb`, []string{"a b", "a\vb", "a\tb"}, []string{"ab", "a_b"}},
		{"not space", `\S`, []string{"x"}, []string{" ", "\v"}},
		{"dot", "a.c", []string{"abc", "a%c", "a c"}, []string{"a\nc", "a\rc", "ac"}},
		{"class range", "[a-cx]+", []string{"abcx"}, []string{"d"}},
		{"negated class", "[^a-c]", []string{"d", "/"}, []string{"a"}},
		{"empty class", "a[]", nil, []string{"a", "a]"}},
		{"everything class", "[^]*", []string{"", "any thing"}, nil},
		{"class escapes", `[\d\-\]]+`, []string{"1-]"}, []string{"a"}},
		{"class reserved punctuator escape", `[\&\!]+`, []string{"&!"}, []string{"&&a"}},
		{"class backspace", `[\b]`, []string{"\b"}, []string{"b"}},
		{"nested class", "[[a-c][x-z]]+", []string{"abxz"}, []string{"d"}},
		{"subtraction", "[[a-z]--[aeiou]]+", []string{"xyz"}, []string{"xaz"}},
		{"intersection", `[\w&&[^_]&&\D]+`, []string{"aZ"}, []string{"a_", "a1"}},
		{"negated subtraction", "[^[a-z]--[aeiou]]", []string{"a", "1"}, []string{"x"}},
		{"hex escape", `\x41\u0042\u{43}`, []string{"ABC"}, []string{"abc"}},
		{"control escapes", `\t\n\f\r\v\0\cJ`, []string{"\t\n\f\r\v\x00\n"}, nil},
		{"non-ASCII never matches", `\u00e9`, nil, []string{"é", "%C3%A9"}},
		{"surrogate pair never matches", `a\uD83D\uDE00?`, []string{"a"}, []string{"a\U0001F600"}},
		{"identity escapes", `\^\$\\\.\*\+\?\(\)\[\]\{\}\|\/`, []string{`^$\.*+?()[]{}|/`}, nil},
		{"quantifiers", "a{2}b{1,}c{0,2}d?e*f+", []string{"aabcdf", "aabbbccdeef"}, []string{"abcdf", "aabcccdf"}},
		{"lazy quantifiers", "a+?b*?c??d{1,2}?", []string{"ad", "aaabbcdd"}, []string{"a"}},
		{"anchors", "^a$", []string{"a"}, []string{"ba"}},
		{"word boundary", `a\b-\Bb`, nil, []string{"a-b"}},
		{"word boundary matches", `a\b-`, []string{"a-"}, nil},
		{"non-capturing group", "(?:ab)+", []string{"abab"}, []string{"aba"}},
		{"named group", "(?<x>a|b)c", []string{"ac", "bc"}, []string{"c"}},
		{"dollar name", "(?<$x_1>a)", []string{"a"}, nil},
		{"huge but allowed repeat", "a{1000}", nil, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := translateRegexp(tt.src)
			if err != nil {
				t.Fatalf("translateRegexp(%q) = %v", tt.src, err.msg)
			}
			re, cerr := regexp.Compile(`\A(?:` + out + `)\z`)
			if cerr != nil {
				t.Fatalf("translateRegexp(%q) = %q, which does not compile: %v", tt.src, out, cerr)
			}
			for _, in := range tt.match {
				if !re.MatchString(in) {
					t.Errorf("translateRegexp(%q) = %q does not match %q, want match", tt.src, out, in)
				}
			}
			for _, in := range tt.noMatch {
				if re.MatchString(in) {
					t.Errorf("translateRegexp(%q) = %q matches %q, want no match", tt.src, out, in)
				}
			}
		})
	}
}

func TestTranslateRegexpErrors(t *testing.T) {
	tests := []struct {
		src  string
		want error
		off  int
	}{
		{"a)", ErrSyntax, 1},
		{"(a", ErrSyntax, 0},
		{"*", ErrSyntax, 0},
		{"a|+", ErrSyntax, 2},
		{"^*", ErrSyntax, 1},
		{`\b+`, ErrSyntax, 2},
		{"{1}", ErrSyntax, 0},
		{"a{", ErrSyntax, 1},
		{"a{1", ErrSyntax, 1},
		{"}", ErrSyntax, 0},
		{"]", ErrSyntax, 0},
		{"a{2,1}", ErrSyntax, 1},
		{"a{1001}", ErrTooComplex, 1},
		{"a{1,1001}", ErrTooComplex, 1},
		{`\a`, ErrSyntax, 0},
		{`\-`, ErrSyntax, 0},
		{`\c1`, ErrSyntax, 0},
		{`\01`, ErrSyntax, 0},
		{`\x4`, ErrSyntax, 0},
		{`\u12`, ErrSyntax, 0},
		{`\u{110000}`, ErrSyntax, 0},
		{`\u{}`, ErrSyntax, 0},
		{`\1`, ErrUnsupported, 0},
		{`\k<a>`, ErrUnsupported, 0},
		{`\p{L}`, ErrUnsupported, 0},
		{`\P{L}`, ErrUnsupported, 0},
		{"(?=a)", ErrUnsupported, 0},
		{"(?!a)", ErrUnsupported, 0},
		{"(?<=a)", ErrUnsupported, 0},
		{"(?<!a)", ErrUnsupported, 0},
		{"(?i:a)", ErrUnsupported, 0},
		{"(?<1a>b)", ErrSyntax, 0},
		{"(?<a b)", ErrSyntax, 0},
		{"[a", ErrSyntax, 0},
		{"[z-a]", ErrSyntax, 2},
		{`[a-\d]`, ErrSyntax, 2},
		{"[a-]", ErrSyntax, 3},
		{"[(]", ErrSyntax, 1},
		{"[|]", ErrSyntax, 1},
		{"[a&&]", ErrSyntax, 4},
		{"[a&&b-c]", ErrSyntax, 5},
		{"[ab--c]", ErrSyntax, 3},
		{"[a--b&&c]", ErrSyntax, 5},
		{"[..]", ErrSyntax, 1},
		{`[\q{a}]`, ErrUnsupported, 1},
		{`[\p{L}]`, ErrUnsupported, 1},
		{`[\B]`, ErrSyntax, 1},
	}
	for _, tt := range tests {
		out, err := translateRegexp(tt.src)
		if err == nil {
			t.Errorf("translateRegexp(%q) = %q, nil; want error %v", tt.src, out, tt.want)
			continue
		}
		if err.kind != tt.want || err.off != tt.off {
			t.Errorf("translateRegexp(%q) = error %v at %d (%s); want %v at %d", tt.src, err.kind, err.off, err.msg, tt.want, tt.off)
		}
	}
}
