package uritemplate_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/hub/topic/uritemplate"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantPrefix string
		complete   bool // no expressions
	}{
		{"empty template", "", "", true},
		{"literal only", "https://example.com/books/1", "https://example.com/books/1", true},
		{"simple", "https://example.com/books/{id}", "https://example.com/books/", false},
		{"starts with an expression", "{scheme}://example.com", "", false},
		{"two expressions", "https://example.com/users/{user}/books/{+rest}", "https://example.com/users/", false},
		{"every operator", "{a}{+b}{#c}{.d}{/e}{;f}{?g}{&h}", "", false},
		{"variable list", "{?x,y,z}", "", false},
		{"prefix modifier", "{var:3}", "", false},
		{"largest prefix", "{var:9999}", "", false},
		{"explode modifier", "{/list*}", "", false},
		{"mixed modifiers", "{/list*,path:4}", "", false},
		{"dotted name", "{a.b.c}", "", false},
		{"percent-encoded name", "{caf%C3%A9}", "", false},
		{"name of digits and underscores", "{_0_9}", "", false},
		{"repeated variable", "{/var:1,var}", "", false},
		{"percent-encoded literal", "https://example.com/a%20b/{id}", "https://example.com/a%20b/", false},
		{"lower-case hex in literal", "a%2fb{x}", "a%2fb", false},
		{"reserved characters in literal", "!#$&()*+,/:;=?@[]_~{x}", "!#$&()*+,/:;=?@[]_~", false},
		{"unicode literal", "https://example.com/café/{id}", "https://example.com/café/", false},
		{"CJK and emoji literals", "日本/😀/{id}", "日本/😀/", false},
		{"private-use literal", "\uE000{x}", "\uE000", false},
		{"colon literal", "/vars/:var", "/vars/:var", true},
		{"query literal then expression", "?fixed=yes{&x}", "?fixed=yes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := uritemplate.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want nil", tt.in, err)
			}
			if got := tmpl.String(); got != tt.in {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.in)
			}
			prefix, complete := tmpl.LiteralPrefix()
			if prefix != tt.wantPrefix || complete != tt.complete {
				t.Errorf("Parse(%q).LiteralPrefix() = %q, %v, want %q, %v", tt.in, prefix, complete, tt.wantPrefix, tt.complete)
			}
			if got, want := uritemplate.IsTemplate(tt.in), !tt.complete; got != want {
				t.Errorf("IsTemplate(%q) = %v, want %v", tt.in, got, want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		kind    error
		offset  int
		mention string // the message must contain this
	}{
		// Expressions that do not close, or close without opening.
		{"unclosed at end", "https://example.com/{id", uritemplate.ErrSyntax, 23, `opened at offset 20 that is not closed; expected "}"`},
		{"unclosed after operator", "{+", uritemplate.ErrSyntax, 2, `opened at offset 0 that is not closed`},
		{"unclosed brace alone", "{", uritemplate.ErrSyntax, 1, `not closed`},
		{"unclosed after modifier", "{/id*", uritemplate.ErrSyntax, 5, `not closed`},
		{"unclosed after comma", "{a,", uritemplate.ErrSyntax, 3, `not closed`},
		{"unclosed after prefix", "{a:3", uritemplate.ErrSyntax, 4, `not closed`},
		{"stray close", "/id*}", uritemplate.ErrSyntax, 4, `"}" at offset 4 outside an expression; a literal "}" is written %7D`},
		{"nested open", "{a{b}}", uritemplate.ErrSyntax, 2, `"{" at offset 2 after a variable name`},

		// Literals.
		{"space in literal", "https://example.com/a b/{id}", uritemplate.ErrSyntax, 21, `" " at offset 21, which is not allowed in a literal; percent-encode it as %20`},
		{"double quote in literal", `a"b{x}`, uritemplate.ErrSyntax, 1, `percent-encode it as %22`},
		{"apostrophe in literal", "a'b{x}", uritemplate.ErrSyntax, 1, `percent-encode it as %27`},
		{"angle bracket in literal", "a<b{x}", uritemplate.ErrSyntax, 1, `percent-encode it as %3C`},
		{"backslash in literal", `a\b{x}`, uritemplate.ErrSyntax, 1, `percent-encode it as %5C`},
		{"caret in literal", "a^b{x}", uritemplate.ErrSyntax, 1, `%5E`},
		{"backquote in literal", "a`b{x}", uritemplate.ErrSyntax, 1, `%60`},
		{"pipe in literal", "a|b{x}", uritemplate.ErrSyntax, 1, `%7C`},
		{"control character in literal", "a\nb{x}", uritemplate.ErrSyntax, 1, `"\n" at offset 1`},
		{"DEL in literal", "a\x7f{x}", uritemplate.ErrSyntax, 1, `%7F`},
		{"C1 control in literal", "a\u0085{x}", uritemplate.ErrSyntax, 1, `percent-encode it as %C2%85`},
		{"noncharacter in literal", "a\uFFFE{x}", uritemplate.ErrSyntax, 1, `%EF%BF%BE`},
		{"invalid UTF-8 in literal", "caf\xe9/{x}", uritemplate.ErrSyntax, 3, `invalid UTF-8 at offset 3`},
		{"bare percent", "100%/{x}", uritemplate.ErrSyntax, 3, `"%" at offset 3 not followed by two hexadecimal digits`},
		{"percent at end", "{x}%", uritemplate.ErrSyntax, 3, `not followed by two hexadecimal digits`},
		{"percent with one digit", "{x}%4", uritemplate.ErrSyntax, 3, `not followed by two hexadecimal digits`},
		{"percent with non-hex digit", "%4G{x}", uritemplate.ErrSyntax, 0, `not followed by two hexadecimal digits`},

		// Operators.
		{"empty expression", "a{}", uritemplate.ErrSyntax, 1, `empty expression at offset 1; expected a variable name`},
		{"operator without name", "{+}", uritemplate.ErrSyntax, 2, `"}" at offset 2 where a variable name was expected`},
		{"reserved operator =", "{=path}", uritemplate.ErrSyntax, 1, `operator "=" at offset 1, which RFC 6570 reserves`},
		{"reserved operator ,", "{,x}", uritemplate.ErrSyntax, 1, `operator ","`},
		{"reserved operator !", "{!hello}", uritemplate.ErrSyntax, 1, `operator "!"`},
		{"reserved operator @", "{@x}", uritemplate.ErrSyntax, 1, `operator "@"`},
		{"reserved operator |", "{|var*}", uritemplate.ErrSyntax, 1, `operator "|"`},
		{"two operators", "{??hello}", uritemplate.ErrSyntax, 2, `"?" at offset 2 where a variable name was expected`},
		{"operator after operator", "{/?id}", uritemplate.ErrSyntax, 2, `where a variable name was expected`},

		// Variable names.
		{"dollar in name", "{$var}", uritemplate.ErrSyntax, 1, `"$" at offset 1 where a variable name was expected`},
		{"tilde in name", "/people/{~thing}", uritemplate.ErrSyntax, 9, `"~" at offset 9 where a variable name was expected`},
		{"hyphen in name", "{var}{-prefix|/-/|var}", uritemplate.ErrSyntax, 6, `"-" at offset 6 where a variable name was expected`},
		{"space after comma", "/resolution{?x, y}", uritemplate.ErrSyntax, 15, `" " at offset 15 where a variable name was expected`},
		{"leading dot", "{.}", uritemplate.ErrSyntax, 2, `"}" at offset 2 where a variable name was expected`},
		{"double dot", "{a..b}", uritemplate.ErrSyntax, 3, `"." at offset 3 in a variable name`},
		{"trailing dot", "{a.}", uritemplate.ErrSyntax, 2, `variable name ending in "." at offset 2`},
		{"bad percent in name", "{a%2}", uritemplate.ErrSyntax, 2, `"%" at offset 2 not followed by two hexadecimal digits`},
		{"unicode in name", "{café}", uritemplate.ErrSyntax, 4, `"é" at offset 4 after a variable name`},
		{"empty name after comma", "{a,}", uritemplate.ErrSyntax, 3, `"}" at offset 3 where a variable name was expected`},
		{"default value syntax", "{?empty=default,var}", uritemplate.ErrSyntax, 7, `"=" at offset 7 after a variable name; expected ",", "}"`},
		{"pipe after name", "x{?empty|foo=none}", uritemplate.ErrSyntax, 8, `"|" at offset 8 after a variable name`},
		{"plus after name", "/h{#hello+}", uritemplate.ErrSyntax, 9, `"+" at offset 9 after a variable name`},
		{"parenthesis after name", "/sparql{?query){&default-graph-uri*}", uritemplate.ErrSyntax, 14, `")" at offset 14 after a variable name`},

		// Modifiers.
		{"prefix not a number", "{var:prefix}", uritemplate.ErrSyntax, 4, `prefix modifier at offset 4 whose length is not an integer from 1 to 9999`},
		{"prefix zero", "{var:0}", uritemplate.ErrSyntax, 4, `not an integer from 1 to 9999`},
		{"prefix leading zero", "{var:05}", uritemplate.ErrSyntax, 4, `not an integer from 1 to 9999`},
		{"prefix too large", "{var:10000}", uritemplate.ErrSyntax, 4, `not an integer from 1 to 9999`},
		{"prefix empty", "{var:}", uritemplate.ErrSyntax, 4, `not an integer from 1 to 9999`},
		{"prefix then explode", "{hello:2*}", uritemplate.ErrSyntax, 8, `"*" at offset 8 after a modifier; expected "," or "}"`},
		{"explode then prefix", "{list*:2}", uritemplate.ErrSyntax, 6, `":" at offset 6 after a modifier`},
		{"double explode", "{list**}", uritemplate.ErrSyntax, 6, `"*" at offset 6 after a modifier`},
		{"explode first", "{*keys?}", uritemplate.ErrSyntax, 1, `"*" at offset 1 where a variable name was expected`},
		{"prefix then garbage", "?q={searchTerms}&c={example:color?}", uritemplate.ErrSyntax, 27, `prefix modifier at offset 27`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := uritemplate.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, nil, want error", tt.in, tmpl)
			}
			checkError(t, tt.in, err, tt.kind, tt.offset, tt.mention)
			if uritemplate.IsTemplate(tt.in) {
				t.Errorf("IsTemplate(%q) = true, want false", tt.in)
			}
		})
	}
}

