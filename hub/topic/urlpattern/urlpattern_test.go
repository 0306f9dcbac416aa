package urlpattern_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

var sentinels = []error{
	urlpattern.ErrTooLong,
	urlpattern.ErrTooComplex,
	urlpattern.ErrSyntax,
	urlpattern.ErrUnsupported,
}

// components lists a pattern's normalized component strings in URL order;
// a test names only the ones it checks.
type components map[string]string

var allComponents = []urlpattern.Component{
	urlpattern.Protocol, urlpattern.Username, urlpattern.Password, urlpattern.Hostname,
	urlpattern.Port, urlpattern.Pathname, urlpattern.Search, urlpattern.Hash,
}

func mustParse(t testing.TB, s string) *urlpattern.Pattern {
	t.Helper()
	p, err := urlpattern.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q) = %v, want nil", s, err)
	}
	return p
}

// TestParseComponents checks how constructor strings split into components
// and how each is normalized. The expectations are the standard's examples
// and web-platform-tests' urlpatterntestdata.json for constructor strings.
func TestParseComponents(t *testing.T) {
	tests := []struct {
		name, in string
		want     components
	}{
		{"spec intro: category", "https://example.com/:category/*", components{
			"protocol": "https", "username": "*", "password": "*", "hostname": "example.com",
			"port": "", "pathname": "/:category/*", "search": "*", "hash": "*"}},
		{"spec intro: shop", "http{s}?://{:subdomain.}?shop.example/products/:id([0-9]+)#reviews", components{
			"protocol": "http{s}?", "username": "*", "password": "*", "hostname": "{:subdomain.}?shop.example",
			"port": "", "pathname": "/products/:id([0-9]+)", "search": "", "hash": "reviews"}},
		{"every component", "https://example.com:8080/foo?bar#baz", components{
			"protocol": "https", "username": "*", "password": "*", "hostname": "example.com",
			"port": "8080", "pathname": "/foo", "search": "bar", "hash": "baz"}},
		{"books by id", "https://example.com/books/:id", components{
			"hostname": "example.com", "pathname": "/books/:id", "search": "*", "hash": "*"}},
		{"books by numeric id", `https://example.com/books/:id(\d+)`, components{
			"pathname": `/books/:id(\d+)`}},
		{"any scheme, any subdomain", "*://*.example.com/*", components{
			"protocol": "*", "hostname": "*.example.com", "port": "", "pathname": "/*"}},
		{"optional groups", "http{s}?://{*.}?example.com/:product/:endpoint", components{
			"protocol": "http{s}?", "hostname": "{*.}?example.com", "pathname": "/:product/:endpoint"}},
		{"origin only", "https://example.com", components{
			"hostname": "example.com", "port": "", "pathname": "*", "search": "*", "hash": "*"}},
		{"search without path", "https://example.com?foo", components{
			"pathname": "/", "search": "foo", "hash": "*"}},
		{"hash without path", "https://example.com#foo", components{
			"pathname": "/", "search": "", "hash": "foo"}},
		{"port and search without path", "https://example.com:8080?foo", components{
			"port": "8080", "pathname": "/", "search": "foo"}},
		{"? after wildcard is a modifier", "https://example.com/*?foo", components{
			"pathname": "/*?foo", "search": "*"}},
		{"escaped ? starts the search", `https://example.com/*\?foo`, components{
			"pathname": "/*", "search": "foo"}},
		{"? after name is a modifier", "https://example.com/:name?foo", components{
			"pathname": "/:name?foo"}},
		{"? after regexp is a modifier", "https://example.com/(bar)?foo", components{
			"pathname": "/(bar)?foo"}},
		{"? after group is a modifier", "https://example.com/{bar}?foo", components{
			"pathname": "/{bar}?foo"}},
		{"plain group joins text", `https://example.com/{bar}\?foo`, components{
			"pathname": "/bar", "search": "foo"}},
		{"default port dropped", "https://example.com:443/", components{"port": ""}},
		{"other port kept", "http://example.com:443/", components{"port": "443"}},
		{"default port of an optional scheme kept", "http{s}?://example.com:80/", components{"port": "80"}},
		{"any port", "https://example.com:*/", components{"port": "*"}},
		{"escaped protocol", `data\:foobar`, components{
			"protocol": "data", "hostname": "", "port": "", "pathname": "foobar"}},
		{"opaque path keeps spaces", `data\:text/javascript,let x = 100/:tens?5;`, components{
			"pathname": "text/javascript,let x = 100/:tens?5;"}},
		{"urn", `urn\:isbn\:*`, components{"protocol": "urn", "pathname": `isbn\:*`}},
		// Unescaped, ":isbn" is a named group and the second ":" (not
		// followed by a name) ends the protocol.
		{"urn with unescaped colons", "urn:isbn:*", components{"protocol": "urn:isbn", "pathname": "*"}},
		{"file", "file:///foo/bar", components{"protocol": "file", "hostname": "", "pathname": "/foo/bar"}},
		{"empty opaque path", "data:", components{"protocol": "data", "pathname": ""}},
		{"username and password", `https://foo\:bar@example.com`, components{
			"username": "foo", "password": "bar", "hostname": "example.com", "pathname": "*"}},
		{"username only", "https://foo@example.com", components{"username": "foo", "password": "*"}},
		{"named username and password", "https://:user::pass@example.com", components{
			"username": ":user", "password": ":pass"}},
		{"colon in a username group", `https://foo{\:}bar@example.com`, components{
			"username": "foo%3Abar", "hostname": "example.com"}},
		{"IPv6", `http://[\:\:1]:8080/`, components{"hostname": `[\:\:1]`, "port": "8080", "pathname": "/"}},
		{"IPv6 group", "http://[:address]/", components{"hostname": "[:address]"}},
		{"IPv6 lower-cased", `http://[\:\:AB\::num]/`, components{"hostname": `[\:\:ab\::num]`}},
		{"regexp groups hide separators", "https://(sub.)?example(.com/)foo", components{
			"hostname": "(sub.)?example(.com/)foo", "pathname": "*"}},
		{"regexp hiding a colon", "https://(sub(?:.))?example.com/foo", components{
			"hostname": "(sub(?:.))?example.com", "pathname": "/foo"}},
		{"hostname lower-cased", "https://EXAMPLE.com/", components{"hostname": "example.com"}},
		{"protocol lower-cased", "HTTPS://example.com/", components{"protocol": "https"}},
		{"pathname dot segments", "https://example.com/foo/../bar", components{"pathname": "/bar"}},
		{"pathname percent-encoded", "https://example.com/café", components{"pathname": "/caf%C3%A9"}},
		{"pathname escapes kept", "https://example.com/caf%c3%a9", components{"pathname": "/caf%c3%a9"}},
		{"pathname brace escaped", `https://example.com/foo\{`, components{"pathname": "/foo%7B"}},
		{"search percent-encoded", "https://example.com/?q=café", components{"search": "q=caf%C3%A9"}},
		{"hash percent-encoded", "https://example.com/#café", components{"hash": "caf%C3%A9"}},
		{"regexp .* is a wildcard", "https://example.com/foo/(.*)", components{"pathname": "/foo/*"}},
		{"regexp segment is a named group", `https://example.com/foo/([^\/]+?)`, components{
			"pathname": `/foo/([^\/]+?)`}},
		{"suffix text grouped", `https://example.com/:foo\bar`, components{"pathname": "{/:foo}bar"}},
		{"wildcard after name", "https://example.com/{:foo}{(.*)}", components{"pathname": "/{:foo}(.*)"}},
		{"repeated optional group", "https://example.com/foo{/bar}*", components{"pathname": "/foo{/bar}*"}},
		{"search modifier text", "https://example.com/?{a}+", components{"search": "{a}+"}},
		{"double ? in search", "https://example.com/??x", components{"search": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.in)
			got := components{}
			for _, c := range allComponents {
				if _, ok := tt.want[c.String()]; ok {
					got[c.String()] = p.Component(c)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) components (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
		msg      string // a part of the message
	}{
		{"empty", "", urlpattern.ErrSyntax, `URL pattern "" is empty`},
		{"too long", "https://example.com/" + strings.Repeat("a", urlpattern.MaxLen),
			urlpattern.ErrTooLong, "is 1044 bytes long; the limit is 1024 bytes"},
		{"relative path", "/books/:id", urlpattern.ErrUnsupported,
			`URL pattern "/books/:id": the pattern is relative (it has no protocol, such as "https:"), ` +
				"and there is no base URL to resolve it against"},
		{"relative host", "example.com/foo", urlpattern.ErrUnsupported, "the pattern is relative"},
		{"unescaped colon after scheme", "mailto:alice@example.com", urlpattern.ErrUnsupported,
			`the ":" at offset 6 starts a named group, so write "\:" if it ends the protocol`},
		{"group around protocol", "{https://}example.com/foo", urlpattern.ErrUnsupported, "relative"},
		{"regexp around protocol", "(https://)example.com/foo", urlpattern.ErrUnsupported, "relative"},
		{"control character", "https://example.com/\tx", urlpattern.ErrSyntax,
			`has control character "\t" at offset 20`},
		{"invalid UTF-8", "https://example.com/\xff", urlpattern.ErrSyntax, "is not valid UTF-8 at offset 20"},
		{"duplicate name", "https://example.com/:id/:id", urlpattern.ErrSyntax,
			`at offset 24: group name "id" is used twice`},
		{"unclosed regexp", "https://example.com/(a", urlpattern.ErrSyntax,
			"at offset 20: the regexp group is not closed"},
		{"empty regexp", "https://example.com/()", urlpattern.ErrSyntax, "at offset 20: the regexp group is empty"},
		// Outside braces the "?" would start the search, leaving "/(".
		{"regexp starting with ?", "https://example.com/{(?:a)}", urlpattern.ErrSyntax,
			`at offset 22: a regexp group cannot start with "?"`},
		{"regexp cut by the search", "https://example.com/(?:a)", urlpattern.ErrSyntax,
			"at offset 20: the regexp group is not closed"},
		{"capturing group in regexp", "https://example.com/((a))", urlpattern.ErrSyntax,
			`at offset 21: a regexp group cannot contain a capturing group; use "(?:" instead`},
		{"non-ASCII regexp", "https://example.com/(café)", urlpattern.ErrSyntax,
			"at offset 24: a regexp group may contain only ASCII characters"},
		{"unclosed group", "https://example.com/{a", urlpattern.ErrSyntax, `at offset 20: the "{" group is not closed`},
		{"nested groups", "https://example.com/{a{b}}", urlpattern.ErrSyntax, `"{" groups cannot be nested`},
		{"unmatched close", "https://example.com/a}", urlpattern.ErrSyntax, `at offset 21: "}" has no matching "{"`},
		{"colon without name", "https://example.com/:", urlpattern.ErrSyntax,
			`at offset 20: ":" is not followed by a group name`},
		{"trailing backslash", `https://example.com/\`, urlpattern.ErrSyntax, `unpaired "\"`},
		{"modifier on text", "https://example.com/a+", urlpattern.ErrSyntax,
			`modifier "+" does not follow a group; to make fixed text optional or repeated, put it in braces`},
		{"space in hostname", "https://exa mple.com/", urlpattern.ErrSyntax,
			`hostname text "exa mple.com" has ' ', which a hostname cannot contain`},
		{"colon in hostname", `https://a{\:}b/`, urlpattern.ErrSyntax, `hostname text "a:b" has ':'`},
		{"escaped colon starts the port", `https://a\:b/`, urlpattern.ErrSyntax, `port text "b" is not a number`},
		{"IDNA hostname", "https://café.example/", urlpattern.ErrUnsupported,
			"internationalized domain names (IDNA) are not supported"},
		{"bad IPv6 text", `http://[\:\:xY\::num]/`, urlpattern.ErrSyntax, "IPv6 hostname text"},
		{"port too big", "https://example.com:65536/", urlpattern.ErrSyntax, "port \"65536\" is above 65535"},
		{"port not a number", "https://example.com:8o/", urlpattern.ErrSyntax, `port text "8o" is not a number`},
		{"protocol with space", "ht tp://example.com/", urlpattern.ErrSyntax, "is not a URL scheme"},
		{"protocol starting with digit", "1http://example.com/", urlpattern.ErrSyntax, "starts with a letter"},
		{"protocol regexp not ASCII", "(café)://foo", urlpattern.ErrSyntax, "may contain only ASCII characters"},
		{"dot segments above text", "https://example.com/:a{x/../..}", urlpattern.ErrSyntax,
			`has more ".." segments than segments before them`},
		{"opaque path with ?", `data\:a{\?}b`, urlpattern.ErrSyntax, "ends a path"},
		{"lookahead", "https://example.com/(a(?=b))", urlpattern.ErrUnsupported,
			`at offset 22: in regexp "a(?=b)": lookahead is not supported`},
		{"negative lookbehind", "https://example.com/((?<!a)b)", urlpattern.ErrUnsupported, "lookbehind is not supported"},
		{"backreference", `https://example.com/(a)(\1)`, urlpattern.ErrUnsupported, "backreferences are not supported"},
		{"named backreference", `https://example.com/((?<x>a)\k<x>)`, urlpattern.ErrUnsupported, "backreferences"},
		{"property escape", `https://example.com/(\p{L}+)`, urlpattern.ErrUnsupported, "Unicode property escapes"},
		{"class string", `https://example.com/([\q{abc}])`, urlpattern.ErrUnsupported, `string literals "\q{...}"`},
		{"modifier group", "https://example.com/((?i:a))", urlpattern.ErrUnsupported, "modifier groups"},
		{"invalid escape", `https://example.com/(\m)`, urlpattern.ErrSyntax, `invalid escape "\\m"`},
		{"nothing to repeat", "https://example.com/(*a)", urlpattern.ErrSyntax, `'*' has nothing to repeat`},
		{"double quantifier", "https://example.com/(a**)", urlpattern.ErrSyntax, "has nothing to repeat"},
		{"lone brace", "https://example.com/(a{)", urlpattern.ErrSyntax, `a literal "{" must be escaped`},
		{"repeat out of order", "https://example.com/(a{3,2})", urlpattern.ErrSyntax, "out of order"},
		{"range out of order", "https://example.com/([z-a])", urlpattern.ErrSyntax, "range z-a is out of order"},
		{"unescaped dash in class", `https://example.com/([\d-a])`, urlpattern.ErrSyntax, `'-' must be escaped`},
		{"mixed set operations", "https://example.com/([ab&&c])", urlpattern.ErrSyntax, "cannot mix"},
		{"reserved double punctuator", "https://example.com/([a!!])", urlpattern.ErrSyntax, "is reserved in a class"},
		{"unclosed class", "https://example.com/([a)", urlpattern.ErrSyntax, `"[" has no matching "]"`},
		{"repeat above RE2's limit", "https://example.com/(a{1001})", urlpattern.ErrTooComplex,
			"repeat count {1001} is above 1000"},
		{"regexp too large", "https://example.com/(a{600}b{600})", urlpattern.ErrTooComplex,
			"RE2 instructions; the limit is 300"},
		{"too many optional texts", "https://example.com/" + strings.Repeat("{a}?", 33), urlpattern.ErrTooComplex,
			"the pattern has 33 groups; the limit is 32"},
		{"too many groups", "https://example.com" + manyGroups(33), urlpattern.ErrTooComplex,
			"the pattern has 33 groups; the limit is 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := urlpattern.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, nil; want error wrapping %v", tt.in, p.String(), tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse(%q) = %v, want error wrapping %v", tt.in, err, tt.want)
			}
			if n := wrapped(err); n != 1 {
				t.Errorf("Parse(%q) = %v, wraps %d sentinels, want 1", tt.in, err, n)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Parse(%q) = %q, want it to contain %q", tt.in, err, tt.msg)
			}
		})
	}
}

// manyGroups returns a pathname with n distinct named groups.
func manyGroups(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "/:g%d", i)
	}
	return b.String()
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

// TestParseMessage pins one whole message: the pattern, clipped, then the
// offset and the problem.
func TestParseMessage(t *testing.T) {
	_, err := urlpattern.Parse("https://example.com/(a(?=b))")
	want := `URL pattern "https://example.com/(a(?=b))" at offset 22: in regexp "a(?=b)": ` +
		`lookahead is not supported (regexp groups run on RE2, which has none)`
	if err == nil || err.Error() != want {
		t.Errorf("Parse() = %v, want %s", err, want)
	}
	_, err = urlpattern.Parse("/books/:id")
	want = `URL pattern "/books/:id": the pattern is relative (it has no protocol, such as "https:"), ` +
		"and there is no base URL to resolve it against"
	if err == nil || err.Error() != want {
		t.Errorf("Parse() = %v, want %s", err, want)
	}
	long := "https://example.com/(" + strings.Repeat("a", 900) + "(?=b))"
	if _, err := urlpattern.Parse(long); err == nil || len(err.Error()) > 300 {
		t.Errorf("Parse(%d bytes) = %v, want an error of at most 300 bytes", len(long), err)
	}
}

// matchTests are patterns with inputs they match and inputs they do not,
// grouped by feature. The spec examples come from the URL Pattern
// Standard's introduction; the rest follow from its algorithms.
var matchTests = []struct {
	name    string
	pattern string
	match   []string
	noMatch []string
}{
	{"spec intro: category", "https://example.com/:category/*",
		[]string{"https://example.com/products/", "https://example.com/blog/our-greatest-product-ever"},
		[]string{"https://example.com/", "http://example.com/products/",
			"https://example.com:8443/blog/our-greatest-product-ever"}},
	{"spec intro: shop", "http{s}?://{:subdomain.}?shop.example/products/:id([0-9]+)#reviews",
		[]string{"https://shop.example/products/74205#reviews",
			"https://kathryn@voyager.shop.example/products/74656#reviews",
			"http://insecure.shop.example/products/1701#reviews"},
		[]string{"https://shop.example/products/2000", "http://shop.example:8080/products/0#reviews",
			"https://nx.shop.example/products/01?speed=5#reviews", "https://shop.example/products/chair#reviews"}},
	{"named group", "https://example.com/books/:id",
		[]string{"https://example.com/books/123", "https://example.com/books/abc?x=1#y",
			"https://example.com/books/a.b", "https://user:pw@example.com/books/1"},
		[]string{"https://example.com/books/", "https://example.com/books", "https://example.com/books/1/2",
			"https://example.com:8443/books/1", "http://example.com/books/1", "https://example.org/books/1",
			"https://example.com/BOOKS/1"}},
	{"regexp group", `https://example.com/books/:id(\d+)`,
		[]string{"https://example.com/books/42", "https://example.com/books/0?q"},
		[]string{"https://example.com/books/x", "https://example.com/books/4x", "https://example.com/books/"}},
	{"any scheme, any subdomain", "*://*.example.com/*",
		[]string{"https://a.example.com/x", "wss://a.b.example.com/", "https://a.example.com",
			"foo://a.example.com/x", "http://.example.com/"},
		[]string{"https://example.com/", "https://a.example.com:8080/", "https://a.example.com.evil/",
			"urn:a.example.com"}},
	{"named group in hostname", "https://:sub.example.com/",
		[]string{"https://a.example.com/", "https://www.example.com"},
		[]string{"https://a.b.example.com/", "https://example.com/", "https://a.example.com/x"}},
	{"wildcard pathname", "https://example.com/*",
		[]string{"https://example.com/", "https://example.com", "https://example.com/a/b?x#y"},
		[]string{"https://example.com.evil/", "https://other.example/"}},
	{"wildcard in the middle", "https://example.com/a/*/c",
		[]string{"https://example.com/a/b/c", "https://example.com/a/b/x/c", "https://example.com/a//c"},
		[]string{"https://example.com/a/c", "https://example.com/a/b/c/d"}},
	{"two wildcards", "https://example.com/*/x/*",
		[]string{"https://example.com/a/x/b", "https://example.com/a/x/x/x/b", "https://example.com//x/"},
		[]string{"https://example.com/a/y/b", "https://example.com/x"}},
	{"optional named group", "https://example.com/foo/:bar?",
		[]string{"https://example.com/foo", "https://example.com/foo/baz"},
		[]string{"https://example.com/foo/", "https://example.com/foo/a/b", "https://example.com/foobar"}},
	{"one or more named groups", "https://example.com/foo/:bar+",
		[]string{"https://example.com/foo/a", "https://example.com/foo/a/b"},
		[]string{"https://example.com/foo", "https://example.com/foo/", "https://example.com/foo/a//b"}},
	{"zero or more named groups", "https://example.com/foo/:bar*",
		[]string{"https://example.com/foo", "https://example.com/foo/a/b"},
		[]string{"https://example.com/foo/", "https://example.com/foobar"}},
	{"optional text", "https://example.com/foo{/bar}?",
		[]string{"https://example.com/foo", "https://example.com/foo/bar"},
		[]string{"https://example.com/foo/baz", "https://example.com/foo/"}},
	{"repeated text", "https://example.com/foo{/bar}+",
		[]string{"https://example.com/foo/bar", "https://example.com/foo/bar/bar"},
		[]string{"https://example.com/foo", "https://example.com/foo/bar/baz"}},
	{"optional repeated text", "https://example.com/foo{/bar}*",
		[]string{"https://example.com/foo", "https://example.com/foo/bar/bar"},
		[]string{"https://example.com/foo/", "https://example.com/foo/bar/baz"}},
	{"optional regexp group", `https://example.com/(\d+)?`,
		[]string{"https://example.com/123"},
		// The pathname of an http(s) URL is at least "/", and "/" is
		// neither "" nor "/" followed by digits.
		[]string{"https://example.com/", "https://example.com/x"}},
	{"group with suffix", "https://example.com/files/{:name}.html",
		[]string{"https://example.com/files/index.html", "https://example.com/files/a.b.html"},
		[]string{"https://example.com/files/.html", "https://example.com/files/a/b.html",
			"https://example.com/files/index.htm"}},
	{"optional subdomain", "https://{:sub.}?example.com/",
		[]string{"https://example.com/", "https://www.example.com/"},
		[]string{"https://a.b.example.com/", "https://wwwexample.com/"}},
	{"optional scheme letter", "http{s}?://example.com/",
		[]string{"http://example.com/", "https://example.com/"},
		[]string{"ftp://example.com/", "httpss://example.com/"}},
	{"repeated group with prefix and suffix", "https://example.com/{a:x.}+b",
		[]string{"https://example.com/a1.b", "https://example.com/a1.a2.b", "https://example.com/a1.a2.a3.b"},
		[]string{"https://example.com/b", "https://example.com/a1.", "https://example.com/a1.a2b"}},
	{"escaped pattern characters", `https://example.com/a\*b\:c`,
		[]string{"https://example.com/a*b:c"},
		[]string{"https://example.com/axb:c", "https://example.com/a*bc"}},
	{"search group", "https://example.com/search?q=:term",
		[]string{"https://example.com/search?q=go", "https://example.com/search?q=a/b"},
		[]string{"https://example.com/search?q=", "https://example.com/search?x=1", "https://example.com/search"}},
	{"search wildcard with fixed page", `https://example.com/*\?page=:n(\d+)`,
		[]string{"https://example.com/list?page=2", "https://example.com/?page=10"},
		[]string{"https://example.com/list?page=x", "https://example.com/list"}},
	// Search text is canonicalized with the query set, as the standard
	// says, while http(s) inputs use the special-query set, which also
	// encodes "'".
	{"quote in search text", "*://example.com/?q='a'",
		[]string{"foo://example.com/?q='a'"},
		[]string{"https://example.com/?q='a'", "https://example.com/?q=%27a%27"}},
	{"hash group", "https://example.com/doc#:section",
		[]string{"https://example.com/doc#intro"},
		[]string{"https://example.com/doc", "https://example.com/doc#", "https://example.com/doc?x#intro"}},
	{"fixed port", "https://example.com:8080/*",
		[]string{"https://example.com:8080/x", "https://example.com:08080/"},
		[]string{"https://example.com/x", "https://example.com:8081/x"}},
	{"any port", "https://example.com:*/*",
		[]string{"https://example.com/x", "https://example.com:8080/x", "https://example.com:443/"},
		[]string{"https://example.org:8080/x"}},
	{"default port in pattern", "http://example.com:80/",
		[]string{"http://example.com/", "http://example.com:80/"},
		[]string{"http://example.com:8080/"}},
	{"username", "https://alice@example.com/*",
		[]string{"https://alice@example.com/x", "https://alice:secret@example.com/"},
		[]string{"https://bob@example.com/x", "https://example.com/x"}},
	{"input canonicalization", "https://example.com/books/:id",
		[]string{"HTTPS://EXAMPLE.COM/books/1", "https://example.com:443/books/1", "https://example.com/a/../books/1",
			"https://example.com/books/./1", `https:\\example.com\books\1`, "https:example.com/books/1",
			"  https://example.com/books/1  ", "https://ex%41mple.com/books/1", "https://example.com/books/%2e%2e/books/1"},
		[]string{"https://example.com/books/1/.."}},
	{"percent-encoded pattern text", "https://example.com/caf%C3%A9",
		[]string{"https://example.com/café", "https://example.com/caf%C3%A9"},
		[]string{"https://example.com/caf%c3%a9", "https://example.com/cafe"}},
	{"non-ASCII pattern text", "https://example.com/café",
		[]string{"https://example.com/café", "https://example.com/caf%C3%A9"},
		[]string{"https://example.com/caf%c3%a9"}},
	{"space in pattern text", "https://example.com/a b",
		[]string{"https://example.com/a b", "https://example.com/a%20b"},
		[]string{"https://example.com/a+b"}},
	{"IPv4", "http://127.0.0.1/*",
		[]string{"http://127.0.0.1/", "http://0x7f.1/x", "http://2130706433/", "http://0177.0.0.1/"},
		[]string{"http://127.0.0.2/", "http://127.0.0.1.1/"}},
	{"IPv6", `http://[\:\:1]/`,
		[]string{"http://[::1]/", "http://[0:0::1]/", "http://[::1]:80/", "http://[0000::0001]/"},
		[]string{"http://[::2]/", "http://[::1]:8080/"}},
	// Without a special scheme the "/" before * is fixed text, not an
	// optional prefix, and an empty path is "".
	{"non-special scheme with authority", "foo://bar/*",
		[]string{"foo://bar/x", "foo://bar/", "foo://BAR/x"},
		[]string{"foo://bar", "foo://baz/x", "foo:bar/x"}},
	{"opaque path", `urn\:isbn\:*`,
		[]string{"urn:isbn:0451450523", "URN:isbn:1"},
		[]string{"urn:issn:1234", "urn:ISBN:1", "urn:isbn"}},
	{"opaque path regexp", `data\:(text|image)/:rest`,
		[]string{"data:text/plain", "data:image/png;base64,AAAA"},
		[]string{"data:audio/ogg"}},
	{"alternation", "https://example.com/(books|films)/:id",
		[]string{"https://example.com/books/1", "https://example.com/films/2"},
		[]string{"https://example.com/games/3", "https://example.com/booksfilms/1"}},
	{"class and counted repeat", "https://example.com/:sha([0-9a-f]{7,40})",
		[]string{"https://example.com/0123abc", "https://example.com/" + strings.Repeat("f", 40)},
		[]string{"https://example.com/0123ab", "https://example.com/0123abG", "https://example.com/" + strings.Repeat("f", 41)}},
	{"class set operations", "https://example.com/([[a-z]--[aeiou]]+)/([\\w&&[^_]])",
		[]string{"https://example.com/xyz/A", "https://example.com/b/9"},
		[]string{"https://example.com/xaz/A", "https://example.com/b/_"}},
	{"regexp escapes and lazy quantifiers", `https://example.com/(\x41.+?\u0042)`,
		[]string{"https://example.com/AxyzB", "https://example.com/A%20B"},
		[]string{"https://example.com/AB", "https://example.com/axb"}},
	// ^ is the start of the component, so it only matches in a group at
	// the start (after "/" in a pathname it never does).
	{"regexp anchors and word boundary", `https://example.com/x?(^a\b.*$)`,
		[]string{"https://example.com/x?a", "https://example.com/x?a-b"},
		[]string{"https://example.com/x?ab", "https://example.com/x"}},
	{"regexp anchor after a prefix", `https://example.com/(^x)`,
		nil,
		[]string{"https://example.com/x", "https://example.com/"}},
	{"named inner group", "https://example.com/((?<year>[0-9]{4})-(?:[0-9]{2}))",
		[]string{"https://example.com/2024-06"},
		[]string{"https://example.com/24-06", "https://example.com/2024-6"}},
	{"regexp dot is not a line terminator but is anything else", "https://example.com/x(.)y",
		[]string{"https://example.com/x.y", "https://example.com/x%y"},
		[]string{"https://example.com/x%0Ay"}},
	{"non-ASCII in a regexp never matches", `https://example.com/(\u00e9|e)`,
		[]string{"https://example.com/e"},
		[]string{"https://example.com/é", "https://example.com/%C3%A9"}},
	{"inputs that never match", "*://*/*",
		[]string{"https://example.com/", "foo://x/y"},
		[]string{"/relative", "example.com/x", "file:///etc/passwd", "https://café.example/",
			"https://%C3%A9.example/", "https://example.com/\xff", "https://example.com:99999/",
			"https://exa mple.com/", "http://[::1%25eth0]/", ""}},
}

func TestTest(t *testing.T) {
	for _, tt := range matchTests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.pattern)
			for _, in := range tt.match {
				if !p.Test(in) {
					t.Errorf("Parse(%q).Test(%q) = false, want true", tt.pattern, in)
				}
			}
			for _, in := range tt.noMatch {
				if p.Test(in) {
					t.Errorf("Parse(%q).Test(%q) = true, want false", tt.pattern, in)
				}
			}
		})
	}
}

func TestHasRegexpGroups(t *testing.T) {
	for in, want := range map[string]bool{
		"https://example.com/:id":       false,
		"https://example.com/*":         false,
		"https://example.com/(.*)":      false, // the same as *
		`https://example.com/:id(\d+)`:  true,
		"https://(a|b).example.com/":    true,
		`https://example.com/([^\/]+?)`: false, // the same as a named group
	} {
		if got := mustParse(t, in).HasRegexpGroups(); got != want {
			t.Errorf("Parse(%q).HasRegexpGroups() = %v, want %v", in, got, want)
		}
	}
}

func TestLiteral(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"https://example.com/books/:id", "https://example.com/books/"},
		{"https://example.com/books/:id?", "https://example.com/books"},
		{"https://example.com/books/*", "https://example.com/books/"},
		{"https://example.com/books", "https://example.com/books?"},
		{"https://example.com/books?q=1", "https://example.com/books?q=1#"},
		{"https://example.com/books?q=1#top", "https://example.com/books?q=1#top"},
		{"https://example.com:8080/x/:y", "https://example.com:8080/x/"},
		{"https://example.com:*/x", "https://example.com"},
		{"https://example.com:80{80}?/x", "https://example.com:80"},
		{"https://*.example.com/x", "https://"},
		{"https://api.*/x", "https://api."},
		{"http{s}?://example.com/", "http"},
		{"*://example.com/", ""},
		{`urn\:isbn\:*`, "urn://isbn:"},
		{"https://alice@example.com/x", "https://example.com/x?"},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.pattern).Literal(); got != tt.want {
			t.Errorf("Parse(%q).Literal() = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

// TestLiteralIsKeyPrefix checks the promise Set relies on: every input a
// pattern matches has an IndexKey starting with the pattern's Literal.
func TestLiteralIsKeyPrefix(t *testing.T) {
	for _, tt := range matchTests {
		p := mustParse(t, tt.pattern)
		for _, in := range tt.match {
			key, ok := urlpattern.IndexKey(in)
			if !ok || !strings.HasPrefix(key, p.Literal()) {
				t.Errorf("IndexKey(%q) = %q, %v; want a key starting with Parse(%q).Literal() = %q",
					in, key, ok, tt.pattern, p.Literal())
			}
		}
	}
}

func TestIndexKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/books/1", "https://example.com/books/1?#"},
		{"HTTPS://u:p@Example.COM:8080/a/../b?c#d", "https://example.com:8080/b?c#d"},
		{"https://example.com", "https://example.com/?#"},
		{"urn:isbn:1", "urn://isbn:1?#"},
	}
	for _, tt := range tests {
		if got, ok := urlpattern.IndexKey(tt.in); !ok || got != tt.want {
			t.Errorf("IndexKey(%q) = %q, %v; want %q, true", tt.in, got, ok, tt.want)
		}
	}
	if got, ok := urlpattern.IndexKey("/relative"); ok {
		t.Errorf("IndexKey(%q) = %q, true; want false", "/relative", got)
	}
}

