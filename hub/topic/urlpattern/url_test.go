package urlpattern

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseURL checks input canonicalization against the URL Standard's
// results for the same URLs (what new URL(input) gives in a browser),
// except where the package documentation says otherwise.
func TestParseURL(t *testing.T) {
	type comps struct {
		Protocol, Username, Password, Hostname, Port, Pathname, Search, Hash string
	}
	tests := []struct {
		name, in string
		want     *comps // nil: not parsed
	}{
		{"plain", "https://example.com/a/b?q=1#f", &comps{"https", "", "", "example.com", "", "/a/b", "q=1", "f"}},
		{"origin", "https://example.com", &comps{"https", "", "", "example.com", "", "/", "", ""}},
		{"everything rewritten", "HTTPS://User:Pa:ss@EXAMPLE.COM:443/a/./b/../c?q=1#f",
			&comps{"https", "User", "Pa%3Ass", "example.com", "", "/a/c", "q=1", "f"}},
		{"userinfo with @", "https://a@b@example.com/", &comps{"https", "a%40b", "", "example.com", "", "/", "", ""}},
		{"empty userinfo", "https://@example.com/", &comps{"https", "", "", "example.com", "", "/", "", ""}},
		{"no slashes", "https:example.com/x", &comps{"https", "", "", "example.com", "", "/x", "", ""}},
		{"many slashes", `https:\\/example.com\x\y`, &comps{"https", "", "", "example.com", "", "/x/y", "", ""}},
		{"port leading zeros", "https://x:08080/", &comps{"https", "", "", "x", "8080", "/", "", ""}},
		{"port zero", "https://x:0/", &comps{"https", "", "", "x", "0", "/", "", ""}},
		{"empty port", "https://x:/", &comps{"https", "", "", "x", "", "/", "", ""}},
		{"default ws port", "ws://x:80/", &comps{"ws", "", "", "x", "", "/", "", ""}},
		{"IPv4 hex and short", "http://0x7f.1/", &comps{"http", "", "", "127.0.0.1", "", "/", "", ""}},
		{"IPv4 three parts", "http://1.2.3/", &comps{"http", "", "", "1.2.0.3", "", "/", "", ""}},
		{"IPv4 one number", "http://4294967295/", &comps{"http", "", "", "255.255.255.255", "", "/", "", ""}},
		{"IPv4 octal", "http://0300.0250.0.1/", &comps{"http", "", "", "192.168.0.1", "", "/", "", ""}},
		{"IPv4 trailing dot", "http://1.2.3.4./", &comps{"http", "", "", "1.2.3.4", "", "/", "", ""}},
		{"IPv6 compressed", "http://[0:0:0:0:0:0:0:1]/", &comps{"http", "", "", "[::1]", "", "/", "", ""}},
		{"IPv6 longest run", "http://[1:0:0:2:0:0:0:3]/", &comps{"http", "", "", "[1:0:0:2::3]", "", "/", "", ""}},
		{"IPv6 first run", "http://[1:0:0:2:0:0:3:4]/", &comps{"http", "", "", "[1::2:0:0:3:4]", "", "/", "", ""}},
		{"IPv6 single zero", "http://[1:0:2:3:4:5:6:7]/", &comps{"http", "", "", "[1:0:2:3:4:5:6:7]", "", "/", "", ""}},
		{"IPv6 with IPv4", "http://[::FFFF:1.2.3.4]:8080/", &comps{"http", "", "", "[::ffff:102:304]", "8080", "/", "", ""}},
		{"percent in host", "http://ex%41mple.com/", &comps{"http", "", "", "example.com", "", "/", "", ""}},
		{"path percent-encoding", "https://x/a b/\"c\"/{d}/é", &comps{"https", "", "", "x", "", "/a%20b/%22c%22/%7Bd%7D/%C3%A9", "", ""}},
		{"path escapes kept", "https://x/%41%zz", &comps{"https", "", "", "x", "", "/%41%zz", "", ""}},
		{"dot segments", "https://x/a/%2e%2E/b/%2e", &comps{"https", "", "", "x", "", "/b/", "", ""}},
		{"dot segments above root", "https://x/../../a", &comps{"https", "", "", "x", "", "/a", "", ""}},
		{"trailing double dot", "https://x/a/b/..", &comps{"https", "", "", "x", "", "/a/", "", ""}},
		{"dots that are not segments", "https://x/a./.b/...", &comps{"https", "", "", "x", "", "/a./.b/...", "", ""}},
		{"special query set", "https://x/?a b'c\"<>", &comps{"https", "", "", "x", "", "/", "a%20b%27c%22%3C%3E", ""}},
		{"query set", "foo://x/?a b'c", &comps{"foo", "", "", "x", "", "/", "a%20b'c", ""}},
		{"fragment set", "https://x/#a b`c#", &comps{"https", "", "", "x", "", "/", "", "a%20b%60c#"}},
		{"empty query and fragment", "https://x/?#", &comps{"https", "", "", "x", "", "/", "", ""}},
		{"trimmed", " \x01https://x/ \x1f", &comps{"https", "", "", "x", "", "/", "", ""}},
		{"tabs and newlines removed", "ht\ttps://x/a\nb", &comps{"https", "", "", "x", "", "/ab", "", ""}},
		{"opaque path", "urn:isbn:0451450523", &comps{"urn", "", "", "", "", "isbn:0451450523", "", ""}},
		{"opaque path kept as is", "mailto:Joe@Example.com", &comps{"mailto", "", "", "", "", "Joe@Example.com", "", ""}},
		{"opaque path space before query", "javascript:a b ?x", &comps{"javascript", "", "", "", "", "a b%20", "x", ""}},
		{"opaque path encoded", "data:é\x7f", &comps{"data", "", "", "", "", "%C3%A9%7F", "", ""}},
		{"non-special authority", "foo://Host:99/P\\Q?q#f", &comps{"foo", "", "", "host", "99", "/P\\Q", "q", "f"}},
		{"non-special empty host", "foo:///x", &comps{"foo", "", "", "", "", "/x", "", ""}},
		{"non-special no path", "foo://x", &comps{"foo", "", "", "x", "", "", "", ""}},
		{"non-special path only", "foo:/a/../b", &comps{"foo", "", "", "", "", "/b", "", ""}},
		{"non-special host encoded", "foo://a%20b/", &comps{"foo", "", "", "a%20b", "", "/", "", ""}},

		{"relative path", "/a", nil},
		{"relative", "a/b", nil},
		{"empty", "", nil},
		{"scheme starts with digit", "1a:b", nil},
		{"file", "file:///etc/passwd", nil},
		{"empty host", "https:///", nil},
		{"empty host before port", "https://:80/", nil},
		{"host missing after userinfo", "https://u@/", nil},
		{"port not a number", "https://x:8o/", nil},
		{"port too big", "https://x:65536/", nil},
		{"port much too big", "https://x:000000099999999/", nil},
		{"forbidden host character", "https://a b/", nil},
		{"forbidden opaque host character", "foo://a<b/", nil},
		{"forbidden domain character", "https://a%25b/", nil},
		{"IDNA", "https://café.example/", nil},
		{"IDNA percent-encoded", "https://caf%C3%A9.example/", nil},
		{"IPv4 part too big", "http://1.2.3.256/", nil},
		{"IPv4 too many parts", "http://1.2.3.4.5/", nil},
		{"IPv4 bad octal", "http://09/", nil},
		{"IPv4 too big", "http://4294967296/", nil},
		{"ends in a number", "http://example.123/", nil},
		{"IPv6 unclosed", "http://[::1/", nil},
		{"IPv6 zone", "http://[::1%25eth0]/", nil},
		{"IPv6 IPv4 only", "http://[1.2.3.4]/", nil},
		{"IPv6 invalid", "http://[::g]/", nil},
		{"not UTF-8", "https://x/\xff", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u url
			ok := parseURL(tt.in, &u)
			if tt.want == nil {
				if ok {
					t.Errorf("parseURL(%q) = %q, true; want false", tt.in, u.c)
				}
				return
			}
			if !ok {
				t.Fatalf("parseURL(%q) = false, want true", tt.in)
			}
			got := comps{u.c[Protocol], u.c[Username], u.c[Password], u.c[Hostname], u.c[Port],
				u.c[Pathname], u.c[Search], u.c[Hash]}
			if diff := cmp.Diff(*tt.want, got); diff != "" {
				t.Errorf("parseURL(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestParseInputBase checks how relative inputs are resolved against a base
// URL. The expectations are what new URL(input, base) gives (Node.js's
// WHATWG URL parser).
func TestParseInputBase(t *testing.T) {
	type comps struct {
		Protocol, Username, Password, Hostname, Port, Pathname, Search, Hash string
	}
	tests := []struct {
		base, in string
		want     *comps // nil: not parsed
	}{
		{"https://u:p@example.com:8443/a/b/c?q#f", "/x", &comps{"https", "u", "p", "example.com", "8443", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "x", &comps{"https", "u", "p", "example.com", "8443", "/a/b/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "../x", &comps{"https", "u", "p", "example.com", "8443", "/a/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "../../../../x", &comps{"https", "u", "p", "example.com", "8443", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "./", &comps{"https", "u", "p", "example.com", "8443", "/a/b/", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "..", &comps{"https", "u", "p", "example.com", "8443", "/a/", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "?y", &comps{"https", "u", "p", "example.com", "8443", "/a/b/c", "y", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "#g", &comps{"https", "u", "p", "example.com", "8443", "/a/b/c", "q", "g"}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "", &comps{"https", "u", "p", "example.com", "8443", "/a/b/c", "q", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "//other.com/x", &comps{"https", "", "", "other.com", "", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "///other.com/x", &comps{"https", "", "", "other.com", "", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "\\\\other.com\\x", &comps{"https", "", "", "other.com", "", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "/\\other.com/y", &comps{"https", "", "", "other.com", "", "/y", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "\\x", &comps{"https", "u", "p", "example.com", "8443", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "https:x", &comps{"https", "u", "p", "example.com", "8443", "/a/b/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "https:/x", &comps{"https", "u", "p", "example.com", "8443", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "https://x", &comps{"https", "", "", "x", "", "/", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "HTTPS:x", &comps{"https", "u", "p", "example.com", "8443", "/a/b/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "http:x", &comps{"http", "", "", "x", "", "/", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "https:", &comps{"https", "u", "p", "example.com", "8443", "/a/b/c", "q", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "x y?a b'#c d", &comps{"https", "u", "p", "example.com", "8443", "/a/b/x%20y", "a%20b%27", "c%20d"}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "1a:b", &comps{"https", "u", "p", "example.com", "8443", "/a/b/1a:b", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "a b:c", &comps{"https", "u", "p", "example.com", "8443", "/a/b/a%20b:c", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", " /x\t", &comps{"https", "u", "p", "example.com", "8443", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "%2e%2e/x", &comps{"https", "u", "p", "example.com", "8443", "/a/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "foo:bar", &comps{"foo", "", "", "", "", "bar", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "//", nil},
		{"https://u:p@example.com:8443/a/b/c?q#f", "//@x", &comps{"https", "", "", "x", "", "/", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "?", &comps{"https", "u", "p", "example.com", "8443", "/a/b/c", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "#", &comps{"https", "u", "p", "example.com", "8443", "/a/b/c", "q", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "/..", &comps{"https", "u", "p", "example.com", "8443", "/", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "x/%2E/y", &comps{"https", "u", "p", "example.com", "8443", "/a/b/x/y", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "https:\\\\h\\x", &comps{"https", "", "", "h", "", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "https:/\\h", &comps{"https", "", "", "h", "", "/", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "wss:x", &comps{"wss", "", "", "x", "", "/", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "//h:443/x", &comps{"https", "", "", "h", "", "/x", "", ""}},
		{"https://u:p@example.com:8443/a/b/c?q#f", "//h:8443", &comps{"https", "", "", "h", "8443", "/", "", ""}},
		{"foo://host/a/b", "x", &comps{"foo", "", "", "host", "", "/a/x", "", ""}},
		{"foo://host/a/b", "\\x", &comps{"foo", "", "", "host", "", "/a/\\x", "", ""}},
		{"foo://host/a/b", "//h2/x", &comps{"foo", "", "", "h2", "", "/x", "", ""}},
		{"foo://host/a/b", "//h2", &comps{"foo", "", "", "h2", "", "", "", ""}},
		{"foo://host/a/b", "?q'", &comps{"foo", "", "", "host", "", "/a/b", "q'", ""}},
		{"foo://host/a/b", "/x", &comps{"foo", "", "", "host", "", "/x", "", ""}},
		{"foo://host/a/b", "..//x", &comps{"foo", "", "", "host", "", "//x", "", ""}},
		{"foo://host/a/b", "foo:x", &comps{"foo", "", "", "", "", "x", "", ""}},
		{"foo://host/a/b", "//", &comps{"foo", "", "", "", "", "", "", ""}},
		{"foo://host", "x", &comps{"foo", "", "", "host", "", "/x", "", ""}},
		{"foo://host", "?q", &comps{"foo", "", "", "host", "", "", "q", ""}},
		{"foo://host", "#h", &comps{"foo", "", "", "host", "", "", "", "h"}},
		{"foo://host", "", &comps{"foo", "", "", "host", "", "", "", ""}},
		{"urn:isbn:1", "#f", &comps{"urn", "", "", "", "", "isbn:1", "", "f"}},
		{"urn:isbn:1", "x", nil},
		{"urn:isbn:1", "/x", nil},
		{"urn:isbn:1", "?q", nil},
		{"urn:isbn:1", "", nil},
		{"foo:/a/b", "c", &comps{"foo", "", "", "", "", "/a/c", "", ""}},
		{"foo:/a/b", "//h/x", &comps{"foo", "", "", "h", "", "/x", "", ""}},
		{"foo:/a/b", "?q", &comps{"foo", "", "", "", "", "/a/b", "q", ""}},
		{"https://example.com", "x", &comps{"https", "", "", "example.com", "", "/x", "", ""}},
		{"https://example.com", "", &comps{"https", "", "", "example.com", "", "/", "", ""}},
		{"https://example.com", "../x", &comps{"https", "", "", "example.com", "", "/x", "", ""}},
		{"http://[::1]:8080/d/", "x", &comps{"http", "", "", "[::1]", "8080", "/d/x", "", ""}},
		{"http://[::1]:8080/d/", "//[::2]/y", &comps{"http", "", "", "[::2]", "", "/y", "", ""}},
	}
	for _, tt := range tests {
		b, err := NewBase(tt.base)
		if err != nil {
			t.Fatalf("NewBase(%q) = %v", tt.base, err)
		}
		var u url
		ok := parseInput(tt.in, b, &u)
		if tt.want == nil {
			if ok {
				t.Errorf("parseInput(%q, %q) = %q, true; want false", tt.in, tt.base, u.c)
			}
			continue
		}
		if !ok {
			t.Errorf("parseInput(%q, %q) = false, want true", tt.in, tt.base)
			continue
		}
		got := comps{u.c[Protocol], u.c[Username], u.c[Password], u.c[Hostname], u.c[Port],
			u.c[Pathname], u.c[Search], u.c[Hash]}
		if diff := cmp.Diff(*tt.want, got); diff != "" {
			t.Errorf("parseInput(%q, %q) (-want +got):\n%s", tt.in, tt.base, diff)
		}
	}
}

// TestPatternTextCanonicalization checks the encoding callbacks on pieces
// of fixed text.
func TestPatternTextCanonicalization(t *testing.T) {
	tests := []struct {
		name string
		enc  encoder
		in   string
		want string // "" with err set: an error
		err  error
	}{
		{"protocol", encodeProtocol, "HTTP+Web.x-1", "http+web.x-1", nil},
		{"protocol with colon", encodeProtocol, "a:b", "", ErrSyntax},
		{"userinfo", encodeUserinfo, "a:b@c/é", "a%3Ab%40c%2F%C3%A9", nil},
		{"hostname", encodeHostname, "WWW.Example.COM", "www.example.com", nil},
		{"hostname percent", encodeHostname, "a%b", "a%b", nil},
		{"hostname slash", encodeHostname, "a/b", "", ErrSyntax},
		{"hostname IDNA", encodeHostname, "é", "", ErrUnsupported},
		{"IPv6 hostname", encodeIPv6Hostname, "[::AB:1]", "[::ab:1]", nil},
		{"port", encodePort, "0080", "80", nil},
		{"port max", encodePort, "65535", "65535", nil},
		{"pathname", encodePathname, "/a b/./c/../d", "/a%20b/d", nil},
		{"pathname without slash", encodePathname, "a/./b", "a/b", nil},
		{"pathname single dot", encodePathname, ".", ".", nil},
		{"pathname leading dots", encodePathname, "../foo", "../foo", nil},
		{"pathname backslash is not a separator", encodePathname, `a\..`, `a\..`, nil},
		{"pathname ? and #", encodePathname, "/a?b#c", "/a%3Fb%23c", nil},
		{"opaque pathname", encodeOpaquePathname, "a b\x7f", "a b%7F", nil},
		{"search", encodeSearch, "q=a b'#", "q=a%20b'%23", nil},
		{"hash", encodeHash, "a b`#", "a%20b%60#", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.enc(tt.in)
			if tt.err != nil {
				if err == nil || err.kind != tt.err {
					t.Errorf("encode(%q) = %q, %v; want error %v", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("encode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestParseURLAllocs checks that a canonical input is parsed without
// allocating: its components are substrings of it.
func TestParseURLAllocs(t *testing.T) {
	for _, in := range []string{
		"https://example.com/books/42?x=1#y",
		"https://user:pw@example.com:8080/a/b",
		"urn:isbn:0451450523",
		"foo://host/p",
	} {
		var u url
		if n := testing.AllocsPerRun(100, func() { parseURL(in, &u) }); n != 0 {
			t.Errorf("parseURL(%q): %v allocs per run, want 0", in, n)
		}
	}
}

// FuzzParseURL feeds the input parser untrusted topics: it must not panic,
// and for special schemes canonicalization must be idempotent: the URL
// written back from the components parses to the same components. Each
// input is also resolved against a base URL, as relative Mercure topics
// are, with the same checks, and an absolute input must resolve to
// itself.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/a/b?q=1#f", "HTTPS://User:Pa:ss@EXAMPLE.COM:443/a/./b/../c?q=1#f",
		"http://0x7f.1/", "http://[::FFFF:1.2.3.4]:8080/", "https://x/a b/\"c\"/{d}/é", `https:\\/x\y`,
		"urn:isbn:1", "foo://Host:99/P\\Q?q#f", "javascript:a b ?x", "https://x/%2e%2E/./..", "http://1.2.3/",
		"/a/b", "a/../../b", "?q", "#h", "", "//other.example/x", "https:x", "HTTPS:/x", `\\h\x`, "1a:b c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Longer inputs reach no new code, and the fuzzer minimizes each
		// interesting one byte by byte, which for megabyte inputs stalls
		// it for minutes.
		if len(s) > 1024 {
			return
		}
		var u url
		absolute := parseURL(s, &u)
		checkResolved(t, s, fuzzBase, absolute, u)
		if !absolute {
			return
		}
		checkReparse(t, s, u)
	})
}

// fuzzBase is the base URL FuzzParseURL resolves its inputs against.
var fuzzBase = func() *Base {
	b, err := NewBase("https://u:p@hub.example.com:8443/.well-known/mercure?q#f")
	if err != nil {
		panic(err)
	}
	return b
}()

// checkResolved checks s resolved against base: an absolute URL resolves
// to itself, but for the special relative form "https:x" against an https
// base, and the result is canonical (see checkReparse).
func checkResolved(t *testing.T, s string, base *Base, absolute bool, abs url) {
	t.Helper()
	var u url
	ok := parseInput(s, base, &u)
	scheme := base.u.c[Protocol]
	trimmed := trimInput(s)
	sameScheme := len(trimmed) > len(scheme) && trimmed[len(scheme)] == ':' &&
		strings.EqualFold(trimmed[:len(scheme)], scheme) && !strings.HasPrefix(trimmed[len(scheme)+1:], "//")
	if absolute && !sameScheme && (!ok || u != abs) {
		t.Fatalf("parseURL(%q) = %q, but parseInput with base %q = %q, %v", s, abs.c, base, u.c, ok)
	}
	if ok {
		checkReparse(t, s, u)
	}
}

// checkReparse checks that canonicalization is idempotent for special
// schemes: the URL written back from u, the components of s, parses to
// the same components.
func checkReparse(t *testing.T, s string, u url) {
	t.Helper()
	if _, special := defaultPort(u.c[Protocol]); !special {
		return
	}
	var b strings.Builder
	b.WriteString(u.c[Protocol] + "://")
	if u.c[Username] != "" || u.c[Password] != "" {
		b.WriteString(u.c[Username] + ":" + u.c[Password] + "@")
	}
	b.WriteString(u.c[Hostname])
	if u.c[Port] != "" {
		b.WriteString(":" + u.c[Port])
	}
	b.WriteString(u.c[Pathname] + "?" + u.c[Search] + "#" + u.c[Hash])
	var again url
	if !parseURL(b.String(), &again) {
		t.Fatalf("parseURL(%q) = %q, but its serialization %q does not parse", s, u.c, b.String())
	}
	if again != u {
		t.Fatalf("parseURL(%q) = %q; its serialization %q parses to %q", s, u.c, b.String(), again.c)
	}
}