func checkError(t *testing.T, in string, err, kind error, offset int, mention string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("Parse(%q) = %v, want error wrapping %v", in, err, kind)
	}
	var perr *uritemplate.Error
	if !errors.As(err, &perr) {
		t.Fatalf("Parse(%q) = %T, want *uritemplate.Error", in, err)
	}
	if perr.Offset != offset {
		t.Errorf("Parse(%q).Offset = %d, want %d (%v)", in, perr.Offset, offset, err)
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("Parse(%q) = %q, want it to mention %q", in, err, mention)
	}
}

func TestParseLimits(t *testing.T) {
	exprs := func(n int) string { return strings.Repeat("{a}", n) }
	vars := func(n int) string { return "{" + strings.TrimSuffix(strings.Repeat("a,", n), ",") + "}" }
	atLen := strings.Repeat("x", uritemplate.MaxLen-4) + "{id}"
	tests := []struct {
		name    string
		in      string
		kind    error // nil: valid
		offset  int
		mention string
	}{
		{"MaxLen bytes", atLen, nil, 0, ""},
		{"MaxLen+1 bytes", "x" + atLen, uritemplate.ErrTooLong, uritemplate.MaxLen,
			fmt.Sprintf("is %d bytes long; the limit is %d bytes", uritemplate.MaxLen+1, uritemplate.MaxLen)},
		{"MaxExpressions expressions", exprs(uritemplate.MaxExpressions), nil, 0, ""},
		{"MaxExpressions+1 expressions", exprs(uritemplate.MaxExpressions + 1), uritemplate.ErrTooComplex, 3 * uritemplate.MaxExpressions,
			fmt.Sprintf("has more than %d expressions (the one at offset %d is one too many)", uritemplate.MaxExpressions, 3*uritemplate.MaxExpressions)},
		{"MaxVariables variables", vars(uritemplate.MaxVariables), nil, 0, ""},
		{"MaxVariables+1 variables", vars(uritemplate.MaxVariables + 1), uritemplate.ErrTooComplex, 1 + 2*uritemplate.MaxVariables,
			fmt.Sprintf("has more than %d variables", uritemplate.MaxVariables)},
		{"MaxVariables over expressions", strings.Repeat("{a,b,c,d}", uritemplate.MaxVariables/4) + "{e}", uritemplate.ErrTooComplex,
			9*uritemplate.MaxVariables/4 + 1, "variables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := uritemplate.Parse(tt.in)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("Parse(%d bytes) = %v, want nil", len(tt.in), err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%d bytes) = nil, want error wrapping %v", len(tt.in), tt.kind)
			}
			checkError(t, tt.in, err, tt.kind, tt.offset, tt.mention)
		})
	}
}

// TestErrorMessageBounded checks that a huge template does not make a huge
// message: the message may go back to the client verbatim.
func TestErrorMessageBounded(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("a", 1<<20),
		strings.Repeat("a", 900) + " {x}",
		strings.Repeat("a", 900) + "{" + strings.Repeat("b", 100),
		strings.Repeat("\x00", 500),
		"{" + strings.Repeat("\xe0", 500), // each byte quotes as \xe0
	} {
		_, err := uritemplate.Parse(in)
		if err == nil {
			t.Fatalf("Parse(%d bytes) = nil, want error", len(in))
		}
		if n := len(err.Error()); n > 512 {
			t.Errorf("len(Parse(%d bytes).Error()) = %d, want <= 512: %s", len(in), n, err)
		}
	}
}

func TestIsTemplate(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"*", false},
		{"https://example.com/books/1", false},
		{"https://example.com/books/{id}", true},
		{"{+rest}", true},
		{"https://example.com/books/{id", false},      // unclosed: an exact selector
		{"https://example.com/a b/{id}", false},       // space: not a template
		{"https://example.com/books/{}", false},       // empty expression
		{"https://example.com/books/%7Bid%7D", false}, // encoded braces are literals
	}
	for _, tt := range tests {
		if got := uritemplate.IsTemplate(tt.in); got != tt.want {
			t.Errorf("IsTemplate(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// rfcExamples are the expansion examples of RFC 6570: section 1.2 (by
// level) and section 3.2, with the variables below. Where the RFC lists
// several orders of an associative array's pairs, one is enough: a template
// that matches one order matches the others the same way.
//
//	count := ("one", "two", "three")     dom := ("example", "com")
//	dub := "me/too"                      hello := "Hello World!"
//	half := "50%"                        var := "value"
//	who := "fred"                        base := "http://example.com/home/"
//	path := "/foo/bar"                   list := ("red", "green", "blue")
//	keys := [("semi",";"),("dot","."),("comma",",")]
//	v := "6"   x := "1024"   y := "768"   empty := ""   empty_keys := []
//	undef is undefined
var rfcExamples = []struct{ template, expansion string }{
	// Section 1.2, level 1.
	{"{var}", "value"},
	{"{hello}", "Hello%20World%21"},
	// Level 2.
	{"{+var}", "value"},
	{"{+hello}", "Hello%20World!"},
	{"{+path}/here", "/foo/bar/here"},
	{"here?ref={+path}", "here?ref=/foo/bar"},
	{"X{#var}", "X#value"},
	{"X{#hello}", "X#Hello%20World!"},
	// Level 3.
	{"map?{x,y}", "map?1024,768"},
	{"{x,hello,y}", "1024,Hello%20World%21,768"},
	{"{+x,hello,y}", "1024,Hello%20World!,768"},
	{"{+path,x}/here", "/foo/bar,1024/here"},
	{"{#x,hello,y}", "#1024,Hello%20World!,768"},
	{"{#path,x}/here", "#/foo/bar,1024/here"},
	{"X{.var}", "X.value"},
	{"X{.x,y}", "X.1024.768"},
	{"{/var}", "/value"},
	{"{/var,x}/here", "/value/1024/here"},
	{"{;x,y}", ";x=1024;y=768"},
	{"{;x,y,empty}", ";x=1024;y=768;empty"},
	{"{?x,y}", "?x=1024&y=768"},
	{"{?x,y,empty}", "?x=1024&y=768&empty="},
	{"?fixed=yes{&x}", "?fixed=yes&x=1024"},
	{"{&x,y,empty}", "&x=1024&y=768&empty="},
	// Level 4.
	{"{var:3}", "val"},
	{"{var:30}", "value"},
	{"{list}", "red,green,blue"},
	{"{list*}", "red,green,blue"},
	{"{keys}", "semi,%3B,dot,.,comma,%2C"},
	{"{keys*}", "semi=%3B,dot=.,comma=%2C"},
	{"{+path:6}/here", "/foo/b/here"},
	{"{+list}", "red,green,blue"},
	{"{+list*}", "red,green,blue"},
	{"{+keys}", "semi,;,dot,.,comma,,"},
	{"{+keys*}", "semi=;,dot=.,comma=,"},
	{"{#path:6}/here", "#/foo/b/here"},
	{"{#list}", "#red,green,blue"},
	{"{#list*}", "#red,green,blue"},
	{"{#keys}", "#semi,;,dot,.,comma,,"},
	{"{#keys*}", "#semi=;,dot=.,comma=,"},
	{"X{.var:3}", "X.val"},
	{"X{.list}", "X.red,green,blue"},
	{"X{.list*}", "X.red.green.blue"},
	{"X{.keys}", "X.semi,%3B,dot,.,comma,%2C"},
	{"X{.keys*}", "X.semi=%3B.dot=..comma=%2C"},
	{"{/var:1,var}", "/v/value"},
	{"{/list}", "/red,green,blue"},
	{"{/list*}", "/red/green/blue"},
	{"{/list*,path:4}", "/red/green/blue/%2Ffoo"},
	{"{/keys}", "/semi,%3B,dot,.,comma,%2C"},
	{"{/keys*}", "/semi=%3B/dot=./comma=%2C"},
	{"{;hello:5}", ";hello=Hello"},
	{"{;list}", ";list=red,green,blue"},
	{"{;list*}", ";list=red;list=green;list=blue"},
	{"{;keys}", ";keys=semi,%3B,dot,.,comma,%2C"},
	{"{;keys*}", ";semi=%3B;dot=.;comma=%2C"},
	{"{?var:3}", "?var=val"},
	{"{?list}", "?list=red,green,blue"},
	{"{?list*}", "?list=red&list=green&list=blue"},
	{"{?keys}", "?keys=semi,%3B,dot,.,comma,%2C"},
	{"{?keys*}", "?semi=%3B&dot=.&comma=%2C"},
	{"{&var:3}", "&var=val"},
	{"{&list}", "&list=red,green,blue"},
	{"{&list*}", "&list=red&list=green&list=blue"},
	{"{&keys}", "&keys=semi,%3B,dot,.,comma,%2C"},
	{"{&keys*}", "&semi=%3B&dot=.&comma=%2C"},

	// Section 3.2.1.
	{"{count}", "one,two,three"},
	{"{count*}", "one,two,three"},
	{"{/count}", "/one,two,three"},
	{"{/count*}", "/one/two/three"},
	{"{;count}", ";count=one,two,three"},
	{"{;count*}", ";count=one;count=two;count=three"},
	{"{?count}", "?count=one,two,three"},
	{"{?count*}", "?count=one&count=two&count=three"},
	{"{&count*}", "&count=one&count=two&count=three"},
	// Section 3.2.2.
	{"{half}", "50%25"},
	{"O{empty}X", "OX"},
	{"O{undef}X", "OX"},
	{"?{x,empty}", "?1024,"},
	{"?{x,undef}", "?1024"},
	{"?{undef,y}", "?768"},
	{"{keys}", "comma,%2C,dot,.,semi,%3B"},
	{"{keys*}", "dot=.,semi=%3B,comma=%2C"},
	// Section 3.2.3.
	{"{+half}", "50%25"},
	{"{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex"},
	{"{+base}index", "http://example.com/home/index"},
	{"O{+empty}X", "OX"},
	{"O{+undef}X", "OX"},
	{"up{+path}{var}/here", "up/foo/barvalue/here"},
	// Section 3.2.4.
	{"{#half}", "#50%25"},
	{"foo{#empty}", "foo#"},
	{"foo{#undef}", "foo"},
	// Section 3.2.5.
	{"{.who}", ".fred"},
	{"{.who,who}", ".fred.fred"},
	{"{.half,who}", ".50%25.fred"},
	{"www{.dom*}", "www.example.com"},
	{"X{.empty}", "X."},
	{"X{.undef}", "X"},
	{"X{.empty_keys}", "X"},
	{"X{.empty_keys*}", "X"},
	// Section 3.2.6.
	{"{/who}", "/fred"},
	{"{/who,who}", "/fred/fred"},
	{"{/half,who}", "/50%25/fred"},
	{"{/who,dub}", "/fred/me%2Ftoo"},
	{"{/var,empty}", "/value/"},
	{"{/var,undef}", "/value"},
	// Section 3.2.7.
	{"{;who}", ";who=fred"},
	{"{;half}", ";half=50%25"},
	{"{;empty}", ";empty"},
	{"{;v,empty,who}", ";v=6;empty;who=fred"},
	{"{;v,bar,who}", ";v=6;who=fred"},
	{"{;x,y,undef}", ";x=1024;y=768"},
	// Section 3.2.8.
	{"{?who}", "?who=fred"},
	{"{?half}", "?half=50%25"},
	{"{?x,y,undef}", "?x=1024&y=768"},
	// Section 3.2.9.
	{"{&who}", "&who=fred"},
	{"{&half}", "&half=50%25"},
	{"{&x,y,undef}", "&x=1024&y=768"},
}

// TestMatchRFCExamples checks that each template of RFC 6570's examples
// matches its expansion, with both matching engines.
func TestMatchRFCExamples(t *testing.T) {
	for _, ex := range rfcExamples {
		tmpl, err := uritemplate.Parse(ex.template)
		if err != nil {
			t.Errorf("Parse(%q) = %v", ex.template, err)
			continue
		}
		if !tmpl.Match(ex.expansion) {
			t.Errorf("Parse(%q).Match(%q) = false, want true", ex.template, ex.expansion)
		}
		if !uritemplate.MatchProg(tmpl, ex.expansion) {
			t.Errorf("Parse(%q) automaton on %q = false, want true", ex.template, ex.expansion)
		}
	}
}

var matchTests = []struct {
	name, template, s string
	want              bool
}{
	// Simple expansion: unreserved characters, "," and triplets.
	{"simple: value", "https://example.com/books/{id}", "https://example.com/books/1", true},
	{"simple: undefined", "https://example.com/books/{id}", "https://example.com/books/", true},
	{"simple: all unreserved", "https://example.com/books/{id}", "https://example.com/books/AZaz09-._~", true},
	{"simple: list", "https://example.com/books/{id}", "https://example.com/books/1,2", true},
	{"simple: slash", "https://example.com/books/{id}", "https://example.com/books/1/2", false},
	{"simple: question mark", "https://example.com/books/{id}", "https://example.com/books/a?b", false},
	{"simple: hash", "https://example.com/books/{id}", "https://example.com/books/a#b", false},
	{"simple: equals", "https://example.com/books/{id}", "https://example.com/books/a=b", false},
	{"simple: encoded slash", "https://example.com/books/{id}", "https://example.com/books/a%2Fb", true},
	{"simple: lower-case triplet", "https://example.com/books/{id}", "https://example.com/books/a%2fb", true},
	{"simple: encoded space", "https://example.com/books/{id}", "https://example.com/books/a%20b", true},
	{"simple: space", "https://example.com/books/{id}", "https://example.com/books/a b", false},
	{"simple: trailing space", "https://example.com/books/{id}", "https://example.com/books/1 ", false},
	{"simple: bare percent", "https://example.com/books/{id}", "https://example.com/books/100%", false},
	{"simple: one hex digit", "https://example.com/books/{id}", "https://example.com/books/a%2", false},
	{"simple: non-hex digits", "https://example.com/books/{id}", "https://example.com/books/a%zz", false},
	{"simple: encoded percent", "https://example.com/books/{id}", "https://example.com/books/100%25", true},
	{"simple: encoded unicode", "https://example.com/books/{id}", "https://example.com/books/caf%C3%A9", true},
	{"simple: raw unicode", "https://example.com/books/{id}", "https://example.com/books/café", false},
	{"simple: encoded emoji", "https://example.com/books/{id}", "https://example.com/books/%F0%9F%98%80", true},
	{"simple: other prefix", "https://example.com/books/{id}", "https://example.com/book/1", false},
	{"simple: other scheme", "https://example.com/books/{id}", "http://example.com/books/1", false},
	{"simple: too short", "https://example.com/books/{id}", "https://example.com/books", false},
	{"simple: suffix", "https://example.com/books/{id}.json", "https://example.com/books/1.2.json", true},
	{"simple: suffix missing", "https://example.com/books/{id}.json", "https://example.com/books/1.2.jso", false},
	{"simple: two variables", "{x,y}", "1024,768", true},
	{"simple: explode list", "{list*}", "a,b", true},
	{"simple: explode pairs", "{list*}", "a=1,b=2", true},
	{"simple: explode mixes list and pairs", "{list*}", "a=1,b", false},
	{"simple: explode empty key", "{list*}", "=1", false},
	{"simple: adjacent", "{a}{b}", "xy", true},
	{"simple: adjacent with slash", "{a}{b}", "x/y", false},

	// Reserved expansion: reserved characters too.
	{"reserved: path and query", "https://example.com/{+path}", "https://example.com/a/b?c=d#e", true},
	{"reserved: every reserved character", "{+r}", ":/?#[]@!$&'()*+,;=", true},
	{"reserved: space", "https://example.com/{+path}", "https://example.com/a b", false},
	{"reserved: bare percent", "https://example.com/{+path}", "https://example.com/50%", false},
	{"reserved: triplet", "https://example.com/{+path}", "https://example.com/50%25", true},
	{"reserved: raw unicode", "https://example.com/{+path}", "https://example.com/é", false},
	{"reserved: brace", "{+r}", "a{b", false},
	{"reserved: rest of path", "https://example.com/users/{user}/books/{+rest}", "https://example.com/users/alice/books/x/y", true},
	{"reserved: empty rest", "https://example.com/users/{user}/books/{+rest}", "https://example.com/users/alice/books/", true},
	{"reserved: user with slash", "https://example.com/users/{user}/books/{+rest}", "https://example.com/users/al/ice/books/x", false},
	{"reserved: literal missing", "https://example.com/users/{user}/books/{+rest}", "https://example.com/users/alice/books", false},

	// Fragment expansion.
	{"fragment: undefined", "https://example.com/page{#section}", "https://example.com/page", true},
	{"fragment: value", "https://example.com/page{#section}", "https://example.com/page#intro", true},
	{"fragment: reserved characters", "https://example.com/page{#section}", "https://example.com/page#a/b?c", true},
	{"fragment: empty", "https://example.com/page{#section}", "https://example.com/page#", true},
	{"fragment: no hash", "https://example.com/page{#section}", "https://example.com/pageX", false},

	// Label expansion.
	{"label: undefined", "https://example.com/file{.ext}", "https://example.com/file", true},
	{"label: value", "https://example.com/file{.ext}", "https://example.com/file.json", true},
	{"label: dots", "https://example.com/file{.ext}", "https://example.com/file.tar.gz", true},
	{"label: slash", "https://example.com/file{.ext}", "https://example.com/file.a/b", false},
	{"label: no dot", "https://example.com/file{.ext}", "https://example.com/filex", false},

	// Path segment expansion.
	{"path: none", "https://example.com{/a,b}", "https://example.com", true},
	{"path: one", "https://example.com{/a,b}", "https://example.com/x", true},
	{"path: two", "https://example.com{/a,b}", "https://example.com/x/y", true},
	{"path: three", "https://example.com{/a,b}", "https://example.com/x/y/z", false},
	{"path: empty", "https://example.com{/a,b}", "https://example.com/", true},
	{"path: explode", "{/p*}", "/a/b/c", true},
	{"path: explode pairs", "{/p*}", "/a=1/b=2", true},
	{"path: then literal", "{/a}/here", "/here", true},
	{"path: value then literal", "{/a}/here", "/x/here", true},

	// Path-style parameters.
	{"param: empty value", "{;x,y}", ";x", true},
	{"param: value", "{;x,y}", ";x=1", true},
	{"param: both", "{;x,y}", ";x=1;y=2", true},
	{"param: second only", "{;x,y}", ";y=2", true},
	{"param: out of order", "{;x,y}", ";y=2;x=1", false},
	{"param: unknown name", "{;x,y}", ";z=1", false},
	{"param: equals and nothing", "{;x,y}", ";x=", false},
	{"param: explode pairs", "{;k*}", ";a=1;b;c=3", true},

	// Form-style query.
	{"query: both", "{?x,y}", "?x=1&y=2", true},
	{"query: empty value", "{?x,y}", "?x=", true},
	{"query: name only", "{?x,y}", "?x", false},
	{"query: question mark only", "{?x,y}", "?", false},
	{"query: undefined", "{?x,y}", "", true},
	{"query: out of order", "{?x,y}", "?y=2&x=1", false},
	{"query: unknown name", "{?x,y}", "?z=3", false},
	{"query: repeated name", "{?x,y}", "?x=1&x=2", false},
	{"query: list", "{?x,y}", "?x=1,2", true},
	{"query: reserved in value", "{?x}", "?x=a/b", false},
	{"query: explode pairs", "{?q*}", "?a=1&b=2", true},
	{"query: explode empty value", "{?q*}", "?a=", true},
	{"query: explode key only", "{?q*}", "?a", false},
	{"query: after path", "https://example.com/search{?q,lang}", "https://example.com/search?q=go&lang=en", true},
	{"query: space in value", "https://example.com/search{?q}", "https://example.com/search?q=a b", false},
	{"query: plus is not space", "https://example.com/search{?q}", "https://example.com/search?q=a+b", false},

	// Form-style continuation.
	{"continuation: value", "?fixed=yes{&x}", "?fixed=yes&x=1", true},
	{"continuation: undefined", "?fixed=yes{&x}", "?fixed=yes", true},
	{"continuation: wrong separator", "?fixed=yes{&x}", "?fixed=yes?x=1", false},

	// Prefix modifiers count characters.
	{"prefix: at limit", "{id:3}", "abc", true},
	{"prefix: over limit", "{id:3}", "abcd", false},
	{"prefix: empty", "{id:3}", "", true},
	{"prefix: encoded characters", "{id:3}", "%C3%A9t%C3%A9", true},
	{"prefix: encoded characters over limit", "{id:3}", "%C3%A9t%C3%A9x", false},
	{"prefix: four-byte character", "{id:1}", "%F0%9F%98%80", true},
	{"prefix: lone triplets", "{id:2}", "%41%42", true},
	{"prefix: lone triplets over limit", "{id:2}", "%41%42%43", false},
	{"prefix: reserved", "{+path:6}/here", "/foo/b/here", true},
	{"prefix: reserved over limit", "{+path:6}/here", "/foo/ba/here", false},
	{"prefix: reserved lone lead byte", "{+v:2}", "%C3x", true},
	{"prefix: no comma", "{id:5}", "a,b", false},
	{"prefix: query", "{?q:2}", "?q=ab", true},
	{"prefix: query over limit", "{?q:2}", "?q=abc", false},
	{"prefix: query empty", "{?q:2}", "?q=", true},
	{"prefix: param empty", "{;q:2}", ";q", true},
	{"prefix: param equals and nothing", "{;q:2}", ";q=", false},
	{"prefix: then literal", "{a:2}.{b}", "ab.cd", true},
	{"prefix: large", "{a:9999}", strings.Repeat("a", 9999), true},
	{"prefix: large over limit", "{a:9999}", strings.Repeat("a", 10000), false},

	// Literals compare byte for byte.
	{"literal: exact", "https://example.com/x", "https://example.com/x", true},
	{"literal: longer", "https://example.com/x", "https://example.com/x/", false},
	{"literal: unicode", "https://example.com/café/{id}", "https://example.com/café/1", true},
	{"literal: unicode encoded", "https://example.com/café/{id}", "https://example.com/caf%C3%A9/1", false},
	{"literal: triplet", "https://example.com/a%20b/{id}", "https://example.com/a%20b/1", true},
	{"literal: triplet decoded", "https://example.com/a%20b/{id}", "https://example.com/a b/1", false},
	{"literal: triplet case", "https://example.com/a%2Fb/{id}", "https://example.com/a%2fb/1", false},
	{"literal: question mark", "https://example.com/search?q={q}", "https://example.com/search?q=go", true},
	{"literal: hash", "https://example.com/page#{frag}", "https://example.com/page#top", true},
	{"literal: empty template", "", "", true},
	{"literal: empty template, non-empty string", "", "a", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := uritemplate.Parse(tt.template)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.template, err)
			}
			if got := tmpl.Match(tt.s); got != tt.want {
				t.Errorf("Parse(%q).Match(%q) = %v, want %v", tt.template, tt.s, got, tt.want)
			}
			if got := uritemplate.MatchProg(tmpl, tt.s); got != tt.want {
				t.Errorf("Parse(%q) automaton on %q = %v, want %v", tt.template, tt.s, got, tt.want)
			}
		})
	}
}