func TestComponentString(t *testing.T) {
	if got := urlpattern.Pathname.String(); got != "pathname" {
		t.Errorf("Pathname.String() = %q, want %q", got, "pathname")
	}
	if got := urlpattern.Component(42).String(); got != "Component(42)" {
		t.Errorf("Component(42).String() = %q, want %q", got, "Component(42)")
	}
	p := mustParse(t, "https://example.com/")
	if got := p.Component(42); got != "" {
		t.Errorf("Component(42) = %q, want empty", got)
	}
	if got := p.String(); got != "https://example.com/" {
		t.Errorf("String() = %q, want the pattern", got)
	}
}

// TestTestAllocs checks that Test does not allocate for canonical inputs,
// whichever way each component is matched.
func TestTestAllocs(t *testing.T) {
	tests := []struct{ pattern, input string }{
		{"https://example.com/books/:id", "https://example.com/books/42?x=1#y"},
		{`https://example.com/books/:id(\d+)`, "https://example.com/books/42"},
		{"*://*.example.com/*", "https://a.example.com/x/y"},
		{"https://example.com/foo{/bar}*", "https://example.com/foo/bar/bar"},
		{"https://example.com/{:a.}?b/*", "https://example.com/x.b/y"},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.pattern)
		if !p.Test(tt.input) {
			t.Fatalf("Parse(%q).Test(%q) = false, want true", tt.pattern, tt.input)
		}
		if n := testing.AllocsPerRun(100, func() { p.Test(tt.input) }); n != 0 {
			t.Errorf("Parse(%q).Test(%q): %v allocs per run, want 0", tt.pattern, tt.input, n)
		}
	}
}

func ExamplePattern_Test() {
	p, err := urlpattern.Parse(`https://example.com/books/:id(\d+)`)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Test("https://example.com/books/42"))
	fmt.Println(p.Test("https://EXAMPLE.com:443/books/42?ref=feed"))
	fmt.Println(p.Test("https://example.com/books/dune"))
	// Output:
	// true
	// true
	// false
}

func ExampleParse_error() {
	_, err := urlpattern.Parse(`https://example.com/(\w+)(\1)`)
	fmt.Println(err)
	fmt.Println(errors.Is(err, urlpattern.ErrUnsupported))
	// Output:
	// URL pattern "https://example.com/(\\w+)(\\1)" at offset 26: in regexp "\\1": backreferences are not supported (regexp groups run on RE2, which has none)
	// true
}
