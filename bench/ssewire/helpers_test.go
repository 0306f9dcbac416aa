package ssewire

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Response heads for the two body framings.
const (
	identityHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
	chunkedHead  = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)

// ev is one Handler.Event call, copied.
type ev struct {
	ID    string
	HasID bool
	Type  string
	Data  string
}

// msg is an unnamed event without an id of its own, the common case.
func msg(lastID, data string) ev { return ev{ID: lastID, Type: "message", Data: data} }

// recorder is a Handler that keeps copies of everything it is told.
type recorder struct {
	Heads    int
	Events   []ev
	Retries  []int
	Comments []string
}

func (r *recorder) Head() { r.Heads++ }

func (r *recorder) Event(id []byte, hasID bool, typ, data []byte) {
	r.Events = append(r.Events, ev{ID: string(id), HasID: hasID, Type: string(typ), Data: string(data)})
}

func (r *recorder) Retry(ms int) { r.Retries = append(r.Retries, ms) }

func (r *recorder) Comment(text []byte) { r.Comments = append(r.Comments, string(text)) }

// result is everything one Stream reported for a response.
type result struct {
	Calls  recorder
	LastID string
	Err    string // the first error from Feed, or ""
}

// decode feeds chunks to a new Stream until one fails. Each chunk is fed
// from a copy that is overwritten right after Feed returns, so a Stream
// that kept a slice of its input would be caught out.
func decode(chunks [][]byte) result {
	var (
		s   Stream
		r   result
		buf []byte
	)
	for _, c := range chunks {
		buf = append(buf[:0], c...)
		err := s.Feed(buf, &r.Calls)
		for b := buf; len(b) > 0; {
			b = b[copy(b, junk):]
		}
		if err != nil {
			r.Err = err.Error()
			break
		}
	}
	r.LastID = string(s.LastEventID())
	return r
}

// deepDiff returns the differences between want and got, "" if none, with
// nil and empty slices equal. It is called for every way of feeding every
// case, and cmp.Diff is slow: reflect.DeepEqual answers the common case
// first.
func deepDiff[T any](want, got T) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// junk overwrites what decode fed.
var junk = bytes.Repeat([]byte{0xAA}, 4096)

// splitEvery cuts b into chunks of n bytes (the last may be shorter).
func splitEvery(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// randomSplit cuts b into chunks of 1 to 16 bytes, at points picked by a
// small LCG seeded with seed, so that a fuzz input also picks its splits.
func randomSplit(b []byte, seed uint32) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		seed = seed*1664525 + 1013904223
		n := min(int(seed>>28)+1, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// feeds returns the ways the split tests feed b: whole, one byte at a
// time, in chunks of a few sizes, and cut in two at every offset, or at
// about 300 offsets spread over b if it is longer.
func feeds(b []byte) map[string][][]byte {
	f := map[string][][]byte{"whole": {b}}
	for _, n := range []int{1, 2, 3, 7} {
		f[fmt.Sprintf("chunks of %d", n)] = splitEvery(b, n)
	}
	for i := 1; i < len(b); i += 1 + len(b)/300 {
		f[fmt.Sprintf("split at %d", i)] = [][]byte{b[:i], b[i:]}
	}
	return f
}

// encodeChunked frames body in chunks of size bytes (the last may be
// shorter), each size line followed by ext, then the last chunk, trailer
// (header lines, each ending in CRLF) and the final CRLF.
func encodeChunked(body []byte, size int, ext, trailer string) []byte {
	var b []byte
	for _, c := range splitEvery(body, size) {
		if len(c) > 0 {
			b = fmt.Appendf(b, "%x%s\r\n%s\r\n", len(c), ext, c)
		}
	}
	return fmt.Appendf(b, "0%s\r\n%s\r\n", ext, trailer)
}

// streamTokens are the pieces randomBody builds streams from: fields of
// every kind, odd ones included, and every line ending.
var streamTokens = []string{
	"data", "data:", "data: ", "data: x", "data:y", "data:  two", "id: 7", "id:", "id", "id: a\x00b",
	"id: 1732700000000-12", "event: tick", "event:", "event", "retry: 100", "retry: 1x", "retry:",
	": comment", ":", "::", "foo: bar", "DATA: no", " data: lead", "\xEF\xBB\xBF", "\xEF\xBB", "é",
	"\n", "\n", "\n", "\r", "\r\n", "\r\n", "\n\n", "\r\r", "\n\r",
}

// newRand returns a deterministic random source, so that a failure
// repeats.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// randomBody returns an event stream of n random tokens.
func randomBody(r *rand.Rand, n int) []byte {
	var sb strings.Builder
	for range n {
		sb.WriteString(streamTokens[r.IntN(len(streamTokens))])
	}
	return []byte(sb.String())
}
