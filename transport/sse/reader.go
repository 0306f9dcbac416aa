package sse

import (
	"errors"
	"io"
	"os"
)

// readBufSize is the size of a Reader's read buffer; events and lines larger
// than it are assembled across reads by the Parser.
const readBufSize = 4096

// maxEmptyReads is how many (0, nil) reads in a row Next tolerates before
// reporting io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// Reader reads events from an event stream, such as the body of a live SSE
// response. It is not safe for concurrent use.
type Reader struct {
	r        io.Reader
	p        Parser
	buf      []byte
	queue    []Event // dispatched but not yet returned; queue[head:] are pending
	head     int
	comments int
	err      error // sticky error from r, returned once the queue is drained
}

// NewReader returns a Reader that parses the stream read from r.
func NewReader(r io.Reader) *Reader {
	rd := &Reader{r: r, buf: make([]byte, readBufSize)}
	rd.p.OnEvent = func(e Event) { rd.queue = append(rd.queue, e) }
	rd.p.OnComment = func(string) { rd.comments++ }
	return rd
}

// Next returns the next dispatched event, reading from the underlying reader
// as needed. At the end of the stream it returns io.EOF, or the error the
// underlying reader returned; an unterminated last event is dropped, as the
// spec requires.
func (r *Reader) Next() (Event, error) {
	for empty := 0; r.head == len(r.queue); {
		r.queue, r.head = r.queue[:0], 0
		if r.err != nil {
			return Event{}, r.err
		}
		n, err := r.r.Read(r.buf)
		r.p.Feed(r.buf[:n])
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A read deadline passing is not the end of the stream: the
			// caller may extend it and call Next again.
			return Event{}, err
		case err != nil:
			r.err = err
		case n == 0:
			if empty++; empty >= maxEmptyReads {
				r.err = io.ErrNoProgress
			}
		default:
			empty = 0
		}
	}
	e := r.queue[r.head]
	r.queue[r.head] = Event{} // let the strings go once the caller is done with them
	r.head++
	return e, nil
}

// Comments returns how many comment lines, such as heartbeats, have been read
// so far.
func (r *Reader) Comments() int { return r.comments }

// LastEventID returns the ID a reconnecting client would send in the
// Last-Event-ID header; see [Parser.LastEventID].
func (r *Reader) LastEventID() string { return r.p.LastEventID() }

// Retry returns the reconnection delay the server asked for; see
// [Parser.Retry].
func (r *Reader) Retry() (ms int, ok bool) { return r.p.Retry() }