// TestPlanCoverage checks which templates Match with a single scan: the
// usual Mercure shapes must, and ambiguous ones must not.
func TestPlanCoverage(t *testing.T) {
	for _, tt := range []struct {
		template string
		want     bool
	}{
		{"https://example.com/books/{id}", true},
		{"https://example.com/books/{id}.json", true}, // the suffix is compared first
		{"https://example.com/users/{user}/books/{+rest}", true},
		{"https://example.com/{a}/{b}/{c}", true},
		{"https://example.com/page{#frag}", true},
		{"https://example.com/file{.ext}", true},
		{"https://example.com{/seg}/x", true},
		{"{a}{b}", false},    // where a ends is not decided by a literal
		{"{a}.{b}", false},   // "." can continue a's value
		{"{+a}/{b}", false},  // "/" can continue a reserved value
		{"{/a,b}", false},    // "/" joins variables
		{"{?x}", false},      // named
		{"{a:3}/{b}", false}, // counted
		{"{a*}/{b}", false},  // exploded pairs hold "="
		{"https://example.com{/seg}/x{y}", false},
	} {
		tmpl, err := uritemplate.Parse(tt.template)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", tt.template, err)
		}
		if got := uritemplate.HasPlan(tmpl); got != tt.want {
			t.Errorf("HasPlan(Parse(%q)) = %v, want %v", tt.template, got, tt.want)
		}
	}
}

