package frontdoor

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The head of a stream is the shared head, then the CORS headers of its
// origin, then the front door's own lines: byte for byte what clients of
// the native API have always been sent.
func TestStreamHead(t *testing.T) {
	d := New(nil, Config{Retry: 1500 * time.Millisecond})
	const (
		top = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
			"X-Accel-Buffering: no\r\nConnection: close\r\n"
		preamble = "\r\nretry: 1500\n: ssehub\n\n"
		cors     = "Access-Control-Allow-Origin: https://app.example.com\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n"
	)
	policy := NewCORS([]string{"https://app.example.com"}, CORSOptions{})
	for _, tt := range []struct {
		name   string
		origin string
		header [][2]string
		want   string
	}{
		{"same origin", "", nil, top + preamble},
		{"origin not allowed", "https://evil.example.com", nil, top + preamble},
		{"allowed origin", "https://app.example.com", nil, top + cors + preamble},
		{"a door's lines", "https://app.example.com", [][2]string{{"Mercure-Last-Event-ID", "#1-0"}, {"Last-Event-ID", "#1-0"}},
			top + cors + "Mercure-Last-Event-ID: #1-0\r\nLast-Event-ID: #1-0\r\n" + preamble},
		{"a value cannot split the head", "", [][2]string{{"Mercure-Last-Event-ID", "a\r\nSet-Cookie: x\x00\n"}},
			top + "Mercure-Last-Event-ID: a  Set-Cookie: x  \r\n" + preamble},
	} {
		if got := string(d.Head(policy, tt.origin, tt.header)); got != tt.want {
			t.Errorf("%s: head\n%q, want\n%q", tt.name, got, tt.want)
		}
		// What a Mercure stream's head is made of once it resumed.
		plain := d.Head(policy, tt.origin, nil)
		before := string(plain)
		if got := string(WithHeader(plain, tt.header)); got != tt.want {
			t.Errorf("%s: WithHeader\n%q, want\n%q", tt.name, got, tt.want)
		}
		if string(plain) != before {
			t.Errorf("%s: WithHeader modified the head it was given", tt.name)
		}
	}
	if got := d.Head(nil, "https://app.example.com", nil); &got[0] != &d.head[0] {
		t.Errorf("a head without extra lines is a copy, want the shared one")
	}
}

func TestGoodbyeIsJitteredAroundRetry(t *testing.T) {
	d := New(nil, Config{Retry: time.Second})
	for range 100 {
		var ms int
		b := d.Goodbye()
		if _, err := fmt.Sscanf(string(b), "retry: %d\n\n", &ms); err != nil || ms < 500 || ms >= 1500 || !strings.HasSuffix(string(b), "\n\n") {
			t.Fatalf("Goodbye() = %q, want retry: in [500, 1500) and a blank line", b)
		}
	}
}
