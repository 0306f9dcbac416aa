package ssewire

import "fmt"

// maxChunkSize bounds a chunk's size so that it fits in Stream.left. Real
// chunks are far smaller; the bound only keeps the arithmetic exact.
const maxChunkSize = 1<<59 - 1

// chunked decodes chunked framing (RFC 9112 section 7.1) from b, passing
// chunk data on as body, and returns what is left of b when the body ends.
// Framing is read byte by byte without buffering, so a chunk-size line or
// trailer cut by a Feed needs no memory; chunk data goes on in bulk.
//
// Chunk extensions and trailer fields are skipped. As in the head, a bare
// LF is accepted where CRLF belongs.
func (d *decoder) chunked(b []byte) ([]byte, error) {
	s := d.s
	for len(b) > 0 && s.state != stDone {
		if s.state == stChunkData {
			n := int(min(s.left, int64(len(b))))
			if err := d.body(b[:n]); err != nil {
				return nil, err
			}
			b, s.left = b[n:], s.left-int64(n)
			if s.left == 0 {
				s.state = stChunkDataCR
			}
			continue
		}
		c := b[0]
		b = b[1:]
		switch s.state {
		case stChunkSize:
			if v, ok := unhex(c); ok {
				if s.left > maxChunkSize>>4 {
					return nil, fmt.Errorf("%w: chunk size over %d bytes", ErrTooLarge, int64(maxChunkSize))
				}
				s.left = s.left<<4 | int64(v)
				if s.count++; s.count > MaxHeadBytes { // zeros that never end
					return nil, fmt.Errorf("%w: chunk-size line over %d bytes", ErrTooLarge, MaxHeadBytes)
				}
				continue
			}
			if s.count == 0 {
				return nil, fmt.Errorf("%w: chunk size starts with %q, want a hex digit", ErrMalformed, c)
			}
			switch c {
			case '\r':
				s.state = stChunkSizeLF
			case '\n':
				s.endSizeLine()
			case ';', ' ', '\t':
				s.state = stChunkExt
			default:
				return nil, fmt.Errorf("%w: byte %q in chunk size", ErrMalformed, c)
			}
		case stChunkExt:
			if c == '\n' {
				s.endSizeLine()
			} else if s.count++; s.count > MaxHeadBytes {
				return nil, fmt.Errorf("%w: chunk-size line over %d bytes", ErrTooLarge, MaxHeadBytes)
			}
		case stChunkSizeLF:
			if c != '\n' {
				return nil, fmt.Errorf("%w: CR followed by %q in chunk-size line", ErrMalformed, c)
			}
			s.endSizeLine()
		case stChunkDataCR, stChunkDataLF:
			switch {
			case c == '\r' && s.state == stChunkDataCR:
				s.state = stChunkDataLF
			case c == '\n':
				s.state, s.left, s.count = stChunkSize, 0, 0
			default:
				return nil, fmt.Errorf("%w: chunk data followed by %q, want CRLF (wrong chunk size?)", ErrMalformed, c)
			}
		case stTrailer:
			switch c {
			case '\r':
				s.state = stTrailerEndLF
			case '\n':
				s.state = stDone
			default:
				s.state = stTrailerLine
				if s.count++; s.count > MaxHeadBytes {
					return nil, fmt.Errorf("%w: chunked trailer section over %d bytes", ErrTooLarge, MaxHeadBytes)
				}
			}
		case stTrailerLine:
			if c == '\n' {
				s.state = stTrailer
			} else if s.count++; s.count > MaxHeadBytes {
				return nil, fmt.Errorf("%w: chunked trailer section over %d bytes", ErrTooLarge, MaxHeadBytes)
			}
		case stTrailerEndLF:
			if c != '\n' {
				return nil, fmt.Errorf("%w: CR followed by %q at the end of the chunked body", ErrMalformed, c)
			}
			s.state = stDone
		}
	}
	return b, nil
}

// endSizeLine acts on a complete chunk-size line: the size in s.left
// starts a chunk, or a size of 0 the trailer section that ends the body.
func (s *Stream) endSizeLine() {
	s.count = 0
	if s.left == 0 {
		s.state = stTrailer
		return
	}
	s.state = stChunkData
}

// unhex returns the value of the hex digit c.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
