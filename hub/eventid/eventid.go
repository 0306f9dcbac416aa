// Package eventid defines the ids the hub assigns to events.
//
// An id is <unix-milliseconds>-<sequence> in decimal, for example
// "1718000000000-3". That is exactly the shape of a Redis Stream entry id, so
// the Redis broker can store events under the hub's own ids, and it is short
// and URL-safe, so it travels unchanged in the SSE id: field, the
// Last-Event-ID header and the lastEventId query parameter. Ids are totally
// ordered by (Time, Seq) across all topics (docs/protocol.md#event-ids).
//
// When the fleet spreads topics over partitions, each with its own id
// sequence, an id is a position within one partition, and a [Cursor] holds
// one position per partition.
package eventid

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/internal/clip"
)

// ID identifies one event. The zero ID means "no event" (for example, a
// subscriber that did not ask to resume); it sorts before every other ID and
// is never generated.
type ID struct {
	// Time is the time the id was generated, in milliseconds since the
	// Unix epoch, or a later time when the clock went backwards.
	Time uint64
	// Seq orders ids within one millisecond, starting at 0.
	Seq uint64
}

// maxLen is the length of the longest id: two 20-digit uint64s and a dash.
const maxLen = 20 + 1 + 20

// IsZero reports whether id is the zero ID, meaning "none".
func (id ID) IsZero() bool { return id == ID{} }

// Compare returns -1 if id sorts before o, 0 if they are equal and +1 if id
// sorts after o. Ids sort by Time, then by Seq.
func (id ID) Compare(o ID) int {
	switch {
	case id.Time < o.Time:
		return -1
	case id.Time > o.Time:
		return +1
	case id.Seq < o.Seq:
		return -1
	case id.Seq > o.Seq:
		return +1
	}
	return 0
}

// Less reports whether id sorts before o.
func (id ID) Less(o ID) bool {
	return id.Time < o.Time || (id.Time == o.Time && id.Seq < o.Seq)
}

// String returns the canonical form, for example "1718000000000-3". The zero
// ID is "0-0", which Redis also reads as "before every entry".
func (id ID) String() string {
	var buf [maxLen]byte
	return string(id.Append(buf[:0]))
}

// Append appends the canonical form of id to dst and returns the extended
// slice. It does not allocate when dst has room for 41 bytes, which is what
// the SSE encoder relies on.
func (id ID) Append(dst []byte) []byte {
	dst = strconv.AppendUint(dst, id.Time, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Seq, 10)
}

// Timestamp returns Time as a time.Time. Times past the range of an int64
// count of milliseconds, which only a crafted id can hold, are clamped to
// that range's end.
func (id ID) Timestamp() time.Time {
	return time.UnixMilli(int64(min(id.Time, math.MaxInt64)))
}

// ErrSyntax is wrapped by every error [Parse] and [ParseCursor] return.
var ErrSyntax = errors.New("eventid: invalid syntax")

// Parse parses the canonical form written by [ID.String]: 1 to 20 ASCII
// digits, a dash, 1 to 20 ASCII digits, each part without a sign or leading
// zeros (except "0" itself) and within uint64. Anything else is an error
// wrapping [ErrSyntax], so whenever Parse(s) succeeds, its String() is s and
// no two strings name the same id.
//
// The input is untrusted (it comes from the Last-Event-ID header), so Parse
// accepts no variants that a later consumer, such as Redis, might read
// differently. It does not allocate unless it fails.
func Parse(s string) (ID, error) {
	// Find the dash by hand: strings.Cut would accept a second dash in the
	// sequence and leave parseUint to report it less clearly.
	dash := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			dash = i
			break
		}
	}
	if dash < 0 {
		return ID{}, syntaxError(s, "missing '-' between time and sequence")
	}
	t, reason := parseUint(s[:dash])
	if reason != "" {
		return ID{}, syntaxError(s, "time "+reason)
	}
	seq, reason := parseUint(s[dash+1:])
	if reason != "" {
		return ID{}, syntaxError(s, "sequence "+reason)
	}
	return ID{Time: t, Seq: seq}, nil
}

