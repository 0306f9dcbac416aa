package bench

import (
	"bytes"
	"strconv"
	"time"
)

// An event's data, as the bench publishes it, is
//
//	<topic>|<seq>|<sent>[|<padding>]
//
// seq counts the events published to topic, from 1, and sent is when the
// publisher stamped the event, in Unix nanoseconds. From these a stream
// tells lost, repeated and reordered events apart per topic, and measures
// end-to-end latency (every process runs on the same machine and clock).
// The format is plain text that needs no escaping in JSON or form bodies,
// so the same payload works against any SSE server.
const payloadSep = '|'

// AppendPayload appends the data of event seq on topic, stamped at sent,
// to dst, followed by pad bytes of padding when pad > 0.
func AppendPayload(dst []byte, topic string, seq uint64, sent time.Time, pad int) []byte {
	dst = append(dst, topic...)
	dst = append(dst, payloadSep)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, payloadSep)
	dst = strconv.AppendInt(dst, sent.UnixNano(), 10)
	if pad > 0 {
		dst = append(dst, payloadSep)
		for range pad {
			dst = append(dst, 'x')
		}
	}
	return dst
}

// ParsePayload reads the topic, sequence number and send time (Unix
// nanoseconds) from data made by AppendPayload. ok is false if data has
// another shape: an event the bench did not publish. topic aliases data.
func ParsePayload(data []byte) (topic []byte, seq uint64, sentNanos int64, ok bool) {
	i := bytes.IndexByte(data, payloadSep)
	if i <= 0 {
		return nil, 0, 0, false
	}
	topic, rest := data[:i], data[i+1:]
	seqText, rest, found := cutByte(rest, payloadSep)
	if !found {
		return nil, 0, 0, false
	}
	sentText, _, _ := cutByte(rest, payloadSep)
	seq, ok = parseDecimal(seqText)
	if !ok || seq == 0 {
		return nil, 0, 0, false
	}
	sent, ok := parseDecimal(sentText)
	if !ok || sent > 1<<63-1 {
		return nil, 0, 0, false
	}
	return topic, seq, int64(sent), true
}

// cutByte is bytes.Cut for a single separator byte.
func cutByte(b []byte, sep byte) (before, after []byte, found bool) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

// parseDecimal parses 1 to 19 ASCII digits without allocating, which
// strconv.ParseUint on a []byte conversion may not promise.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
