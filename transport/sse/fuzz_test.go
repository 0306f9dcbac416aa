package sse

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// normalizeBreaks turns CRLF and CR into LF, which is what a parser makes of
// the line breaks that AppendEvent splits data on.
func normalizeBreaks(b []byte) string {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// chunkSizes cuts b into chunks whose sizes (1 to 17 bytes) come from a
// small LCG seeded with seed, so a fuzz input also picks where Feed splits.
func chunkSizes(b []byte, seed uint32) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		seed = seed*1664525 + 1013904223
		n := min(int(seed>>28)+1, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(""), "", "")
	f.Add([]byte("hello"), "1", "message")
	f.Add([]byte("\r"), "id", "ev")
	f.Add([]byte("\r\n"), "", "x")
	f.Add([]byte("\n"), "", "")
	f.Add([]byte("a\r\nb\rc\nd"), "42", "price")
	f.Add([]byte("trailing newline\n"), "7", "")
	f.Add([]byte("trailing CR\r"), "", "")
	f.Add([]byte("\r\r\n\n\r"), "", "")
	f.Add([]byte(" leading space"), " spaced id", " spaced event")
	f.Add([]byte("data: looks like a field\n\nid: 9"), "", "")
	f.Add([]byte(":not a comment"), ":", ":")
	f.Add([]byte("ünïcødé ☃ 𝄞"), "ид", "событие")
	f.Add([]byte("nul\x00byte"), "", "")
	f.Add([]byte("\xff\xfe invalid \xc3\x28 utf-8"), "\xff", "\xfe")
	f.Add([]byte("\xEF\xBB\xBFbom"), "\xEF\xBB\xBF", "")
	f.Fuzz(func(t *testing.T, data []byte, id, event string) {
		if ValidateField(id) != nil || ValidateField(event) != nil {
			t.Skip("id or event not sendable")
		}
		stream := AppendRetry(nil, 1500*time.Millisecond)
		stream = AppendComment(stream, string(data))
		before := len(stream)
		stream = AppendEvent(stream, id, event, data)
		if got, want := EventSize(id, event, data), len(stream)-before; got != want {
			t.Errorf("EventSize(%q, %q, %q) = %d, want %d", id, event, data, got, want)
		}

		got := parseChunks(chunkSizes(stream, uint32(len(data))*31+uint32(len(id))*7+uint32(len(event)))...)
		wantType := event
		if wantType == "" {
			wantType = "message"
		}
		want := parseResult{
			Events: []Event{{ID: id, Type: wantType, Data: normalizeBreaks(data)}},
			// The comment carries the same lines as the data.
			Comments: strings.Split(normalizeBreaks(data), "\n"),
			LastID:   id,
			Retry:    1500,
			RetryOK:  true,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parse(%q) mismatch (-want +got):\n%s", stream, diff)
		}
	})
}

func FuzzParser(f *testing.F) {
	for _, tt := range parserTests {
		f.Add([]byte(tt.stream))
	}
	f.Add([]byte("\xEF\xBB\xBF\r\n\r:\r\rdata\r\n\r\nid:\x00\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		want := parseReference(stream)
		feeds := map[string][][]byte{
			"whole":        {stream},
			"byte by byte": splitEvery(stream, 1),
			"random":       chunkSizes(stream, uint32(len(stream))),
		}
		for name, chunks := range feeds {
			if diff := cmp.Diff(want, parseChunks(chunks...)); diff != "" {
				t.Errorf("parse %q (%s) mismatch with reference (-want +got):\n%s", stream, name, diff)
			}
		}
	})
}

// parseReference is a deliberately naive reading of the spec: the whole
// stream at once, split into lines byte by byte. FuzzParser holds the
// incremental Parser to it.
func parseReference(stream []byte) parseResult {
	var r parseResult
	s := bytes.TrimPrefix(stream, []byte(bom))
	var lines [][]byte // complete lines only: an unterminated tail is dropped
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '\r' && s[i] != '\n' {
			continue
		}
		lines = append(lines, s[start:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		start = i + 1
	}
	var data, typ, id string
	for _, line := range lines {
		if len(line) == 0 {
			r.LastID = id
			if data != "" {
				e := Event{ID: id, Type: typ, Data: strings.TrimSuffix(data, "\n")}
				if e.Type == "" {
					e.Type = "message"
				}
				r.Events = append(r.Events, e)
			}
			data, typ = "", ""
			continue
		}
		if line[0] == ':' {
			r.Comments = append(r.Comments, strings.TrimPrefix(string(line[1:]), " "))
			continue
		}
		name, value, found := strings.Cut(string(line), ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "event":
			typ = value
		case "data":
			data += value + "\n"
		case "id":
			if !strings.Contains(value, "\x00") {
				id = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				r.Retry, _ = strconv.Atoi(value) // MaxInt on overflow
				r.RetryOK = true
			}
		}
	}
	return r
}