// parseUint parses a canonical decimal uint64. On failure it returns a
// reason phrase instead of an error, so the caller can name the part.
func parseUint(s string) (n uint64, reason string) {
	switch {
	case s == "":
		return 0, "is empty"
	case len(s) > 20:
		return 0, "has more than 20 digits"
	case len(s) > 1 && s[0] == '0':
		return 0, "has a leading zero"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, "is not a decimal number"
		}
		d := uint64(c - '0')
		// n*10 + d must not exceed MaxUint64; only a 20-digit part can
		// get here with n that large.
		if n > (math.MaxUint64-d)/10 {
			return 0, "overflows uint64"
		}
		n = n*10 + d
	}
	return n, ""
}

// syntaxError quotes s cut short: the header can be long and the error may
// be logged or sent back.
func syntaxError(s, reason string) error {
	return &parseError{msg: "eventid: invalid id " + clip.Quote(s) + ": " + reason +
		"; want <unix-milliseconds>-<sequence>, for example 1718000000000-0"}
}

// parseError carries a message naming the input and the problem, and wraps
// ErrSyntax. The message is built eagerly so the error does not retain the
// input.
type parseError struct{ msg string }

func (e *parseError) Error() string { return e.msg }
func (e *parseError) Unwrap() error { return ErrSyntax }

// Generator assigns increasing ids. The zero Generator is ready to use.
//
// A Generator is not safe for concurrent use: its owner (the publish path
// that orders events) serialises calls, which it must do anyway for the ids
// to follow publication order.
type Generator struct {
	last ID // the last id generated or observed
}

// Next returns an id greater than every id returned or observed so far.
// It is {now in ms, 0} when now's millisecond is past the last id's;
// otherwise, when several ids fall in one millisecond or the clock went
// backwards, it is {last.Time, last.Seq+1}. This is how Redis XADD assigns
// ids, so ids never go backwards even if the clock does, and they catch up
// with the clock as soon as it passes them again.
//
// Next panics if the last id is {MaxUint64, MaxUint64}: no greater id
// exists, and handing out a smaller one would break resumption for every
// client. Only Observe with a crafted id can get there.
func (g *Generator) Next(now time.Time) ID {
	// Clocks before 1970 count as 0: ids are unsigned.
	if ms := now.UnixMilli(); ms > 0 && uint64(ms) > g.last.Time {
		g.last = ID{Time: uint64(ms)}
		return g.last
	}
	switch {
	case g.last.Seq < math.MaxUint64:
		g.last.Seq++
	case g.last.Time < math.MaxUint64:
		// 2^64 ids in one millisecond cannot happen by counting, only after
		// Observe; borrow the next millisecond rather than wrap around.
		g.last = ID{Time: g.last.Time + 1}
	default:
		panic("eventid: id space exhausted after " + g.last.String())
	}
	return g.last
}

// Last returns the last id generated or observed, or the zero ID if there
// is none.
func (g *Generator) Last() ID { return g.last }

// Observe raises the floor so that every later id is greater than id. Feed
// it the newest id known elsewhere, such as the head of the broker's history
// at startup, so ids keep increasing across restarts and across the
// processes of a fleet even when their clocks disagree. An id at or below
// the floor changes nothing.
func (g *Generator) Observe(id ID) {
	if g.last.Less(id) {
		g.last = id
	}
}

// Prev returns the greatest id less than id, so that "after id.Prev()"
// includes id itself. The zero ID has no predecessor and returns itself.
func (id ID) Prev() ID {
	switch {
	case id.Seq > 0:
		return ID{Time: id.Time, Seq: id.Seq - 1}
	case id.Time > 0:
		return ID{Time: id.Time - 1, Seq: math.MaxUint64}
	default:
		return ID{}
	}
}
