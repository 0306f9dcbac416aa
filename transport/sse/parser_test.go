package sse

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// parseResult is everything a Parser reports for one stream.
type parseResult struct {
	Events   []Event
	Comments []string
	LastID   string
	Retry    int
	RetryOK  bool
}

// parseChunks feeds the chunks to a new Parser and collects what it reports.
func parseChunks(chunks ...[]byte) parseResult {
	var r parseResult
	p := Parser{
		OnEvent:   func(e Event) { r.Events = append(r.Events, e) },
		OnComment: func(s string) { r.Comments = append(r.Comments, s) },
	}
	for _, c := range chunks {
		p.Feed(c)
	}
	r.LastID = p.LastEventID()
	r.Retry, r.RetryOK = p.Retry()
	return r
}

// splitEvery cuts b into chunks of n bytes (the last may be shorter).
func splitEvery(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// checkAllFeeds parses stream whole, in chunks of 1, 2, 3 and 7 bytes, and
// split in two at every offset, and requires every way to give want.
func checkAllFeeds(t *testing.T, stream string, want parseResult) {
	t.Helper()
	b := []byte(stream)
	feeds := map[string][][]byte{"whole": {b}}
	for _, n := range []int{1, 2, 3, 7} {
		feeds[fmt.Sprintf("chunks of %d", n)] = splitEvery(b, n)
	}
	for i := 1; i < len(b); i++ {
		feeds[fmt.Sprintf("split at %d", i)] = [][]byte{b[:i], b[i:]}
	}
	for name, chunks := range feeds {
		if diff := cmp.Diff(want, parseChunks(chunks...)); diff != "" {
			t.Errorf("parse %q (%s) mismatch (-want +got):\n%s", stream, name, diff)
		}
	}
}

// msg returns an unnamed event, the common case in parserTests.
func msg(id, data string) Event { return Event{ID: id, Type: "message", Data: data} }

// parserTests are the interpretation rules of the spec, one case each. They
// also seed FuzzParser.
var parserTests = []struct {
	name   string
	stream string
	want   parseResult
}{
	{"empty stream", "", parseResult{}},
	{"one event", "data: hello\n\n", parseResult{Events: []Event{msg("", "hello")}}},
	{"LF endings", "data: a\ndata: b\n\n", parseResult{Events: []Event{msg("", "a\nb")}}},
	{"CRLF endings", "data: a\r\ndata: b\r\n\r\n", parseResult{Events: []Event{msg("", "a\nb")}}},
	{"CR endings", "data: a\rdata: b\r\r", parseResult{Events: []Event{msg("", "a\nb")}}},
	{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", parseResult{Events: []Event{msg("", "a\nb\nc")}}},
	{"LFCR is two terminators", "data: a\n\rdata: b\n\n", parseResult{Events: []Event{msg("", "a"), msg("", "b")}}},
	{"extra blank lines", "data: x\n\n\n\r\n\r", parseResult{Events: []Event{msg("", "x")}}},
	{"two events", "data: 1\n\ndata: 2\n\n", parseResult{Events: []Event{msg("", "1"), msg("", "2")}}},
	{"unterminated event dropped", "data: 1\n\ndata: 2\n", parseResult{Events: []Event{msg("", "1")}}},
	{"unterminated line dropped", "data: 1\n\ndata: 2", parseResult{Events: []Event{msg("", "1")}}},
	{"data without space", "data:x\n\n", parseResult{Events: []Event{msg("", "x")}}},
	{"only one space stripped", "data:  x \n\n", parseResult{Events: []Event{msg("", " x ")}}},
	{"tab not stripped", "data:\tx\n\n", parseResult{Events: []Event{msg("", "\tx")}}},
	{"colon in value", "data: a: b:c\n\n", parseResult{Events: []Event{msg("", "a: b:c")}}},
	{"empty data fires", "data\n\n", parseResult{Events: []Event{msg("", "")}}},
	{"empty data with colon fires", "data:\n\n", parseResult{Events: []Event{msg("", "")}}},
	{"field without colon", "data\ndata\n\n", parseResult{Events: []Event{msg("", "\n")}}},
	{"only the last LF removed", "data: a\ndata:\n\n", parseResult{Events: []Event{msg("", "a\n")}}},
	{"NUL in data kept", "data: a\x00b\n\n", parseResult{Events: []Event{msg("", "a\x00b")}}},
	{"no data no event", "event: x\n\n", parseResult{}},
	{"named event", "event: price\ndata: 1\n\n", parseResult{Events: []Event{{Type: "price", Data: "1"}}}},
	{"empty event name is message", "event:\ndata: 1\n\n", parseResult{Events: []Event{msg("", "1")}}},
	{"last event field wins", "event: a\nevent: b\ndata: 1\n\n", parseResult{Events: []Event{{Type: "b", Data: "1"}}}},
	{"type resets after dispatch", "event: a\ndata: 1\n\ndata: 2\n\n",
		parseResult{Events: []Event{{Type: "a", Data: "1"}, msg("", "2")}}},
	{"type resets without dispatch", "event: a\n\ndata: 2\n\n", parseResult{Events: []Event{msg("", "2")}}},
	{"field names case-sensitive", "Event: a\nDATA: b\nID: 3\ndata: x\n\n", parseResult{Events: []Event{msg("", "x")}}},
	{"unknown fields ignored", "foo: bar\ndata: x\nbaz\n\n", parseResult{Events: []Event{msg("", "x")}}},
	{"id", "id: 7\ndata: x\n\n", parseResult{Events: []Event{msg("7", "x")}, LastID: "7"}},
	{"id persists", "id: 1\ndata: a\n\ndata: b\n\n",
		parseResult{Events: []Event{msg("1", "a"), msg("1", "b")}, LastID: "1"}},
	{"id alone updates last id", "id: 5\n\n", parseResult{LastID: "5"}},
	{"id after data", "data: x\nid: 9\n\n", parseResult{Events: []Event{msg("9", "x")}, LastID: "9"}},
	{"id committed only at blank line", "id: 1\n\nid: 2\n", parseResult{LastID: "1"}},
	{"empty id resets", "id: 1\n\nid\ndata: x\n\n", parseResult{Events: []Event{msg("", "x")}}},
	{"id keeps leading spaces", "id:  7\n\n", parseResult{LastID: " 7"}},
	{"id with NUL ignored", "id: 1\n\nid: a\x00b\ndata: x\n\n", parseResult{Events: []Event{msg("1", "x")}, LastID: "1"}},
	{"retry", "retry: 1500\n", parseResult{Retry: 1500, RetryOK: true}},
	{"retry leading zeros", "retry: 007\n", parseResult{Retry: 7, RetryOK: true}},
	{"retry without space", "retry:30\n", parseResult{Retry: 30, RetryOK: true}},
	{"retry non-digit ignored", "retry: 1000\nretry: 15a\n", parseResult{Retry: 1000, RetryOK: true}},
	{"retry negative ignored", "retry: -1\n", parseResult{}},
	{"retry two spaces ignored", "retry:  10\n", parseResult{}},
	{"retry empty ignored", "retry\nretry:\n", parseResult{}},
	{"retry decimal ignored", "retry: 1.5\n", parseResult{}},
	{"retry saturates", "retry: 99999999999999999999999999\n", parseResult{Retry: int(^uint(0) >> 1), RetryOK: true}},
	{"retry does not dispatch", "retry: 10\ndata: x\n\n", parseResult{Events: []Event{msg("", "x")}, Retry: 10, RetryOK: true}},
	{"comments everywhere", ": first\ndata: a\n:second\n:\ndata: b\n:: colon\n\n: dangling",
		parseResult{Events: []Event{msg("", "a\nb")}, Comments: []string{"first", "second", "", ": colon"}}},
	{"comment keeps extra spaces", ":  two\r", parseResult{Comments: []string{" two"}}},
	{"comment-only stream", ":ok\r\n:ok\r\n", parseResult{Comments: []string{"ok", "ok"}}},
	{"BOM stripped", "\xEF\xBB\xBFdata: x\n\n", parseResult{Events: []Event{msg("", "x")}}},
	{"BOM alone", "\xEF\xBB\xBF", parseResult{}},
	{"BOM then blank", "\xEF\xBB\xBF\ndata: x\n\n", parseResult{Events: []Event{msg("", "x")}}},
	{"only one BOM stripped", "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n", parseResult{}},
	{"partial BOM kept", "\xEF\xBBdata: x\n\ndata: y\n\n", parseResult{Events: []Event{msg("", "y")}}},
	{"partial BOM kept in comment", "\xEF:c\n:\xEF\xBB\n", parseResult{Comments: []string{"\xEF\xBB"}}},
	{"BOM inside data kept", "data: \xEF\xBB\xBF\n\n", parseResult{Events: []Event{msg("", "\uFEFF")}}},
	{"invalid UTF-8 passed through", "data: \xff\xfe\n\n", parseResult{Events: []Event{msg("", "\xff\xfe")}}},
}

func TestParser(t *testing.T) {
	for _, tt := range parserTests {
		t.Run(tt.name, func(t *testing.T) {
			checkAllFeeds(t, tt.stream, tt.want)
		})
	}
}

// TestParserCRLFSplit pins the case the chunked feeds above cover only
// implicitly: a CR ending one Feed and its LF opening the next are one
// terminator, not a line end plus a blank line that would dispatch early.
func TestParserCRLFSplit(t *testing.T) {
	got := parseChunks([]byte("data: a\r"), []byte("\ndata: b\r"), []byte("\n\r"), []byte("\n"))
	want := parseResult{Events: []Event{{Type: "message", Data: "a\nb"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CRLF split across Feeds mismatch (-want +got):\n%s", diff)
	}
	// An empty Feed between CR and LF must not lose the pending CR.
	got = parseChunks([]byte("data: a\r"), nil, []byte("\ndata: b\n\n"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CRLF split by an empty Feed mismatch (-want +got):\n%s", diff)
	}
}

func TestParserBOMSplit(t *testing.T) {
	want := parseResult{Events: []Event{{Type: "message", Data: "x"}}}
	got := parseChunks([]byte("\xEF"), []byte("\xBB"), nil, []byte("\xBF"), []byte("data: x\n\n"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BOM split across Feeds mismatch (-want +got):\n%s", diff)
	}
}

func TestParserReset(t *testing.T) {
	var got []Event
	p := Parser{OnEvent: func(e Event) { got = append(got, e) }}
	p.Feed([]byte("\xEF\xBB\xBFid: 1\nretry: 5\nevent: a\ndata: x\n\ndata: partial\r"))
	p.Reset()
	if id := p.LastEventID(); id != "" {
		t.Errorf("after Reset, LastEventID() = %q, want %q", id, "")
	}
	if ms, ok := p.Retry(); ok {
		t.Errorf("after Reset, Retry() = %d, %v, want 0, false", ms, ok)
	}
	// A fresh stream: its BOM is stripped again and nothing of the partial
	// line or the pending CR leaks into it.
	p.Feed([]byte("\xEF\xBB\xBF\ndata: y\n\n"))
	want := []Event{{ID: "1", Type: "a", Data: "x"}, {Type: "message", Data: "y"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// TestParserAllocs checks the load generator's steady state: with the id
// and type repeating, the only allocation per event is its Data string.
func TestParserAllocs(t *testing.T) {
	frame := AppendEvent(nil, "42", "tick", []byte("payload\nsecond line"))
	frame = AppendComment(frame, "")
	var p Parser
	p.OnEvent = func(Event) {}
	p.Feed(frame)
	if n := testing.AllocsPerRun(100, func() { p.Feed(frame) }); n != 1 {
		t.Errorf("Feed(%q) allocs = %v, want 1", frame, n)
	}
}

func BenchmarkParser(b *testing.B) {
	var stream []byte
	for range 64 {
		stream = AppendEvent(stream, "1234567890", "price", []byte(`{"symbol":"ABC","price":123.45,"ts":1700000000}`))
	}
	var p Parser
	p.OnEvent = func(Event) {}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		p.Feed(stream)
	}
}

func TestReader(t *testing.T) {
	stream := "\xEF\xBB\xBFretry: 2000\n:hb\nid: 1\nevent: a\ndata: x\n\n:hb\ndata: y\r\ndata: z\r\n\r\nid: 2\ndata: cut"
	r := NewReader(iotest.OneByteReader(strings.NewReader(stream)))
	var got []Event
	for {
		e, err := r.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("Next() error = %v, want io.EOF", err)
			}
			break
		}
		got = append(got, e)
	}
	want := []Event{{ID: "1", Type: "a", Data: "x"}, {ID: "1", Type: "message", Data: "y\nz"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	if n := r.Comments(); n != 2 {
		t.Errorf("Comments() = %d, want 2", n)
	}
	if id := r.LastEventID(); id != "1" {
		t.Errorf("LastEventID() = %q, want %q", id, "1")
	}
	if ms, ok := r.Retry(); ms != 2000 || !ok {
		t.Errorf("Retry() = %d, %v, want 2000, true", ms, ok)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next() after EOF error = %v, want io.EOF", err)
	}
}

// TestReaderLive checks that Next returns an event as soon as its blank line
// arrives, without waiting for more of a stream that stays open.
func TestReaderLive(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		pw.Write(AppendEvent(nil, "1", "", []byte("first")))
		// Blocks until the reader is done with the first event.
		pw.Write(AppendEvent(nil, "2", "", []byte("second")))
		pw.Close()
	}()
	r := NewReader(pr)
	for _, want := range []Event{{ID: "1", Type: "message", Data: "first"}, {ID: "2", Type: "message", Data: "second"}} {
		got, err := r.Next()
		if err != nil || got != want {
			t.Fatalf("Next() = %+v, %v, want %+v, nil", got, err, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next() at end error = %v, want io.EOF", err)
	}
}

func TestReaderErrors(t *testing.T) {
	errBoom := errors.New("boom")
	// Events read before the error are still returned.
	r := NewReader(io.MultiReader(strings.NewReader("data: x\n\n"), iotest.ErrReader(errBoom)))
	if e, err := r.Next(); err != nil || e.Data != "x" {
		t.Errorf("Next() = %+v, %v, want Data %q, nil", e, err, "x")
	}
	if _, err := r.Next(); err != errBoom {
		t.Errorf("Next() error = %v, want %v", err, errBoom)
	}
	if _, err := r.Next(); err != errBoom {
		t.Errorf("second Next() error = %v, want %v (sticky)", err, errBoom)
	}

	r = NewReader(zeroReader{})
	if _, err := r.Next(); err != io.ErrNoProgress {
		t.Errorf("Next() on a reader stuck at (0, nil) error = %v, want %v", err, io.ErrNoProgress)
	}
}

// zeroReader reads nothing and never fails.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }
