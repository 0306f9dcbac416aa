package ssewire

import (
	"bytes"
	"fmt"
)

// head consumes bytes of the response head from b and returns the rest of
// b, which is body once the head has ended. A line cut by the end of b is
// kept in the spill until a later Feed completes it.
//
// Lines end in CRLF or, as RFC 9112 section 2.2 lets a recipient accept,
// a bare LF.
func (d *decoder) head(b []byte) ([]byte, error) {
	s := d.s
	for len(b) > 0 {
		lf := bytes.IndexByte(b, '\n')
		n := lf + 1
		if lf < 0 {
			n = len(b)
		}
		if int(s.count)+n > MaxHeadBytes {
			return nil, fmt.Errorf("%w: response head over %d bytes", ErrTooLarge, MaxHeadBytes)
		}
		s.count += uint16(n)
		if lf < 0 {
			sp := s.takeSpill()
			sp.line = append(sp.line, b...)
			return nil, nil
		}
		line := b[:lf]
		b = b[n:]
		sp := s.spill
		if sp != nil && len(sp.line) > 0 {
			sp.line = append(sp.line, line...)
			line = sp.line
		}
		err := d.headLine(line)
		if sp != nil {
			sp.line = sp.line[:0]
		}
		if err != nil {
			return nil, err
		}
		if s.state != stStatus && s.state != stHeader {
			return b, nil // the head ended: b is body
		}
	}
	return nil, nil
}

// headLine processes one line of the head without its LF.
func (d *decoder) headLine(line []byte) error {
	s := d.s
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	// RFC 9112 section 2.2: a bare CR is invalid.
	if bytes.IndexByte(line, '\r') >= 0 {
		return fmt.Errorf("%w: bare CR in response head line %q", ErrMalformed, clip(line))
	}
	switch {
	case s.state == stStatus:
		if err := checkStatus(line); err != nil {
			return err
		}
		s.state = stHeader
		return nil
	case len(line) == 0:
		return d.endHead()
	default:
		return s.header(line)
	}
}

// checkStatus accepts a status line "HTTP/1.x 200" with an optional reason
// phrase.
func checkStatus(line []byte) error {
	ok := len(line) >= len("HTTP/1.x 200") &&
		string(line[:len("HTTP/1.")]) == "HTTP/1." && isDigit(line[7]) && line[8] == ' ' &&
		isDigit(line[9]) && isDigit(line[10]) && isDigit(line[11]) &&
		(len(line) == 12 || line[12] == ' ')
	switch {
	case !ok:
		return fmt.Errorf("%w: status line %q", ErrMalformed, clip(line))
	case string(line[9:12]) != "200":
		return fmt.Errorf("%w: status line %q", ErrStatus, clip(line))
	}
	return nil
}

// header processes one header field line.
func (s *Stream) header(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return fmt.Errorf("%w: header line %q is folded (obsolete line folding)", ErrMalformed, clip(line))
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return fmt.Errorf("%w: header line %q has no field name and colon", ErrMalformed, clip(line))
	}
	name, value := line[:colon], trimOWS(line[colon+1:])
	if bytes.ContainsAny(name, " \t") {
		return fmt.Errorf("%w: header field name %q has whitespace", ErrMalformed, clip(name))
	}
	switch {
	case equalFoldASCII(name, "content-type"):
		mediaType, _, _ := bytes.Cut(value, []byte(";"))
		if !equalFoldASCII(trimOWS(mediaType), "text/event-stream") {
			return fmt.Errorf("%w: Content-Type %q", ErrContentType, clip(value))
		}
		s.typeOK = true
	case equalFoldASCII(name, "transfer-encoding"):
		if !equalFoldASCII(value, "chunked") {
			return fmt.Errorf("%w: Transfer-Encoding %q, want chunked or none", ErrMalformed, clip(value))
		}
		s.chunked = true
	case equalFoldASCII(name, "content-length"):
		n, ok := parseLength(value)
		if !ok || (s.hasLength && n != s.left) {
			return fmt.Errorf("%w: Content-Length %q", ErrMalformed, clip(value))
		}
		s.left, s.hasLength = n, true
	}
	return nil
}

// endHead checks the head as a whole once its blank line arrived, and
// sets up the body's framing. Chunked coding wins over Content-Length, as
// RFC 9112 section 6.3 says.
func (d *decoder) endHead() error {
	s := d.s
	if !s.typeOK {
		return fmt.Errorf("%w: no Content-Type header", ErrContentType)
	}
	switch {
	case s.chunked:
		s.state, s.left = stChunkSize, 0
	case !s.hasLength:
		s.state = stIdentity
	case s.left == 0:
		s.state = stDone
	default:
		s.state = stLength
	}
	s.count = 0
	d.h.Head()
	return nil
}

// parseLength parses a Content-Length value: ASCII digits, at most 18 of
// them so that the value fits an int64.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// trimOWS removes optional whitespace (SP and HTAB) around a field value.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFoldASCII reports whether b equals lower, which is in lower case,
// ignoring ASCII case only: bytes.EqualFold would also match Unicode
// folds such as the Kelvin sign for "k", which HTTP field names do not
// have.
func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
