package sse

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name      string
		id, event string
		data      string
		want      string
	}{
		{"data only", "", "", "hello", "data: hello\n\n"},
		{"empty data", "", "", "", "data: \n\n"},
		{"id and event", "7", "price", "1.5", "id: 7\nevent: price\ndata: 1.5\n\n"},
		{"message type omitted", "", "message", "x", "data: x\n\n"},
		{"LF", "", "", "a\nb", "data: a\ndata: b\n\n"},
		{"CR", "", "", "a\rb", "data: a\ndata: b\n\n"},
		{"CRLF is one break", "", "", "a\r\nb", "data: a\ndata: b\n\n"},
		{"LFCR is two breaks", "", "", "a\n\rb", "data: a\ndata: \ndata: b\n\n"},
		{"trailing LF", "", "", "a\n", "data: a\ndata: \n\n"},
		{"trailing CR", "", "", "a\r", "data: a\ndata: \n\n"},
		{"lone CR", "", "", "\r", "data: \ndata: \n\n"},
		{"lone CRLF", "", "", "\r\n", "data: \ndata: \n\n"},
		{"CR CRLF", "", "", "\r\r\n", "data: \ndata: \ndata: \n\n"},
		{"mixed", "", "", "a\r\nb\rc\nd", "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"leading space kept", " 1", " e", " x", "id:  1\nevent:  e\ndata:  x\n\n"},
		{"colon in data", "", "", "a: b", "data: a: b\n\n"},
		{"NUL in data", "", "", "a\x00b", "data: a\x00b\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendEvent(nil, tt.id, tt.event, []byte(tt.data))
			if string(got) != tt.want {
				t.Errorf("AppendEvent(nil, %q, %q, %q) = %q, want %q", tt.id, tt.event, tt.data, got, tt.want)
			}
			if n := EventSize(tt.id, tt.event, []byte(tt.data)); n != len(got) {
				t.Errorf("EventSize(%q, %q, %q) = %d, want %d", tt.id, tt.event, tt.data, n, len(got))
			}
		})
	}
}

func TestAppendEventAppends(t *testing.T) {
	dst := []byte("prefix")
	got := AppendEvent(dst, "", "", []byte("x"))
	if want := "prefixdata: x\n\n"; string(got) != want {
		t.Errorf("AppendEvent(%q, ...) = %q, want %q", "prefix", got, want)
	}
}

func TestEventSize(t *testing.T) {
	// Lengths and break mixes that a hand-written table would miss.
	pieces := []string{"", "a", "\r", "\n", "\r\n", "\n\r", "xyz", "\r\r", "\n\n"}
	for _, a := range pieces {
		for _, b := range pieces {
			for _, c := range pieces {
				data := []byte(a + b + c)
				if got, want := EventSize("id", "ev", data), len(AppendEvent(nil, "id", "ev", data)); got != want {
					t.Errorf("EventSize(%q, %q, %q) = %d, want %d", "id", "ev", data, got, want)
				}
			}
		}
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"", ":\n"},
		{"ping", ": ping\n"},
		{" x", ":  x\n"},
		{"a\nb", ": a\n: b\n"},
		{"a\r\nb\rc", ": a\n: b\n: c\n"},
	}
	for _, tt := range tests {
		if got := AppendComment(nil, tt.text); string(got) != tt.want {
			t.Errorf("AppendComment(nil, %q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestAppendRetry(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "retry: 0\n"},
		{1500 * time.Millisecond, "retry: 1500\n"},
		{time.Millisecond + time.Microsecond, "retry: 1\n"},
		{-time.Second, "retry: 0\n"},
		{time.Hour, "retry: 3600000\n"},
	}
	for _, tt := range tests {
		if got := AppendRetry(nil, tt.d); string(got) != tt.want {
			t.Errorf("AppendRetry(nil, %v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestValidateField(t *testing.T) {
	tests := []struct {
		s    string
		want error
	}{
		{"", nil},
		{"abc-123", nil},
		{" spaced ", nil},
		{"ünïcode", nil},
		{"a\nb", ErrFieldControlChar},
		{"a\rb", ErrFieldControlChar},
		{"a\x00b", ErrFieldControlChar},
		{"\n", ErrFieldControlChar},
	}
	for _, tt := range tests {
		if got := ValidateField(tt.s); !errors.Is(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("ValidateField(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
	if msg := ErrFieldControlChar.Error(); !strings.HasPrefix(msg, "sse: ") {
		t.Errorf("ErrFieldControlChar = %q, want prefix %q", msg, "sse: ")
	}
}

// TestAppendAllocs proves the encoders allocate nothing when dst has room,
// which is what lets the hub encode into pooled buffers.
func TestAppendAllocs(t *testing.T) {
	data := []byte("{\"price\":1.5}\r\nsecond line\rthird\n")
	buf := make([]byte, 0, 1024)
	tests := []struct {
		name string
		f    func()
	}{
		{"AppendEvent", func() { buf = AppendEvent(buf[:0], "12345", "price", data) }},
		{"AppendComment", func() { buf = AppendComment(buf[:0], "heartbeat\nline two") }},
		{"AppendRetry", func() { buf = AppendRetry(buf[:0], 3*time.Second) }},
		{"EventSize", func() { _ = EventSize("12345", "price", data) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s allocs = %v, want 0", tt.name, n)
		}
	}
}

func ExampleAppendEvent() {
	frame := AppendEvent(nil, "42", "price", []byte("line one\r\nline two\rline three\nline four"))
	// Print line by line, quoted, so that spaces and the closing blank line show.
	for _, line := range bytes.SplitAfter(frame, []byte("\n")) {
		if len(line) > 0 {
			fmt.Printf("%q\n", line)
		}
	}
	// Output:
	// "id: 42\n"
	// "event: price\n"
	// "data: line one\n"
	// "data: line two\n"
	// "data: line three\n"
	// "data: line four\n"
	// "\n"
}

func ExampleAppendComment() {
	fmt.Printf("%q\n", AppendComment(nil, ""))
	fmt.Printf("%q\n", AppendComment(nil, "keep-alive"))
	// Output:
	// ":\n"
	// ": keep-alive\n"
}

func BenchmarkAppendEvent(b *testing.B) {
	payloads := []struct {
		name string
		data []byte
	}{
		{"1line_64B", bytes.Repeat([]byte("x"), 64)},
		{"1line_1KiB", bytes.Repeat([]byte("x"), 1024)},
		{"64lines_LF", bytes.Repeat([]byte("0123456789abcde\n"), 64)},
		{"64lines_CRLF", bytes.Repeat([]byte("0123456789abcd\r\n"), 64)},
	}
	for _, p := range payloads {
		b.Run(p.name, func(b *testing.B) {
			buf := make([]byte, 0, EventSize("1234567890", "price", p.data))
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendEvent(buf[:0], "1234567890", "price", p.data)
			}
		})
	}
}
