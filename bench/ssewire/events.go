package ssewire

import (
	"bytes"
	"fmt"
	"math"
	"sync"
)

// bom is the UTF-8 byte order mark, stripped once from the start of a
// stream; bomBytes is the same, to feed a partial match back as data.
const bom = "\xEF\xBB\xBF"

var bomBytes = []byte(bom)

// messageType is the type of an event without one. A package variable, so
// that passing it to a Handler does not allocate.
var messageType = []byte("message")

// Errors for the limits of the event stream, made once: they wrap
// ErrTooLarge and say which limit.
var (
	errLineTooLong  = fmt.Errorf("%w: event stream line over %d bytes", ErrTooLarge, MaxLineBytes)
	errDataTooLarge = fmt.Errorf("%w: event data over %d bytes", ErrTooLarge, MaxLineBytes)
)

// maxKeptBuf bounds a buffer's capacity when its spill goes back to the
// pool: one jumbo event must not pin a megabyte in the pool for good.
const maxKeptBuf = 64 << 10

// event is the event being built: the fields seen since the last blank
// line. Its slices point into the bytes of the current Feed, or into the
// spill's buffers once copied there (see decoder.owned).
type event struct {
	id, typ, data          []byte // data without a final LF
	hasID, hasTyp, hasData bool
}

// active reports whether e has any field, and so must outlive its Feed.
func (e *event) active() bool { return e.hasID || e.hasTyp || e.hasData }

// spill holds what continues from one Feed into the next: the start of a
// line, and the fields of an event not yet dispatched, copied out of the
// caller's bytes. A Stream takes one from spills only when it needs one,
// and gives it back as soon as nothing continues.
type spill struct {
	line          []byte // the start of a line, in the head or the event stream
	id, typ, data []byte // buffers for the fields of ev
	ev            event  // the event being built; its slices point into the buffers above
}

// spills is shared by all Streams: an idle stream holds no buffer.
var spills = sync.Pool{New: func() any { return new(spill) }}

// takeSpill returns s's spill, taking one from the pool if it has none.
func (s *Stream) takeSpill() *spill {
	if s.spill == nil {
		s.spill = spills.Get().(*spill)
	}
	return s.spill
}

// releaseSpill gives s's spill, if any, back to the pool.
func (s *Stream) releaseSpill() {
	sp := s.spill
	if sp == nil {
		return
	}
	s.spill = nil
	sp.ev = event{}
	sp.line, sp.id, sp.typ, sp.data = keep(sp.line), keep(sp.id), keep(sp.typ), keep(sp.data)
	spills.Put(sp)
}

// keep empties b for reuse, dropping it if it grew past maxKeptBuf.
func keep(b []byte) []byte {
	if cap(b) > maxKeptBuf {
		return nil
	}
	return b[:0]
}

// Ownership bits of decoder.owned: which fields of the event being built
// point into the spill's buffers rather than into the caller's bytes.
const (
	ownID uint8 = 1 << iota
	ownTyp
	ownData
	ownAll = ownID | ownTyp | ownData
)

// decoder is the state of one Feed call, on the caller's stack. The event
// being built lives here rather than in the Stream so that an event that
// arrives whole in one Feed is never copied: its fields are slices of the
// caller's bytes from its first line to its dispatch.
type decoder struct {
	s     *Stream
	h     Handler
	ev    event
	owned uint8 // ownID | ownTyp | ownData
}

// resume picks up an event that an earlier Feed left unfinished.
func (d *decoder) resume() {
	if sp := d.s.spill; sp != nil && sp.ev.active() {
		d.ev, d.owned = sp.ev, ownAll
	}
}

// suspend ends a Feed: an unfinished event is copied into the spill, since
// the caller's bytes are about to go, and a spill that holds nothing goes
// back to the pool.
func (d *decoder) suspend() {
	s := d.s
	if d.ev.active() {
		d.own(ownAll)
		s.spill.ev = d.ev
		return
	}
	if sp := s.spill; sp != nil {
		sp.ev = event{}
		if len(sp.line) == 0 {
			s.releaseSpill()
		}
	}
}

// own copies the fields in bits that still point into the caller's bytes
// into the spill.
func (d *decoder) own(bits uint8) {
	bits &^= d.owned
	if bits == 0 {
		return
	}
	sp := d.s.takeSpill()
	if bits&ownID != 0 {
		sp.id = append(sp.id[:0], d.ev.id...)
		d.ev.id = sp.id
	}
	if bits&ownTyp != 0 {
		sp.typ = append(sp.typ[:0], d.ev.typ...)
		d.ev.typ = sp.typ
	}
	if bits&ownData != 0 {
		sp.data = append(sp.data[:0], d.ev.data...)
		d.ev.data = sp.data
	}
	d.owned |= bits
}