// TestMatchLinear checks the absence of backtracking: inputs built to make
// a backtracking matcher try every split take time linear in their length.
func TestMatchLinear(t *testing.T) {
	long := strings.Repeat("a", 100_000)
	for _, tt := range []struct{ template, s string }{
		{"{a}{b}{c}{d}{e}{f}{g}{h}!", long},
		{"{+a}/{+b}/{+c}/{+d}!", strings.Repeat("/", 100_000)},
		{strings.Repeat("{a:9999}", uritemplate.MaxExpressions) + "!", long},
		{"{?a,b,c,d,e,f,g,h}", "?a=" + long + "!"},
	} {
		tmpl, err := uritemplate.Parse(tt.template)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", tt.template, err)
		}
		if tmpl.Match(tt.s) {
			t.Errorf("Parse(%q).Match(%d bytes) = true, want false", tt.template, len(tt.s))
		}
	}
}

// TestMatchConcurrent matches with one template from many goroutines,
// which contend for its scratch space.
func TestMatchConcurrent(t *testing.T) {
	tmpl := mustParse(t, "https://example.com/search{?q,lang}")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				s := fmt.Sprintf("https://example.com/search?q=%d&lang=%d", g, i)
				if !tmpl.Match(s) || tmpl.Match(s+"/") {
					t.Errorf("Match(%q) or Match(%q) wrong", s, s+"/")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAllocs(t *testing.T) {
	plan := mustParse(t, "https://example.com/users/{user}/books/{+rest}")
	prog := mustParse(t, "https://example.com/search{?q,lang}")
	counted := mustParse(t, "https://example.com/books/{id:8}/{+rest}")
	var sink bool
	tests := []struct {
		name string
		f    func()
	}{
		{"Match plan", func() { sink = plan.Match("https://example.com/users/alice/books/a/b") }},
		{"Match automaton", func() { sink = prog.Match("https://example.com/search?q=go&lang=en") }},
		{"Match counted", func() { sink = counted.Match("https://example.com/books/%C3%A9t%C3%A9/x/y") }},
		{"IsTemplate", func() { sink = uritemplate.IsTemplate("https://example.com/books/{id}") }},
		{"IsTemplate invalid", func() { sink = uritemplate.IsTemplate("https://example.com/books/{id") }},
	}
	for _, tt := range tests {
		tt.f() // warm the automaton's scratch pool
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
	_ = sink
}

func mustParse(tb testing.TB, s string) *uritemplate.Template {
	tb.Helper()
	tmpl, err := uritemplate.Parse(s)
	if err != nil {
		tb.Fatalf("Parse(%q) = %v", s, err)
	}
	return tmpl
}

// BenchmarkMatch measures Match on typical Mercure selectors. The
// "regexp" cases run, for comparison, the RE2 expression the reference
// hub builds for the same template (github.com/yosida95/uritemplate's
// Template.Regexp, written out by hand).
func BenchmarkMatch(b *testing.B) {
	const (
		books = "https://example.com/books/{id}"
		rest  = "https://example.com/users/{user}/books/{+rest}"
		query = "https://example.com/search{?q,lang}"
		// The regexp class of a simple value: unreserved, ",", triplets.
		reU  = `(?:(?:[\x2c\x2d\x2e\x30-\x39\x41-\x5a\x5f\x61-\x7a\x7e]|%[[:xdigit:]][[:xdigit:]])*)`
		reUR = `(?:(?:[\x2d\x2e\x30-\x39\x41-\x5a\x5f\x61-\x7a\x7e\x21\x23\x24\x26-\x2c\x2f\x3a\x3b\x3d\x3f\x40\x5b\x5d]|%[[:xdigit:]][[:xdigit:]])*)`
	)
	benchmarks := []struct {
		name, template, s string
		want              bool
		re                string // the reference hub's expression, if any
	}{
		{"books/hit", books, "https://example.com/books/1234567890", true,
			`^(https://example\.com/books/)(` + reU + `)?$`},
		{"books/miss", books, "https://example.com/books/12345/67890", false,
			`^(https://example\.com/books/)(` + reU + `)?$`},
		{"booksOtherPrefix", books, "https://example.com/users/1234567890", false,
			`^(https://example\.com/books/)(` + reU + `)?$`},
		{"userBooksRest/hit", rest, "https://example.com/users/alice/books/a/b/c?x=1", true,
			`^(https://example\.com/users/)(` + reU + `)?(/books/)(` + reUR + `)?$`},
		{"query/hit", query, "https://example.com/search?q=golang&lang=en", true, ""},
		{"counted/hit", "https://example.com/books/{id:8}/{+rest}", "https://example.com/books/%C3%A9t%C3%A9/x/y", true, ""},
	}
	for _, bm := range benchmarks {
		tmpl := mustParse(b, bm.template)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tmpl.Match(bm.s) != bm.want {
					b.Fatal("wrong result")
				}
			}
		})
		if bm.re == "" {
			continue
		}
		re := regexp.MustCompile(bm.re)
		b.Run(bm.name+"/regexp", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if re.MatchString(bm.s) != bm.want {
					b.Fatal("wrong result")
				}
			}
		})
	}
}

