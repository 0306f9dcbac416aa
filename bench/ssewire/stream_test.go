package ssewire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// streamTest is one case of the event stream rules: a body, and what a
// Stream reports for it.
type streamTest struct {
	name     string
	body     string
	events   []ev
	comments []string
	retries  []int
	lastID   string
}

// streamTests are the interpretation rules of the spec, one case each
// (docs/platform-notes.md#parsing-streams). They also seed FuzzStream.
var streamTests = []streamTest{
	{name: "empty body", body: ""},
	{name: "one event", body: "data: hello\n\n", events: []ev{msg("", "hello")}},
	{name: "LF endings", body: "data: a\ndata: b\n\n", events: []ev{msg("", "a\nb")}},
	{name: "CRLF endings", body: "data: a\r\ndata: b\r\n\r\n", events: []ev{msg("", "a\nb")}},
	{name: "CR endings", body: "data: a\rdata: b\r\r", events: []ev{msg("", "a\nb")}},
	{name: "mixed endings", body: "data: a\r\ndata: b\rdata: c\n\r\n", events: []ev{msg("", "a\nb\nc")}},
	{name: "CR CRLF", body: "data: a\r\r\n", events: []ev{msg("", "a")}},
	{name: "LF CR is two terminators", body: "data: a\n\rdata: b\n\n", events: []ev{msg("", "a"), msg("", "b")}},
	{name: "extra blank lines", body: "\n\r\ndata: x\n\n\n\r\n\r", events: []ev{msg("", "x")}},
	{name: "two events", body: "data: 1\n\ndata: 2\n\n", events: []ev{msg("", "1"), msg("", "2")}},
	{name: "many data lines", body: "data: 1\ndata: 22\ndata: 333\ndata\ndata: 4\n\n", events: []ev{msg("", "1\n22\n333\n\n4")}},
	{name: "unterminated event dropped", body: "data: 1\n\ndata: 2\n", events: []ev{msg("", "1")}},
	{name: "unterminated line dropped", body: "data: 1\n\ndata: 2", events: []ev{msg("", "1")}},
	{name: "unterminated CR line", body: "data: 1\r", events: nil},
	{name: "data without space", body: "data:x\n\n", events: []ev{msg("", "x")}},
	{name: "only one space stripped", body: "data:  x \n\n", events: []ev{msg("", " x ")}},
	{name: "tab not stripped", body: "data:\tx\n\n", events: []ev{msg("", "\tx")}},
	{name: "colon in value", body: "data: a: b:c\n\n", events: []ev{msg("", "a: b:c")}},
	{name: "empty data fires", body: "data\n\n", events: []ev{msg("", "")}},
	{name: "empty data with colon fires", body: "data:\n\n", events: []ev{msg("", "")}},
	{name: "fields without colon", body: "data\ndata\n\n", events: []ev{msg("", "\n")}},
	{name: "only the last LF removed", body: "data: a\ndata:\n\n", events: []ev{msg("", "a\n")}},
	{name: "NUL in data kept", body: "data: a\x00b\n\n", events: []ev{msg("", "a\x00b")}},
	{name: "no data no event", body: "event: x\n\n"},
	{name: "named event", body: "event: price\ndata: 1\n\n", events: []ev{{Type: "price", Data: "1"}}},
	{name: "empty event name is message", body: "event:\ndata: 1\n\n", events: []ev{msg("", "1")}},
	{name: "last event field wins", body: "event: a\nevent: b\ndata: 1\n\n", events: []ev{{Type: "b", Data: "1"}}},
	{name: "type resets after dispatch", body: "event: a\ndata: 1\n\ndata: 2\n\n", events: []ev{{Type: "a", Data: "1"}, msg("", "2")}},
	{name: "type resets without dispatch", body: "event: a\n\ndata: 2\n\n", events: []ev{msg("", "2")}},
	{name: "field names case-sensitive", body: "Event: a\nDATA: b\nID: 3\ndata: x\n\n", events: []ev{msg("", "x")}},
	{name: "unknown fields ignored", body: "foo: bar\ndata: x\nbaz\n\n", events: []ev{msg("", "x")}},
	{name: "leading space is part of the name", body: " data: x\n\n"},
	{name: "id", body: "id: 7\ndata: x\n\n", events: []ev{{ID: "7", HasID: true, Type: "message", Data: "x"}}, lastID: "7"},
	{name: "typical ssehub event", body: "id: 1732700000000-12\ndata: user/42|17|1732700000123456789\n\n",
		events: []ev{{ID: "1732700000000-12", HasID: true, Type: "message", Data: "user/42|17|1732700000123456789"}},
		lastID: "1732700000000-12"},
	{name: "id persists", body: "id: 1\ndata: a\n\ndata: b\n\n",
		events: []ev{{ID: "1", HasID: true, Type: "message", Data: "a"}, msg("1", "b")}, lastID: "1"},
	{name: "id alone updates last id", body: "id: 5\n\n", lastID: "5"},
	{name: "id alone then event", body: "id: 5\n\ndata: x\n\n", events: []ev{msg("5", "x")}, lastID: "5"},
	{name: "id after data", body: "data: x\nid: 9\n\n", events: []ev{{ID: "9", HasID: true, Type: "message", Data: "x"}}, lastID: "9"},
	{name: "last id field wins", body: "id: 1\nid: 2\ndata: x\n\n", events: []ev{{ID: "2", HasID: true, Type: "message", Data: "x"}}, lastID: "2"},
	{name: "id committed only at blank line", body: "id: 1\n\nid: 2\ndata: x\n", lastID: "1"},
	{name: "empty id resets", body: "id: 1\n\nid\ndata: x\n\n", events: []ev{{HasID: true, Type: "message", Data: "x"}}},
	{name: "id keeps leading spaces", body: "id:  7\n\n", lastID: " 7"},
	{name: "id with NUL ignored", body: "id: 1\n\nid: a\x00b\ndata: x\n\n", events: []ev{msg("1", "x")}, lastID: "1"},
	{name: "retry", body: "retry: 1500\n", retries: []int{1500}},
	{name: "retry leading zeros", body: "retry: 007\n", retries: []int{7}},
	{name: "retry without space", body: "retry:30\n", retries: []int{30}},
	{name: "retry each time", body: "retry: 1\nretry: 2\n", retries: []int{1, 2}},
	{name: "retry non-digit ignored", body: "retry: 1000\nretry: 15a\n", retries: []int{1000}},
	{name: "retry negative ignored", body: "retry: -1\n"},
	{name: "retry two spaces ignored", body: "retry:  10\n"},
	{name: "retry empty ignored", body: "retry\nretry:\n"},
	{name: "retry decimal ignored", body: "retry: 1.5\n"},
	{name: "retry saturates", body: "retry: 99999999999999999999999999\n", retries: []int{int(^uint(0) >> 1)}},
	{name: "retry does not dispatch", body: "retry: 10\ndata: x\n\n", events: []ev{msg("", "x")}, retries: []int{10}},
	{name: "comments everywhere", body: ": first\ndata: a\n:second\n:\ndata: b\n:: colon\n\n: dangling",
		events: []ev{msg("", "a\nb")}, comments: []string{"first", "second", "", ": colon"}},
	{name: "comment keeps extra spaces", body: ":  two\r", comments: []string{" two"}},
	{name: "ssehub preamble", body: "retry: 3000\n: ssehub\n\n", retries: []int{3000}, comments: []string{"ssehub"}},
	{name: "BOM stripped", body: "\xEF\xBB\xBFdata: x\n\n", events: []ev{msg("", "x")}},
	{name: "BOM alone", body: "\xEF\xBB\xBF"},
	{name: "BOM then blank", body: "\xEF\xBB\xBF\ndata: x\n\n", events: []ev{msg("", "x")}},
	{name: "only one BOM stripped", body: "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"},
	{name: "partial BOM kept", body: "\xEF\xBBdata: x\n\ndata: y\n\n", events: []ev{msg("", "y")}},
	{name: "partial BOM kept in comment", body: "\xEF:c\n:\xEF\xBB\n", comments: []string{"\xEF\xBB"}},
	{name: "BOM inside data kept", body: "data: \xEF\xBB\xBF\n\n", events: []ev{msg("", "\uFEFF")}},
	{name: "invalid UTF-8 passed through", body: "data: \xff\xfe\n\n", events: []ev{msg("", "\xff\xfe")}},
	{name: "long line", body: "data: " + strings.Repeat("x", 300) + "\n\n", events: []ev{msg("", strings.Repeat("x", 300))}},
}

