package sse

import (
	"bytes"
	"math"
)

// Event is one dispatched server-sent event.
type Event struct {
	// ID is the stream's last event ID when the event was dispatched: the
	// value of the most recent valid "id" field, which need not belong to
	// this event.
	ID string
	// Type is the "event" field, or "message" when it was absent or empty.
	Type string
	// Data is the "data" fields joined with LF.
	Data string
}

// bom is the UTF-8 byte order mark, stripped once from the start of a stream.
const bom = "\xEF\xBB\xBF"

// maxKeptBuf bounds the capacity a Parser keeps between events. A load
// generator holds thousands of parsers, and one jumbo event must not pin its
// buffer in each of them for the life of the stream.
const maxKeptBuf = 64 << 10

// Parser incrementally interprets an event stream by the rules of the WHATWG
// HTML "Server-sent events" section, "Interpreting an event stream"
// (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
//
// Bytes are not UTF-8 decoded: values are passed through as sent, where a
// browser would replace invalid sequences with U+FFFD. Lines have no length
// limit; a Parser is meant for streams from a trusted server.
//
// The zero Parser is ready to use. A Parser is not safe for concurrent use,
// and the callbacks must not call Feed or Reset.
type Parser struct {
	// OnEvent is called for each dispatched event. Nil discards events.
	OnEvent func(Event)
	// OnComment is called for each comment line with the text after the
	// colon, minus one leading space. Nil ignores comments.
	OnComment func(text string)

	line []byte // start of a line continued by the next Feed
	data []byte // data buffer: each "data" value followed by LF

	// typ is the event type buffer when typSet; otherwise it is stale and
	// kept only so that a repeated type is not allocated again.
	typ    string
	id     string // last event ID buffer
	lastID string // last event ID string, committed at each blank line
	retry  int

	typSet   bool
	retrySet bool
	skipLF   bool  // the previous Feed ended in CR, so a leading LF completes a CRLF
	bomSeen  uint8 // BOM bytes matched so far; len(bom) once the check is over
}

// Feed parses b, which may hold any part of the stream: a partial line is
// kept until a later Feed completes it. Callbacks run before Feed returns.
// Feed does not retain b.
func (p *Parser) Feed(b []byte) {
	if p.bomSeen < uint8(len(bom)) {
		b = p.stripBOM(b)
	}
	if p.skipLF && len(b) > 0 {
		p.skipLF = false
		if b[0] == '\n' {
			b = b[1:]
		}
	}
	// Same split as appendLines: one scan per LF, CRs searched for only
	// before it, so the cost stays linear for any mix of line endings.
	for len(b) > 0 {
		lf := bytes.IndexByte(b, '\n')
		seg, rest := b, b[len(b):]
		if lf >= 0 {
			seg, rest = b[:lf], b[lf+1:]
			if lf > 0 && b[lf-1] == '\r' {
				seg = b[:lf-1] // CRLF is one terminator
			}
		}
		for cr := bytes.IndexByte(seg, '\r'); cr >= 0; cr = bytes.IndexByte(seg, '\r') {
			p.endLine(seg[:cr])
			seg = seg[cr+1:]
		}
		switch {
		case lf >= 0:
			p.endLine(seg)
		case len(seg) > 0:
			p.line = append(p.line, seg...)
		default:
			// b ended in CR: an LF opening the next Feed belongs to it.
			p.skipLF = true
		}
		b = rest
	}
}

// stripBOM consumes a leading BOM, which may arrive split across Feeds. If
// the stream turns out not to start with one, the bytes held back are fed as
// ordinary data.
func (p *Parser) stripBOM(b []byte) []byte {
	for len(b) > 0 && p.bomSeen < uint8(len(bom)) {
		if b[0] != bom[p.bomSeen] {
			matched := p.bomSeen
			p.bomSeen = uint8(len(bom))
			if matched > 0 {
				p.Feed([]byte(bom[:matched]))
			}
			return b
		}
		p.bomSeen++
		b = b[1:]
	}
	return b
}

// endLine processes a complete line, prefixed by any part of it kept from
// earlier Feeds.
func (p *Parser) endLine(line []byte) {
	if len(p.line) > 0 {
		p.line = append(p.line, line...)
		line = p.line
	}
	p.processLine(line)
	p.line = shrink(p.line)
}

// processLine applies one line without its terminator.
func (p *Parser) processLine(line []byte) {
	if len(line) == 0 {
		p.dispatch()
		return
	}
	if line[0] == ':' {
		if p.OnComment != nil {
			p.OnComment(string(trimSpace(line[1:])))
		}
		return
	}
	name, value := line, line[len(line):] // no colon: the whole line names a field with an empty value
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], trimSpace(line[i+1:])
	}
	// Field names are case-sensitive; unknown fields are ignored. A switch
	// on string(name) does not allocate.
	switch string(name) {
	case "event":
		// Reuse the previous string when the type repeats, as it usually does.
		if string(value) != p.typ {
			p.typ = string(value)
		}
		p.typSet = true
	case "data":
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "id":
		// An id with NUL is ignored: it could not be sent back in the
		// Last-Event-ID header.
		if bytes.IndexByte(value, 0) < 0 && string(value) != p.id {
			p.id = string(value)
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			p.retry, p.retrySet = ms, true
		}
	}
}

// dispatch handles a blank line.
func (p *Parser) dispatch() {
	// The last event ID is committed even when no event fires, so an id
	// sent alone still counts for the next reconnection.
	p.lastID = p.id
	typ := "message"
	if p.typSet && p.typ != "" {
		typ = p.typ
	}
	p.typSet = false
	if len(p.data) == 0 {
		return
	}
	data := string(p.data[:len(p.data)-1]) // drop the LF after the last data line
	p.data = shrink(p.data)
	if p.OnEvent != nil {
		p.OnEvent(Event{ID: p.lastID, Type: typ, Data: data})
	}
}

// LastEventID returns the ID a reconnecting client would send in the
// Last-Event-ID header: the id buffer as of the latest blank line.
func (p *Parser) LastEventID() string { return p.lastID }

// Retry returns the reconnection delay in milliseconds from the latest valid
// "retry" field, and whether there was one. Values too large for an int
// saturate.
func (p *Parser) Retry() (ms int, ok bool) { return p.retry, p.retrySet }

// Reset returns p to the state of a new Parser, keeping its callbacks. A
// client that reconnects should read LastEventID first.
func (p *Parser) Reset() {
	*p = Parser{OnEvent: p.OnEvent, OnComment: p.OnComment, line: shrink(p.line), data: shrink(p.data)}
}

// trimSpace removes one leading space, as the spec requires after a colon.
func trimSpace(b []byte) []byte {
	if len(b) > 0 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// parseRetry parses a retry value, which counts only if it is all ASCII
// digits.
func parseRetry(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			n = math.MaxInt // keep scanning: a later non-digit still voids the field
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// shrink empties b for reuse, dropping it if it grew past maxKeptBuf.
func shrink(b []byte) []byte {
	if cap(b) > maxKeptBuf {
		return nil
	}
	return b[:0]
}
