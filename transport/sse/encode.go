// Package sse reads and writes the text/event-stream format of the WHATWG
// HTML "Server-sent events" section
// (https://html.spec.whatwg.org/multipage/server-sent-events.html).
//
// The Append functions are the server's hot path: a hub encodes each message
// once and shares the same immutable bytes with every recipient, so they are
// hand-written appends that never allocate when dst has room. [Parser] and
// [Reader] are the client side, used by tests and the load generator.
package sse

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrFieldControlChar is returned by [ValidateField] for a value that holds a
// CR, LF or NUL byte.
var ErrFieldControlChar = errors.New("sse: field value contains CR, LF or NUL")

// ValidateField checks that s can be sent as an id or event field value.
// A CR or LF would end the field early and let the rest of s be read as
// other fields; a NUL makes browsers ignore an id. It returns
// [ErrFieldControlChar] for such values and nil otherwise.
func ValidateField(s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return ErrFieldControlChar
	}
	return nil
}

// Field prefixes always carry one space after the colon: parsers strip
// exactly one, so a value that itself begins with a space survives.
const (
	idPrefix    = "id: "
	eventPrefix = "event: "
	dataPrefix  = "data: "
	retryPrefix = "retry: "
)

// AppendEvent appends one complete event frame to dst and returns the
// extended slice:
//
//	id: <id>          (only when id != "")
//	event: <event>    (only when event is neither "" nor "message")
//	data: <line>      (one per line of data)
//	                  (blank line: dispatches the event)
//
// data is split on CRLF, CR and LF, a CRLF counting as one break. Empty data
// gives a single "data: " line, and a trailing break gives a final empty
// "data: " line, so a parser reconstructs data with every break turned into
// LF. Leaving out "event: message" is safe because parsers default to it.
//
// The caller must ensure that id and event pass [ValidateField]; they are
// written as given. AppendEvent does not allocate when cap(dst)-len(dst) is
// at least [EventSize](id, event, data).
func AppendEvent(dst []byte, id, event string, data []byte) []byte {
	if id != "" {
		dst = append(dst, idPrefix...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	if event != "" && event != "message" {
		dst = append(dst, eventPrefix...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	dst = appendLines(dst, dataPrefix, data)
	return append(dst, '\n')
}

// EventSize returns len(AppendEvent(nil, id, event, data)) without encoding,
// so a caller can allocate the frame exactly once.
func EventSize(id, event string, data []byte) int {
	n := 0
	if id != "" {
		n += len(idPrefix) + len(id) + 1
	}
	if event != "" && event != "message" {
		n += len(eventPrefix) + len(event) + 1
	}
	// Every CR and LF ends a "data: " line and is itself not written, except
	// that the two bytes of a CRLF make a single break.
	lf := bytes.Count(data, []byte{'\n'})
	cr := bytes.Count(data, []byte{'\r'})
	breaks := lf + cr
	if cr > 0 {
		breaks -= bytes.Count(data, []byte("\r\n"))
	}
	lines := breaks + 1
	return n + lines*(len(dataPrefix)+1) + len(data) - lf - cr + 1
}

// AppendIDLine appends an id line whose value is what appendID appends
// ("id: <value>\n"), for a frame built as an id line and the rest of an
// event encoded by AppendEvent without an id. The value must pass
// [ValidateField]. It does not allocate beyond what appendID and dst's
// growth do.
func AppendIDLine(dst []byte, appendID func([]byte) []byte) []byte {
	dst = append(dst, idPrefix...)
	dst = appendID(dst)
	return append(dst, '\n')
}

// IDLineSize is the length of the id line AppendIDLine writes for a value
// of n bytes.
func IDLineSize(n int) int { return len(idPrefix) + n + 1 }

// AppendComment appends text as a comment: ":" alone for empty text,
// otherwise ": " and the text. Text with line breaks (CRLF, CR or LF) becomes
// several comment lines. No blank line follows, so a comment can sit between
// the fields of an event; a lone comment is the usual heartbeat.
func AppendComment(dst []byte, text string) []byte {
	if text == "" {
		return append(dst, ':', '\n')
	}
	return appendLines(dst, ": ", text)
}

// AppendRetry appends a "retry:" field that sets the client's reconnection
// delay to d, truncated to whole milliseconds. A negative d is sent as 0,
// since parsers ignore a retry value that is not all digits.
func AppendRetry(dst []byte, d time.Duration) []byte {
	dst = append(dst, retryPrefix...)
	dst = strconv.AppendInt(dst, max(d.Milliseconds(), 0), 10)
	return append(dst, '\n')
}

// appendLines appends one prefix+line+"\n" for every line of s, splitting on
// CRLF, CR and LF. It is generic so that event data ([]byte) and comment
// text (string) share one body without copying either.
//
// Each LF is found with one vectorised scan and CRs are searched for only in
// the span before it, so the work stays linear whatever mix of breaks s has.
func appendLines[T string | []byte](dst []byte, prefix string, s T) []byte {
	for {
		lf := indexByte(s, '\n')
		seg, rest := s, s[len(s):]
		if lf >= 0 {
			seg, rest = s[:lf], s[lf+1:]
			if lf > 0 && s[lf-1] == '\r' {
				seg = s[:lf-1] // CRLF is one break
			}
		}
		for cr := indexByte(seg, '\r'); cr >= 0; cr = indexByte(seg, '\r') {
			dst = append(dst, prefix...)
			dst = append(dst, seg[:cr]...)
			dst = append(dst, '\n')
			seg = seg[cr+1:]
		}
		dst = append(dst, prefix...)
		dst = append(dst, seg...)
		dst = append(dst, '\n')
		if lf < 0 {
			return dst
		}
		s = rest
	}
}

// indexByte is bytes.IndexByte or strings.IndexByte, whichever fits T. The
// type switch is resolved per instantiation and neither boxes nor allocates
// (TestAppendAllocs); measured, it beats passing the function as a value.
func indexByte[T string | []byte](s T, c byte) int {
	switch s := any(s).(type) {
	case string:
		return strings.IndexByte(s, c)
	case []byte:
		return bytes.IndexByte(s, c)
	}
	panic("sse: unreachable")
}
