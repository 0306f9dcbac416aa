package publisher

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendEvent(t *testing.T) {
	cases := []struct {
		e    Event
		want string
	}{
		{Event{Topics: []string{"news"}, Data: "hi"}, `{"topics":["news"],"data":"hi"}`},
		{Event{Topics: []string{"a", "b"}, Event: "alert", Data: ""}, `{"topics":["a","b"],"event":"alert","data":""}`},
		{Event{Data: "x"}, `{"topics":[],"data":"x"}`},
		{Event{Topics: []string{"a"}, Data: "\"q\" \\ \n\r\t\x00\x1f\x7f <&> é"}, `{"topics":["a"],"data":"\"q\" \\ \n\r\t\u0000\u001f` + "\x7f <&> é\"}"},
		// Not UTF-8: copied, for the hub to refuse.
		{Event{Topics: []string{"a"}, Data: "caf\xe9"}, "{\"topics\":[\"a\"],\"data\":\"caf\xe9\"}"},
	}
	for _, tc := range cases {
		if got := string(appendEvent(nil, tc.e)); got != tc.want {
			t.Errorf("appendEvent(%+v) = %s, want %s", tc.e, got, tc.want)
		}
	}
}

// FuzzAppendString: the JSON string decodes to exactly the text it was
// made from, whenever that is UTF-8.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t\x00\x1f", "é😀\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		if !utf8.ValidString(s) {
			return
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Fatalf("appendString(%q) = %s, which decodes to %q, %v", s, b, got, err)
		}
	})
}

func TestQuoteKey(t *testing.T) {
	cases := []struct {
		key, want string
		ok        bool
	}{
		{"8e03978e-40d5-43e8-bc93-6894a57f9324", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, true},
		{`a"b\c`, `"a\"b\\c"`, true},
		{" ~", `" ~"`, true},
		{string(make([]byte, 1)), "", false},
		{"caf\xc3\xa9", "", false},
		{"\x7f", "", false},
		{"", "", false},
		{string(repeat('k', 255)), `"` + string(repeat('k', 255)) + `"`, true},
		{string(repeat('k', 256)), "", false},
		{string(repeat('"', 127)) + "k", `"` + string(repeatPair('\\', '"', 127)) + `k"`, true},
		{string(repeat('"', 128)), "", false}, // 256 bytes escaped
	}
	for _, tc := range cases {
		got, err := quoteKey(tc.key)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("quoteKey(%q) = %q, %v; want %q, ok %v", tc.key, got, err, tc.want, tc.ok)
		}
	}
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func repeatPair(a, b byte, n int) []byte {
	var out []byte
	for range n {
		out = append(out, a, b)
	}
	return out
}

func TestNewKey(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		k := newKey()
		if !uuid4.MatchString(k) {
			t.Fatalf("newKey() = %q, want a version 4 UUID", k)
		}
		if seen[k] {
			t.Fatalf("newKey() repeated %q", k)
		}
		seen[k] = true
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{"3600", maxRetryAfter},
		{"99999999999999999999", 0},
		{"Sun, 01 Mar 2026 12:00:05 GMT", 5 * time.Second},
		{"Sun, 01 Mar 2026 11:59:00 GMT", 0},
	}
	for _, tc := range cases {
		if got := parseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// FuzzParseRetryAfter: any header value gives a wait within bounds.
func FuzzParseRetryAfter(f *testing.F) {
	for _, v := range []string{"1", "Sun, 01 Mar 2026 12:00:05 GMT", "-1", "1e9", ""} {
		f.Add(v)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v, want within [0, %v]", v, d, maxRetryAfter)
		}
	})
}

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, time.Second
	cases := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{1000, time.Second},
	}
	for _, tc := range cases {
		if got := backoff(lo, hi, tc.attempt); got != tc.want {
			t.Errorf("backoff(%v, %v, %d) = %v, want %v", lo, hi, tc.attempt, got, tc.want)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://hub", "http://", "http://hub/?x=1", "http://hub/#f", "http://[::1"} {
		if _, err := New(Config{URL: u}); err == nil {
			t.Errorf("New(URL %q) = nil error, want one", u)
		}
	}
	for _, tok := range []string{"a\nb", "a\rb", "a\x00b", "a\x7fb"} {
		if _, err := New(Config{URL: "http://hub", Token: tok}); err == nil {
			t.Errorf("New with token %q = nil error, want one", tok)
		}
	}
	for u, want := range map[string]string{
		"http://hub":           "http://hub/publish",
		"https://hub:8443/":    "https://hub:8443/publish",
		"http://proxy/ssehub/": "http://proxy/ssehub/publish",
	} {
		c, err := New(Config{URL: u})
		if err != nil || c.endpoint != want {
			t.Errorf("New(URL %q): endpoint %q, %v; want %q", u, c.endpoint, err, want)
		}
	}
}
