package ssewire

import (
	"errors"
	"fmt"
)

// Limits on what a server may send. They bound the memory one stream can
// take; going over one fails the stream with an error wrapping ErrTooLarge.
const (
	// MaxHeadBytes bounds the response head, from the status line to the
	// blank line that ends it, and separately a chunk-size line and the
	// trailer section of a chunked body.
	MaxHeadBytes = 8 << 10
	// MaxLineBytes bounds one line of the event stream, and the data of one
	// event (its data lines joined).
	MaxLineBytes = 1 << 20
)

// Errors a Stream fails with. The error returned wraps one of them and says
// what exactly was wrong.
var (
	// ErrStatus means the response status is not 200.
	ErrStatus = errors.New("ssewire: response status is not 200")
	// ErrContentType means the response is not text/event-stream.
	ErrContentType = errors.New("ssewire: response is not text/event-stream")
	// ErrMalformed means the response head or the body framing breaks
	// HTTP/1.1, or uses a feature this package does not support (a transfer
	// coding other than chunked).
	ErrMalformed = errors.New("ssewire: malformed response")
	// ErrTooLarge means a size limit (MaxHeadBytes, MaxLineBytes) was passed.
	ErrTooLarge = errors.New("ssewire: response over a size limit")
	// ErrTruncated means the connection ended before the response did.
	ErrTruncated = errors.New("ssewire: response truncated")
)

// Handler receives what a Stream decodes. Its methods are called
// synchronously from Feed and must not call Feed or Reset on the same
// Stream. Slices passed to them are valid only during the call and must not
// be modified.
type Handler interface {
	// Head is called once the response head arrived and was accepted.
	Head()
	// Event is called for each dispatched event. id is the stream's last
	// event ID at dispatch (the event's lastEventId in a browser): this
	// event's id field if it had one (hasID), else the latest before it.
	// typ is the event type, "message" if none was set; data is the data
	// buffer without its final LF.
	Event(id []byte, hasID bool, typ, data []byte)
	// Retry is called for each valid retry field (all ASCII digits), with
	// the value in milliseconds; values too large for an int saturate.
	Retry(ms int)
	// Comment is called for each comment line (one starting with a colon),
	// with the text after the colon minus one leading space.
	Comment(text []byte)
}

// NopHandler ignores everything. Embed it to implement only some of
// Handler's methods.
type NopHandler struct{}

// Head implements Handler.
func (NopHandler) Head() {}

// Event implements Handler.
func (NopHandler) Event(id []byte, hasID bool, typ, data []byte) {}

// Retry implements Handler.
func (NopHandler) Retry(ms int) {}

// Comment implements Handler.
func (NopHandler) Comment(text []byte) {}

// state is where a Stream is in the response.
type state uint8

const (
	stStatus       state = iota // reading the status line
	stHeader                    // reading header lines
	stIdentity                  // body delimited by the connection's close
	stLength                    // Content-Length body: left bytes to go
	stChunkSize                 // chunk-size digits: left is the size so far, count the digits
	stChunkExt                  // the rest of a chunk-size line (extensions), skipped
	stChunkSizeLF               // CR seen at the end of a chunk-size line
	stChunkData                 // chunk data: left bytes to go
	stChunkDataCR               // the CRLF that must follow chunk data
	stChunkDataLF               // CR seen after chunk data
	stTrailer                   // at the start of a trailer line, after the last chunk
	stTrailerLine               // inside a trailer field, skipped
	stTrailerEndLF              // CR seen at the start of a trailer line: the end of the body
	stDone                      // the body ended: no more bytes may come
)