// framings are the ways TestStream frames a body: close-delimited,
// Content-Length, and chunked in chunks of several sizes, with and without
// extensions and trailers.
var framings = []struct {
	name  string
	frame func(body []byte) []byte
	big   bool // framing bytes outweigh the body: not for megabyte bodies
}{
	{name: "identity", frame: func(body []byte) []byte { return append([]byte(identityHead), body...) }},
	{name: "content-length", frame: func(body []byte) []byte {
		return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}},
	{name: "chunked", frame: func(body []byte) []byte {
		return append([]byte(chunkedHead), encodeChunked(body, 1<<20, "", "")...)
	}},
	{name: "chunked by 1", big: true, frame: func(body []byte) []byte {
		return append([]byte(chunkedHead), encodeChunked(body, 1, "", "")...)
	}},
	{name: "chunked by 5, extensions, trailer", big: true, frame: func(body []byte) []byte {
		return append([]byte(chunkedHead), encodeChunked(body, 5, `;name=value;q="x y"`, "Expires: never\r\nX-Trailer: 1\r\n")...)
	}},
}

func TestStream(t *testing.T) {
	for _, tt := range streamTests {
		t.Run(tt.name, func(t *testing.T) {
			want := result{
				Calls:  recorder{Heads: 1, Events: tt.events, Comments: tt.comments, Retries: tt.retries},
				LastID: tt.lastID,
			}
			for i, f := range framings {
				resp := f.frame([]byte(tt.body))
				ways := feeds(resp) // every split for the plainest and the most cut-up framing
				if i != 0 && i != len(framings)-1 {
					ways = map[string][][]byte{"whole": {resp}, "byte by byte": splitEvery(resp, 1), "random": randomSplit(resp, uint32(i))}
				}
				for feed, chunks := range ways {
					got := decode(chunks)
					if diff := deepDiff(want, got); diff != "" {
						t.Fatalf("decode %q (%s, %s) mismatch (-want +got):\n%s", resp, f.name, feed, diff)
					}
				}
			}
		})
	}
}

