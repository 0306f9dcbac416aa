package publisher

// appendEvent appends e as the hub's JSON event object
// {"topics":[...],"event":"...","data":"..."}, "event" left out when empty.
//
// It is written by hand rather than with encoding/json, which replaces
// bytes that are not UTF-8 with U+FFFD without a word: a publisher would
// then deliver data other than what it was given. Here every byte goes
// out as it is, and the hub refuses text that is not UTF-8 with its code
// (invalid_data, invalid_topic, invalid_event).
func appendEvent(b []byte, e Event) []byte {
	b = append(b, `{"topics":[`...)
	for i, t := range e.Topics {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t)
	}
	b = append(b, ']')
	if e.Event != "" {
		b = append(b, `,"event":`...)
		b = appendString(b, e.Event)
	}
	b = append(b, `,"data":`...)
	b = appendString(b, e.Data)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping only what JSON
// requires (RFC 8259 section 7): '"', '\' and the control characters.
// Other bytes, valid UTF-8 or not, are copied.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
