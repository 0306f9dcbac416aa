package ssewire

import (
	"testing"

	"github.com/ssehub/ssehub/transport/sse"
)

// reference is what transport/sse's Parser, the project's reference
// reading of the spec, makes of an event stream, in the terms of a Stream.
type reference struct {
	Events   []sse.Event
	Comments []string
	Retry    int // the last valid retry, or -1
	LastID   string
}

// parseReference runs body through transport/sse's Parser.
func parseReference(body []byte) reference {
	r := reference{Retry: -1}
	p := sse.Parser{
		OnEvent:   func(e sse.Event) { r.Events = append(r.Events, e) },
		OnComment: func(text string) { r.Comments = append(r.Comments, text) },
	}
	p.Feed(body)
	if ms, ok := p.Retry(); ok {
		r.Retry = ms
	}
	r.LastID = p.LastEventID()
	return r
}

// asReference projects a Stream's result onto what the Parser reports.
func asReference(got result) reference {
	r := reference{Comments: got.Calls.Comments, Retry: -1, LastID: got.LastID}
	for _, e := range got.Calls.Events {
		r.Events = append(r.Events, sse.Event{ID: e.ID, Type: e.Type, Data: e.Data})
	}
	if n := len(got.Calls.Retries); n > 0 {
		r.Retry = got.Calls.Retries[n-1]
	}
	return r
}

// TestStreamMatchesReference holds a Stream to transport/sse's Parser on
// random streams, in both body framings and random splits.
func TestStreamMatchesReference(t *testing.T) {
	r := newRand(2)
	for i := range 2000 {
		body := randomBody(r, 1+r.IntN(60))
		want := parseReference(body)
		for _, resp := range [][]byte{
			append([]byte(identityHead), body...),
			append([]byte(chunkedHead), encodeChunked(body, 1+r.IntN(8), "", "")...),
		} {
			got := decode(randomSplit(resp, uint32(i)))
			if got.Err != "" {
				t.Fatalf("decode %q: %s", resp, got.Err)
			}
			if diff := deepDiff(want, asReference(got)); diff != "" {
				t.Fatalf("decode %q mismatch with transport/sse (-want +got):\n%s", resp, diff)
			}
		}
	}
}