// BenchmarkMatchWorstCase measures the most expensive templates Parse
// accepts on 1 KiB strings that keep every thread of the automaton alive
// up to the last byte of the middle, which fails.
func BenchmarkMatchWorstCase(b *testing.B) {
	benchmarks := []struct{ name, template, s string }{
		{"counted", strings.Repeat("{a:9999}", uritemplate.MaxExpressions) + "!",
			strings.Repeat("%C3%A9", 1022/6) + "/!"},
		{"namedExplode", "{;" + strings.TrimSuffix(strings.Repeat("a*,", uritemplate.MaxVariables), ",") + "}!",
			strings.Repeat(";a=b", 1022/4) + "/!"},
		{"countedNamed", "{;" + strings.TrimSuffix(strings.Repeat("a:9999,", uritemplate.MaxVariables), ",") + "}!",
			strings.Repeat(";a=%C3%A9", 1022/9) + "/!"},
		{"adjacent", strings.Repeat("{a}", uritemplate.MaxExpressions) + "!", strings.Repeat("a", 1022) + "/!"},
		{"reservedAdjacent", strings.Repeat("{+a}/", uritemplate.MaxExpressions) + "!", strings.Repeat("/", 1021) + "\"/!"},
	}
	for _, bm := range benchmarks {
		tmpl := mustParse(b, bm.template)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.s)))
			for b.Loop() {
				if tmpl.Match(bm.s) {
					b.Fatal("matched")
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := uritemplate.Parse("https://example.com/users/{user}/books/{+rest}"); err != nil {
			b.Fatal(err)
		}
	}
}

