package httpapi

import (
	"bytes"
	"unicode/utf8"

	"github.com/ssehub/ssehub/hub/broker"
)

// scanPlainJSON parses, in one pass, the bodies almost every publisher
// sends: an event object, or an array of them, whose keys are among topic,
// topics, event and data, each at most once, and whose values are strings
// (topics an array of them) with no escape, no control character and
// nothing but UTF-8 in them. Its result is the one decodePublishJSON gives
// for the same body. It reports false for anything else, valid or not,
// and for an event that would be refused: the caller then decodes the
// body the general way, which also words the errors.
//
// encoding/json took four passes over a body and a map per event: close
// to half of the publish handler's CPU at a dozen events per request
// (BENCHMARKS.md, "Targeted events through Redis").
func scanPlainJSON(body []byte, lim PublishLimits) ([]broker.Publication, bool) {
	s := jsonScanner{b: body}
	s.space()
	if s.peek() != '[' {
		p, ok := s.event(lim)
		if !ok || !s.end() {
			return nil, false
		}
		return []broker.Publication{p}, true
	}
	s.i++ // '['
	// Every event begins with a '{' (a plain string may hold more).
	pubs := make([]broker.Publication, 0, min(bytes.Count(body, []byte("{")), lim.MaxBatch))
	for {
		s.space()
		if len(pubs) == lim.MaxBatch {
			return nil, false
		}
		p, ok := s.event(lim)
		if !ok {
			return nil, false
		}
		pubs = append(pubs, p)
		s.space()
		switch s.next() {
		case ',':
			continue
		case ']':
			if !s.end() {
				return nil, false
			}
			return pubs, true
		}
		return nil, false
	}
}

// jsonScanner reads a publish body; i is the offset of the next byte.
type jsonScanner struct {
	b []byte
	i int
}

// peek returns the next byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// next consumes and returns the next byte, or 0 at the end.
func (s *jsonScanner) next() byte {
	c := s.peek()
	s.i++
	return c
}

// space skips JSON whitespace (RFC 8259, section 2).
func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (s *jsonScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// plain reads a string with no escape and no control character, and
// returns its bytes, which alias the body; ok is false for any other
// value, and for text that is not UTF-8, which decoding would replace.
func (s *jsonScanner) plain() (text []byte, ok bool) {
	if s.next() != '"' {
		return nil, false
	}
	start, ascii := s.i, true
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			text = s.b[start:s.i]
			s.i++
			return text, ascii || utf8.Valid(text)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// event reads one event object and builds its publication, copying what
// it keeps out of the body, as parseJSONEvent does.
func (s *jsonScanner) event(lim PublishLimits) (broker.Publication, bool) {
	var (
		topic, event, data []byte
		topics             [][]byte
		seen               [4]bool // topic, topics, event, data
		scratch            [8][]byte
	)
	if s.next() != '{' {
		return broker.Publication{}, false
	}
	for {
		s.space()
		key, ok := s.plain()
		if !ok {
			return broker.Publication{}, false
		}
		s.space()
		if s.next() != ':' {
			return broker.Publication{}, false
		}
		s.space()
		var field int
		switch string(key) {
		case "topic":
			field = 0
			topic, ok = s.plain()
		case "topics":
			field = 1
			topics, ok = s.plainArray(scratch[:0])
		case "event":
			field = 2
			event, ok = s.plain()
		case "data":
			field = 3
			data, ok = s.plain()
		default:
			return broker.Publication{}, false // unknown_field, worded by the general way
		}
		if !ok || seen[field] {
			// A repeated key is the last one's in encoding/json: rare
			// enough to leave to it.
			return broker.Publication{}, false
		}
		seen[field] = true
		s.space()
		switch s.next() {
		case ',':
			continue
		case '}':
		default:
			return broker.Publication{}, false
		}
		break
	}
	if !seen[3] {
		return broker.Publication{}, false
	}
	names := make([]string, 0, len(topics)+1)
	if seen[0] {
		names = append(names, string(topic))
	}
	for _, t := range topics {
		names = append(names, string(t))
	}
	p, apiErr := newPublication(names, string(event), bytes.Clone(data), lim)
	return p, apiErr == nil
}

// plainArray reads a non-empty array of plain strings, appending them to
// dst.
func (s *jsonScanner) plainArray(dst [][]byte) ([][]byte, bool) {
	if s.next() != '[' {
		return nil, false
	}
	for {
		s.space()
		t, ok := s.plain()
		if !ok {
			return nil, false
		}
		dst = append(dst, t)
		s.space()
		switch s.next() {
		case ',':
		case ']':
			return dst, true
		default:
			return nil, false
		}
	}
}