// body interprets b, the next bytes of the response body, as an event
// stream, by "Interpreting an event stream" in the WHATWG HTML spec
// (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
//
// Bytes are not UTF-8 decoded: values are passed through as sent, where a
// browser would replace invalid sequences with U+FFFD.
func (d *decoder) body(b []byte) error {
	s := d.s
	if s.bom < uint8(len(bom)) {
		var err error
		if b, err = d.stripBOM(b); err != nil {
			return err
		}
	}
	if s.skipLF && len(b) > 0 {
		s.skipLF = false
		if b[0] == '\n' {
			b = b[1:]
		}
	}
	// Most streams have no CR at all, so the first CR is found once for all
	// of b, and lines before it are split on LF alone: one scan per line.
	// Each byte is scanned at most twice, so the cost stays linear for any
	// mix of CR, LF and CRLF.
	cr := bytes.IndexByte(b, '\r')
	for len(b) > 0 {
		end := cr // where a line ends in CR, if no LF comes before
		if cr < 0 {
			end = len(b)
		}
		if lf := bytes.IndexByte(b[:end], '\n'); lf >= 0 {
			if err := d.endLine(b[:lf]); err != nil {
				return err
			}
			b = b[lf+1:]
			if cr >= 0 {
				cr -= lf + 1
			}
			continue
		}
		if cr < 0 {
			return d.partialLine(b)
		}
		if err := d.endLine(b[:cr]); err != nil {
			return err
		}
		b = b[cr+1:]
		switch {
		case len(b) == 0:
			// b ended in CR: an LF opening the next bytes belongs to it.
			s.skipLF = true
		case b[0] == '\n':
			b = b[1:] // CRLF is one terminator
		}
		cr = bytes.IndexByte(b, '\r')
	}
	return nil
}

// stripBOM consumes a leading BOM, which may arrive split across Feeds. If
// the body turns out not to start with one, the bytes held back are
// interpreted as ordinary stream bytes.
func (d *decoder) stripBOM(b []byte) ([]byte, error) {
	s := d.s
	for len(b) > 0 && s.bom < uint8(len(bom)) {
		if b[0] != bom[s.bom] {
			matched := s.bom
			s.bom = uint8(len(bom))
			if matched > 0 {
				if err := d.body(bomBytes[:matched]); err != nil {
					return nil, err
				}
			}
			return b, nil
		}
		s.bom++
		b = b[1:]
	}
	return b, nil
}

// partialLine keeps seg, the start of a line the next bytes continue.
func (d *decoder) partialLine(seg []byte) error {
	sp := d.s.takeSpill()
	if len(sp.line)+len(seg) > MaxLineBytes {
		return errLineTooLong
	}
	sp.line = append(sp.line, seg...)
	return nil
}

// endLine processes a complete line, prefixed by what was kept of it from
// earlier bytes.
func (d *decoder) endLine(line []byte) error {
	sp := d.s.spill
	if sp == nil || len(sp.line) == 0 {
		if len(line) > MaxLineBytes {
			return errLineTooLong
		}
		return d.line(line, false)
	}
	if len(sp.line)+len(line) > MaxLineBytes {
		return errLineTooLong
	}
	sp.line = append(sp.line, line...)
	err := d.line(sp.line, true)
	sp.line = sp.line[:0]
	return err
}

// line processes one line without its terminator. inSpill says that line
// is the spill's line buffer, which the next line reuses: fields set from
// it are copied out at once.
func (d *decoder) line(line []byte, inSpill bool) error {
	if len(line) == 0 {
		d.dispatch()
		return nil
	}
	if line[0] == ':' {
		d.h.Comment(trimSpace(line[1:]))
		return nil
	}
	name, value := line, line[len(line):] // no colon: the whole line names a field with an empty value
	// The colon is a few bytes in, after a field name: a plain loop finds
	// it faster than a call to bytes.IndexByte.
	for i, c := range line {
		if c == ':' {
			name, value = line[:i], trimSpace(line[i+1:])
			break
		}
	}
	// Field names are case-sensitive; unknown fields are ignored. A switch
	// on string(name) does not allocate.
	switch string(name) {
	case "data":
		return d.addData(value, inSpill)
	case "id":
		// An id with NUL is ignored: it could not be sent back in the
		// Last-Event-ID header.
		if bytes.IndexByte(value, 0) >= 0 {
			return nil
		}
		d.ev.id, d.ev.hasID = value, true
		d.owned &^= ownID
		if inSpill {
			d.own(ownID)
		}
	case "event":
		d.ev.typ, d.ev.hasTyp = value, true
		d.owned &^= ownTyp
		if inSpill {
			d.own(ownTyp)
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			d.h.Retry(ms)
		}
	}
	return nil
}

// addData appends a data field's value to the data buffer. The first value
// stays where it is; a second one needs a buffer to join them in.
func (d *decoder) addData(v []byte, inSpill bool) error {
	e := &d.ev
	if !e.hasData {
		e.data, e.hasData = v, true
		d.owned &^= ownData
		if inSpill {
			d.own(ownData)
		}
		return nil
	}
	if len(e.data)+1+len(v) > MaxLineBytes {
		return errDataTooLarge
	}
	d.own(ownData)
	sp := d.s.spill
	sp.data = append(append(sp.data, '\n'), v...)
	e.data = sp.data
	return nil
}

// dispatch handles a blank line.
func (d *decoder) dispatch() {
	s, e := d.s, &d.ev
	// The last event ID is committed even when no event fires, so an id
	// sent alone still counts for the next reconnection.
	if e.hasID {
		s.lastID = append(s.lastID[:0], e.id...)
	}
	if e.hasData {
		typ := e.typ
		if len(typ) == 0 {
			typ = messageType
		}
		d.h.Event(s.lastID, e.hasID, typ, e.data)
	}
	// The type resets to message, and the data buffer empties, with or
	// without an event.
	d.ev, d.owned = event{}, 0
}

// trimSpace removes one leading space, as the spec requires after a colon.
func trimSpace(b []byte) []byte {
	if len(b) > 0 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// parseRetry parses a retry value, which counts only if it is all ASCII
// digits. Values too large for an int saturate.
func parseRetry(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if !isDigit(c) {
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