// Stream decodes one HTTP/1.1 SSE response as its bytes arrive: the
// response head, then the body, de-chunked if Transfer-Encoding is chunked,
// then the SSE event stream in it.
//
// The zero Stream is ready for a response. A Stream is not safe for
// concurrent use; it is owned by whoever reads its connection.
type Stream struct {
	lastID []byte // the last event ID, committed at each blank line; its array is reused
	spill  *spill // what continues into the next Feed; nil (no buffers) when nothing does
	err    error  // the first failure; sticky
	// left counts body bytes to go (stLength, stChunkData), or is the
	// chunk size read so far (stChunkSize), or the Content-Length of the
	// head being read.
	left int64
	// count is the bytes of the response head so far, or of the current
	// chunk-size line or trailer section, to hold them to MaxHeadBytes.
	// Never more than MaxHeadBytes+1: 16 bits are enough, and keep the
	// Stream at 64 bytes.
	count uint16
	state state
	bom   uint8 // BOM bytes matched so far at the start of the body; len(bom) once settled
	// skipLF: the body so far ends in CR, so an LF next completes a CRLF
	// instead of ending another line.
	skipLF bool
	// What the head said so far; used only until it ends.
	typeOK, chunked, hasLength bool
}

// Feed consumes b, the next bytes of the response; the response may be cut
// anywhere, one byte per Feed included. It calls h's methods for what b
// completes before it returns, and does not retain b.
//
// Feed fails if the status is not 200, the Content-Type not
// text/event-stream, the head or the chunked framing malformed, a limit
// passed, or bytes arrive after a body that ended. After an error the
// Stream stays failed: Feed returns the same error and decodes nothing
// until Reset.
func (s *Stream) Feed(b []byte, h Handler) error {
	if s.err != nil {
		return s.err
	}
	d := decoder{s: s, h: h}
	d.resume()
	if err := d.feed(b); err != nil {
		s.err = err
		s.releaseSpill()
		return err
	}
	d.suspend()
	return nil
}

// feed routes b through the parts of the response it spans.
func (d *decoder) feed(b []byte) error {
	s := d.s
	for len(b) > 0 {
		var err error
		switch s.state {
		case stStatus, stHeader:
			b, err = d.head(b)
		case stIdentity:
			b, err = nil, d.body(b)
		case stLength:
			n := int(min(s.left, int64(len(b))))
			err = d.body(b[:n])
			b, s.left = b[n:], s.left-int64(n)
			if s.left == 0 {
				s.state = stDone
			}
		case stDone:
			err = errAfterEnd
		default:
			b, err = d.chunked(b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errAfterEnd says that a response went on after its body ended, such as
// a second response the bench did not ask for.
var errAfterEnd = fmt.Errorf("%w: bytes after the end of the body", ErrMalformed)

// EOF reports whether the response was complete when its connection
// reached end of file: nil for a body delimited by the close or one that
// had ended, an error wrapping ErrTruncated if the head or a chunked or
// Content-Length body was cut short, or the error the Stream failed with.
// An unterminated last event is never dispatched, whatever EOF says.
func (s *Stream) EOF() error {
	switch {
	case s.err != nil:
		return s.err
	case s.state == stIdentity || s.state == stDone:
		return nil
	case s.state == stStatus || s.state == stHeader:
		return fmt.Errorf("%w: connection closed in the response head", ErrTruncated)
	case s.state == stLength:
		return fmt.Errorf("%w: connection closed %d bytes before the end of the body", ErrTruncated, s.left)
	default:
		return fmt.Errorf("%w: connection closed before the last chunk", ErrTruncated)
	}
}

// Ended reports whether the body has ended: the last chunk of a chunked
// body, or all of a Content-Length body, arrived.
func (s *Stream) Ended() bool { return s.state == stDone && s.err == nil }

// LastEventID returns the stream's last event ID: the value of the latest
// valid id field as of the latest blank line (an id field commits even if
// its event has no data and so does not fire). It is what a reconnecting
// client sends as Last-Event-ID. The slice is valid until the next Feed.
func (s *Stream) LastEventID() []byte { return s.lastID }

// Reset makes s ready for a new response on a new connection, as after a
// reconnect. It keeps the last event ID, as EventSource does across
// reconnections, and its buffer; a pooled buffer still held goes back to
// the pool. A Stream for an unrelated stream should start as a zero Stream.
func (s *Stream) Reset() {
	s.releaseSpill()
	*s = Stream{lastID: s.lastID}
}

// clip shortens b for quoting in an error message.
func clip(b []byte) []byte {
	const n = 64
	if len(b) > n {
		return b[:n]
	}
	return b
}