// TestStreamCRLFSplit pins what the split feeds cover only among many
// others: a CR ending one Feed and the LF opening the next are one
// terminator, not a line end and a blank line that would dispatch early,
// also when an empty Feed or a chunk boundary comes between them.
func TestStreamCRLFSplit(t *testing.T) {
	want := []ev{msg("", "a\nb")}
	for name, chunks := range map[string][]string{
		"identity":   {identityHead + "data: a\r", "\ndata: b\r", "\n\r", "\n"},
		"empty Feed": {identityHead + "data: a\r", "", "\ndata: b\r\n\r\n"},
		"chunks":     {chunkedHead + "8\r\ndata: a\r\r\n", "1\r\n\n\r\n", "b\r\ndata: b\r\n\r\n\r\n"},
	} {
		var b [][]byte
		for _, c := range chunks {
			b = append(b, []byte(c))
		}
		if diff := cmp.Diff(want, decode(b).Calls.Events); diff != "" {
			t.Errorf("%s: events mismatch (-want +got):\n%s", name, diff)
		}
	}
}

// headTests are responses a Stream must refuse, and the error it says so
// with, or accept (err nil).
var headTests = []struct {
	name string
	resp string
	err  error  // nil: accepted, and "data: x\n\n" after it is an event
	text string // in the error message
}{
	{"HTTP/1.1 200", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", nil, ""},
	{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", nil, ""},
	{"no reason phrase", "HTTP/1.1 200\r\nContent-Type: text/event-stream\r\n\r\n", nil, ""},
	{"empty reason phrase", "HTTP/1.1 200 \r\nContent-Type: text/event-stream\r\n\r\n", nil, ""},
	{"bare LF head", "HTTP/1.1 200 OK\nContent-Type: text/event-stream\n\n", nil, ""},
	{"header names any case", "HTTP/1.1 200 OK\r\ncontent-TYPE: text/event-stream\r\nTRANSFER-encoding: Chunked\r\n\r\n" +
		"9\r\ndata: x\n\n\r\n0\r\n\r\n", nil, ""},
	{"media type any case, with parameters", "HTTP/1.1 200 OK\r\nContent-Type:\t Text/Event-Stream ; charset=utf-8 \r\n\r\n", nil, ""},
	{"other headers", "HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Type: text/event-stream\r\nX-Empty:\r\nCache-Control: no-cache\r\n\r\n", nil, ""},
	{"equal Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\nContent-Length: 9\r\n\r\n", nil, ""},
	{"chunked wins over Content-Length", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"9\r\ndata: x\n\n\r\n0\r\n\r\n", nil, ""},
	{"uppercase hex and leading zeros", chunkedHead + "0009\r\ndata: x\n\n\r\n00\r\n\r\n", nil, ""},
	{"bare LF chunk framing", chunkedHead + "9\ndata: x\n\n\n0\n\n", nil, ""},

	{"404", "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n", ErrStatus, `"HTTP/1.1 404 Not Found"`},
	{"503", "HTTP/1.1 503 Service Unavailable\r\n", ErrStatus, "503"},
	{"204", "HTTP/1.1 204 No Content\r\n\r\n", ErrStatus, "204"},
	{"HTTP/2", "HTTP/2 200\r\n", ErrMalformed, "status line"},
	{"four-digit status", "HTTP/1.1 2000 OK\r\n", ErrMalformed, "status line"},
	{"lower-case protocol", "http/1.1 200 OK\r\n", ErrMalformed, "status line"},
	{"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n", ErrMalformed, `"SSH-2.0-OpenSSH_9.2"`},
	{"empty status line", "\r\n", ErrMalformed, "status line"},
	{"HTML", "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n", ErrContentType, `"text/html; charset=utf-8"`},
	{"event-stream prefix", "HTTP/1.1 200 OK\r\nContent-Type: text/event-streams\r\n\r\n", ErrContentType, "text/event-streams"},
	{"no Content-Type", "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\n\r\n", ErrContentType, "no Content-Type"},
	{"folded header", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n more\r\n\r\n", ErrMalformed, "folded"},
	{"header without colon", "HTTP/1.1 200 OK\r\nContent-Type text/event-stream\r\n\r\n", ErrMalformed, "no field name"},
	{"header without name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", ErrMalformed, "no field name"},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Type : text/event-stream\r\n\r\n", ErrMalformed, "whitespace"},
	{"bare CR in head", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", ErrMalformed, "bare CR"},
	{"gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n", ErrMalformed, `Transfer-Encoding "gzip, chunked"`},
	{"bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n", ErrMalformed, `Content-Length "12a"`},
	{"conflicting Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Length: 10\r\n", ErrMalformed, `Content-Length "10"`},
	{"head too large", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Padding: 0123456789abcdef\r\n", 300), ErrTooLarge, "head over 8192 bytes"},
	{"bytes after Content-Length body", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: x\n\nextra",
		ErrMalformed, "bytes after the end of the body"},
	{"bytes after last chunk", chunkedHead + "9\r\ndata: x\n\n\r\n0\r\n\r\nHTTP/1.1", ErrMalformed, "bytes after the end of the body"},
	{"chunk size not hex", chunkedHead + "9\r\ndata: x\n\n\r\nzz\r\n", ErrMalformed, `chunk size starts with 'z'`},
	{"byte in chunk size", chunkedHead + "9x\r\n", ErrMalformed, `byte 'x' in chunk size`},
	{"chunk size too large", chunkedHead + "1000000000000000\r\n", ErrTooLarge, "chunk size over"},
	{"chunk size line too long", chunkedHead + "9;" + strings.Repeat("e", 9000), ErrTooLarge, "chunk-size line over 8192 bytes"},
	{"CR without LF in chunk size line", chunkedHead + "9\rdata", ErrMalformed, `CR followed by 'd'`},
	{"chunk data longer than its size", chunkedHead + "5\r\ndata: x\n\n\r\n", ErrMalformed, `chunk data followed by ' ', want CRLF`},
	{"chunk data CR without LF", chunkedHead + "9\r\ndata: x\n\n\rX", ErrMalformed, `chunk data followed by 'X'`},
	{"trailer too large", chunkedHead + "0\r\n" + strings.Repeat("X-T: 0123456789abcdef\r\n", 400), ErrTooLarge, "trailer section over"},
	{"CR without LF at the end", chunkedHead + "0\r\n\rX", ErrMalformed, "end of the chunked body"},
}

func TestStreamHead(t *testing.T) {
	for _, tt := range headTests {
		t.Run(tt.name, func(t *testing.T) {
			resp := []byte(tt.resp)
			if tt.err == nil && !strings.Contains(tt.resp, "data: x") {
				resp = append(resp, "data: x\n\n"...)
			}
			var s Stream
			err := s.Feed(resp, NopHandler{})
			if tt.err == nil && err != nil || tt.err != nil && (!errors.Is(err, tt.err) || !strings.Contains(fmt.Sprint(err), tt.text)) {
				t.Fatalf("Feed(%q) = %v, want %v containing %q", resp, err, tt.err, tt.text)
			}
			want := decode([][]byte{resp})
			if tt.err == nil && (want.Calls.Heads != 1 || len(want.Calls.Events) != 1 || want.Calls.Events[0].Data != "x") {
				t.Fatalf("decode %q: %d heads, events %+v; want 1 head and event x", resp, want.Calls.Heads, want.Calls.Events)
			}
			if refused := errors.Is(tt.err, ErrStatus) || errors.Is(tt.err, ErrContentType); refused && want.Calls.Heads != 0 {
				t.Fatalf("decode %q: Head called for a refused head", resp)
			}
			// The outcome does not depend on how the bytes arrive.
			for feed, chunks := range feeds(resp) {
				if diff := deepDiff(want, decode(chunks)); diff != "" {
					t.Fatalf("decode %q (%s) mismatch with whole (-want +got):\n%s", resp, feed, diff)
				}
			}
		})
	}
}

// TestStreamFramingsAgree feeds long random streams in every body framing
// and split, and requires the same outcome from all.
func TestStreamFramingsAgree(t *testing.T) {
	r := newRand(1)
	for range 50 {
		body := randomBody(r, 400)
		want := decode([][]byte{append([]byte(identityHead), body...)})
		if len(want.Calls.Events) == 0 {
			t.Fatalf("random body %q has no events: the generator is broken", body)
		}
		for _, f := range framings {
			resp := f.frame(body)
			for _, chunks := range [][][]byte{{resp}, splitEvery(resp, 1), randomSplit(resp, uint32(len(body)))} {
				if diff := deepDiff(want, decode(chunks)); diff != "" {
					t.Fatalf("decode %q (%s, %d chunks) mismatch with identity (-want +got):\n%s", resp, f.name, len(chunks), diff)
				}
			}
		}
	}
}

func TestStreamLimits(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes-len("data: "))
	tests := []struct {
		name string
		body string
		data int // length of the one event's data, if no error
		err  string
	}{
		{"longest line", "data: " + long + "\n\n", len(long), ""},
		{"line too long", "data: " + long + "y\n\n", 0, "event stream line over 1048576 bytes"},
		{"unterminated line too long", "data: " + long + "y", 0, "event stream line over 1048576 bytes"},
		{"comment too long", ":" + long + "123456\n", 0, "event stream line over 1048576 bytes"},
		{"largest data", "data: " + long[:MaxLineBytes/2] + "\ndata: " + long[:MaxLineBytes/2-1] + "\n\n", MaxLineBytes, ""},
		{"data too large", "data: " + long[:MaxLineBytes/2] + "\ndata: " + long[:MaxLineBytes/2] + "\n\n", 0, "event data over 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range framings {
				if f.big {
					continue
				}
				resp, framing := f.frame([]byte(tt.body)), f.name
				for _, chunks := range [][][]byte{{resp}, splitEvery(resp, 65536)} {
					got := decode(chunks)
					if got.Err != "" && !strings.Contains(got.Err, tt.err) || got.Err == "" && tt.err != "" {
						t.Fatalf("%s, %d chunks: error %q, want one containing %q", framing, len(chunks), got.Err, tt.err)
					}
					if tt.err == "" && (len(got.Calls.Events) != 1 || len(got.Calls.Events[0].Data) != tt.data) {
						t.Fatalf("%s, %d chunks: %d events, want 1 with %d bytes of data", framing, len(chunks), len(got.Calls.Events), tt.data)
					}
				}
			}
		})
	}
}

func TestStreamEOF(t *testing.T) {
	tests := []struct {
		name  string
		resp  string
		ended bool
		err   error
	}{
		{"nothing", "", false, ErrTruncated},
		{"in the head", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", false, ErrTruncated},
		{"identity body", identityHead + "data: x\n\ndata: cut", false, nil},
		{"Content-Length body", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: x\n\n", true, nil},
		{"Content-Length 0", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n", true, nil},
		{"Content-Length body cut", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 10\r\n\r\ndata: x\n\n", false, ErrTruncated},
		{"chunked body", chunkedHead + "9\r\ndata: x\n\n\r\n0\r\n\r\n", true, nil},
		{"chunked body cut in a chunk", chunkedHead + "9\r\ndata: x\n", false, ErrTruncated},
		{"chunked body cut in the trailer", chunkedHead + "0\r\nX: y\r\n", false, ErrTruncated},
		{"failed", "HTTP/1.1 500 Oops\r\n", false, ErrStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Stream
			_ = s.Feed([]byte(tt.resp), NopHandler{})
			if err := s.EOF(); !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("after %q, EOF() = %v, want %v", tt.resp, err, tt.err)
			}
			if s.Ended() != tt.ended {
				t.Errorf("after %q, Ended() = %v, want %v", tt.resp, s.Ended(), tt.ended)
			}
		})
	}
}

func TestStreamErrorSticks(t *testing.T) {
	var s Stream
	var r recorder
	err := s.Feed([]byte("HTTP/1.1 502 Bad Gateway\r\n\r\n"), &r)
	if !errors.Is(err, ErrStatus) {
		t.Fatalf("Feed(502 head) = %v, want %v", err, ErrStatus)
	}
	if again := s.Feed([]byte(identityHead+"data: x\n\n"), &r); again != err {
		t.Errorf("Feed after an error = %v, want the same error %v", again, err)
	}
	if r.Heads != 0 || len(r.Events) != 0 {
		t.Errorf("after an error, handler got %d heads and events %+v, want none", r.Heads, r.Events)
	}
	s.Reset()
	if err := s.Feed([]byte(identityHead+"data: x\n\n"), &r); err != nil || len(r.Events) != 1 {
		t.Errorf("after Reset, Feed = %v with events %+v, want nil and one event", err, r.Events)
	}
}

// TestStreamReset reconnects a Stream in the middle of everything that can
// continue from one Feed into the next.
func TestStreamReset(t *testing.T) {
	var s Stream
	var r recorder
	first := chunkedHead + "20\r\n\xEF\xBB\xBFid: 7\ndata: x\n\nid: 8\nevent: a\r\n" + "5\r\ndata:"
	if err := s.Feed([]byte(first), &r); err != nil {
		t.Fatalf("Feed(%q) = %v", first, err)
	}
	if s.spill == nil {
		t.Fatalf("Feed(%q) left no spill; the test no longer covers Reset with one", first)
	}
	s.Reset()
	if s.spill != nil {
		t.Errorf("Reset kept its spill; want it back in the pool")
	}
	if got := string(s.LastEventID()); got != "7" {
		t.Errorf("after Reset, LastEventID() = %q, want %q (kept across reconnects)", got, "7")
	}
	// A new response: its BOM is stripped again, and nothing of the
	// unfinished line, event (id 8, type a) or chunk leaks into it.
	second := identityHead + "\xEF\xBB\xBF: hi\ndata: y\n\n"
	if err := s.Feed([]byte(second), &r); err != nil {
		t.Fatalf("after Reset, Feed(%q) = %v", second, err)
	}
	want := recorder{
		Heads:    2,
		Events:   []ev{{ID: "7", HasID: true, Type: "message", Data: "x"}, msg("7", "y")},
		Comments: []string{"hi"},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("handler calls mismatch (-want +got):\n%s", diff)
	}
}

// TestStreamSpill checks that a Stream holds a pooled buffer only while a
// line or an event continues from one Feed into the next.
func TestStreamSpill(t *testing.T) {
	var s Stream
	steps := []struct {
		feed  string
		spill bool
	}{
		{identityHead[:20], true}, // a head line
		{identityHead[20:], false},
		{"id: 1\ndata: x\n\n", false},
		{"id: 2\nda", true}, // a line
		{"ta: y\n", true},   // an event
		{"\n", false},
		{"data: a\ndata: b\n\n", false}, // joined data, within one Feed
		{"data: c\r", true},
		{"\n", true},
		{"\r\n", false},
		{": heartbeat\n", false},
	}
	for _, st := range steps {
		if err := s.Feed([]byte(st.feed), NopHandler{}); err != nil {
			t.Fatalf("Feed(%q) = %v", st.feed, err)
		}
		if got := s.spill != nil; got != st.spill {
			t.Errorf("after Feed(%q), holds a spill = %v, want %v", st.feed, got, st.spill)
		}
	}
	if got := string(s.LastEventID()); got != "2" {
		t.Errorf("LastEventID() = %q, want %q", got, "2")
	}
}

// TestStreamSize pins the idle footprint: the bench holds 15,000 Streams
// per worker process.
func TestStreamSize(t *testing.T) {
	if got, limit := unsafe.Sizeof(Stream{}), uintptr(64); got > limit {
		t.Errorf("unsafe.Sizeof(Stream{}) = %d bytes, want at most %d", got, limit)
	}
}