// Example shows the whole of Mercure's selector rule, of which Match is
// the last step.
func Example() {
	matches := func(selector, topic string) bool {
		if selector == "*" || selector == topic {
			return true
		}
		tmpl, err := uritemplate.Parse(selector)
		return err == nil && tmpl.Match(topic)
	}
	fmt.Println(matches("https://example.com/books/{id}", "https://example.com/books/1"))
	fmt.Println(matches("https://example.com/books/{id}", "https://example.com/books/{id}"))
	fmt.Println(matches("https://example.com/books/{id}", "https://example.com/books/1/reviews"))
	fmt.Println(matches("*", "https://example.com/books/1/reviews"))
	// Output:
	// true
	// true
	// false
	// true
}

func ExampleTemplate_Match() {
	tmpl, err := uritemplate.Parse("https://example.com/users/{user}/books/{+rest}")
	if err != nil {
		panic(err)
	}
	fmt.Println(tmpl.Match("https://example.com/users/alice/books/1/chapters/2"))
	fmt.Println(tmpl.Match("https://example.com/users/ali%20ce/books/"))
	fmt.Println(tmpl.Match("https://example.com/users/alice/bob/books/1"))
	// Output:
	// true
	// true
	// false
}

func ExampleParse_error() {
	_, err := uritemplate.Parse("https://example.com/books/{id")
	fmt.Println(err)
	// Output:
	// uri template "https://example.com/books/{id" has an expression opened at offset 26 that is not closed; expected "}" before the end
}
