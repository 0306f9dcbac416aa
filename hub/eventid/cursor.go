package eventid

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub/internal/clip"
)

// MaxPartitions is the most partitions a fleet can have, and so the most
// components a [Cursor] can have. It bounds what ParseCursor allocates for
// an untrusted header.
const MaxPartitions = 1024

// Cursor is a position in each partition of a fleet: index = partition, and
// each partition has its own id sequence. A zero ID means "not observed":
// nothing of that partition has been seen yet, which sorts before every id.
// A stream's single Last-Event-ID is a Cursor, because one id cannot say
// where the stream stands in several independent sequences.
//
// The text form, written by [Cursor.Append] and read by [ParseCursor], is
//
//	"c" base ("." component){N}
//
// with one component per partition, N = len(c), 1 <= N <= MaxPartitions.
// Every number is in base 36 with the lowercase digits 0-9a-z, no sign and
// no leading zero (except "0" itself), within uint64 (so at most 13 digits).
//
//   - base is the largest Time of the observed ids, or "0" when no partition
//     is observed. Ids of one fleet are close in time, so writing each one
//     as a distance below base keeps a cursor of many partitions short.
//   - A component is empty for a partition not observed. Otherwise it is
//     base - Time, then "-" and Seq only when Seq is not 0.
//
// For example, Cursor{{Time: 1718000000000, Seq: 3}, {}, {Time: 1717999999000}}
// is "clx8kuby8.0-3..rs": base 1718000000000 is lx8kuby8, and the third id is
// 1000 (rs) ms below it.
//
// Every cursor has exactly one spelling: a known component that would be the
// zero ID, a "-0" sequence, a base that is not the largest Time and every
// other variant is rejected by ParseCursor.
type Cursor []ID

// maxBase36Len is the length of MaxUint64 in base 36, 3w5e11264sgsf.
const maxBase36Len = 13

// MaxCursorLen returns the length of the longest text of a cursor with n
// partitions, n >= 1: "c", a 13-digit base, and per partition a dot, a
// 13-digit delta, a dash and a 13-digit sequence, except that one partition
// is at the base and its delta is the single digit 0. Append does not
// allocate into a buffer with that much room.
func MaxCursorLen(n int) int {
	return 1 + maxBase36Len + n*(1+maxBase36Len+1+maxBase36Len) - (maxBase36Len - 1)
}

// String returns the text form of c; see [Cursor]. A cursor with no
// partitions or more than MaxPartitions, which has no text form, is
// "invalid cursor of <n> partitions" rather than a panic, so that printing
// a nil cursor in a log line or a test failure is safe; ParseCursor rejects
// it.
func (c Cursor) String() string {
	if len(c) == 0 || len(c) > MaxPartitions {
		return "invalid cursor of " + strconv.Itoa(len(c)) + " partitions"
	}
	// Most cursors fit without going to the heap: 16 partitions of ids
	// minutes apart take under 100 bytes. Longer ones still work.
	var buf [512]byte
	return string(c.Append(buf[:0]))
}

// Append appends the text form of c (see [Cursor]) to dst and returns the
// extended slice. It does not allocate when dst has room for
// MaxCursorLen(len(c)) more bytes.
//
// Append panics if c has no partitions or more than MaxPartitions: there is
// no text for such a cursor that ParseCursor would accept, and writing one
// would send every client resuming from it into an error.
func (c Cursor) Append(dst []byte) []byte {
	if len(c) == 0 || len(c) > MaxPartitions {
		panic("eventid: a cursor has 1 to " + strconv.Itoa(MaxPartitions) +
			" partitions, not " + strconv.Itoa(len(c)))
	}
	// A partition not observed has Time 0, so the largest Time of all the
	// ids is the largest of the known ones, or 0 if none is known.
	var base uint64
	for _, id := range c {
		base = max(base, id.Time)
	}
	dst = append(dst, 'c')
	dst = strconv.AppendUint(dst, base, 36)
	for _, id := range c {
		dst = append(dst, '.')
		if id.IsZero() {
			continue
		}
		dst = strconv.AppendUint(dst, base-id.Time, 36)
		if id.Seq != 0 {
			dst = append(dst, '-')
			dst = strconv.AppendUint(dst, id.Seq, 36)
		}
	}
	return dst
}

// AppendStreamID appends the id a stream is sent for c: the text form of
// c, or, when partition 0 is the only one c has observed, the text of that
// id alone, which a fleet reads as the same position (an id of the
// single-slot layout is a position in partition 0, with every other
// partition read from its start; a partition a cursor has not observed was
// empty, or held nothing the stream selects, when the stream last heard of
// it). Hubs that still run the single-slot layout read it, so streams move
// between them and hubs that are moving to partitions without a reset
// (docs/fleet-design.md#moving-a-running-fleet-to-partitions). It does not
// allocate when dst has room for MaxCursorLen(len(c)) more bytes.
func (c Cursor) AppendStreamID(dst []byte) []byte {
	if len(c) > 0 && !c[0].IsZero() && !slices.ContainsFunc(c[1:], func(id ID) bool { return !id.IsZero() }) {
		return c[0].Append(dst)
	}
	return c.Append(dst)
}

// StreamID returns what AppendStreamID appends, or String's text for a
// cursor that has none.
func (c Cursor) StreamID() string {
	if len(c) == 0 || len(c) > MaxPartitions {
		return c.String()
	}
	var buf [512]byte
	return string(c.AppendStreamID(buf[:0]))
}

// ParseCursor parses the text form written by [Cursor.Append], described at
// [Cursor]. Anything else is an error wrapping [ErrSyntax], so whenever
// ParseCursor(s) succeeds, its String() is s.
//
// The input is untrusted (it comes from the Last-Event-ID header). The
// number of partitions is counted before anything is allocated, so the
// result, the only allocation when ParseCursor succeeds, is at most
// MaxPartitions ids long. The caller checks that length against its fleet's.
func ParseCursor(s string) (Cursor, error) {
	switch {
	case s == "":
		return nil, cursorSyntaxError(s, "is empty")
	case s[0] != 'c':
		return nil, cursorSyntaxError(s, "does not start with 'c'")
	}
	n := strings.Count(s, ".")
	switch {
	case n == 0:
		return nil, cursorSyntaxError(s, "has no partitions")
	case n > MaxPartitions:
		return nil, cursorSyntaxError(s, "has "+strconv.Itoa(n)+" partitions, more than "+
			strconv.Itoa(MaxPartitions))
	}
	baseText, rest, _ := strings.Cut(s[1:], ".")
	base, reason := parseBase36(baseText)
	if reason != "" {
		return nil, cursorSyntaxError(s, "base "+reason)
	}
	c := make(Cursor, n)
	known, nearest := false, false // any partition observed; one of them at base
	for i := range c {
		var comp string
		comp, rest, _ = strings.Cut(rest, ".")
		if comp == "" {
			continue // not observed
		}
		id, reason := parseComponent(comp, base)
		if reason != "" {
			return nil, cursorSyntaxError(s, "partition "+strconv.Itoa(i)+" "+reason)
		}
		c[i] = id
		known = true
		nearest = nearest || id.Time == base
	}
	switch {
	case known && !nearest:
		return nil, cursorSyntaxError(s, "base is not the largest time of its partitions (no delta is 0)")
	case !known && base != 0:
		return nil, cursorSyntaxError(s, "base is not 0 but no partition is observed")
	}
	return c, nil
}

// parseComponent parses a non-empty component, delta[-seq], against base.
// On failure it returns a reason phrase that follows "partition <i>".
func parseComponent(s string, base uint64) (id ID, reason string) {
	deltaText, seqText, hasSeq := strings.Cut(s, "-")
	delta, reason := parseBase36(deltaText)
	if reason != "" {
		return ID{}, "delta " + reason
	}
	if delta > base {
		return ID{}, "delta is greater than the base"
	}
	id.Time = base - delta
	if hasSeq {
		id.Seq, reason = parseBase36(seqText)
		if reason != "" {
			return ID{}, "sequence " + reason
		}
		if id.Seq == 0 {
			return ID{}, "has sequence -0, which must be left out"
		}
	}
	if id.IsZero() {
		// Otherwise "not observed" would have two spellings.
		return ID{}, "is the zero id, which is written as an empty component"
	}
	return id, ""
}

// parseBase36 parses a canonical lowercase base-36 uint64. On failure it
// returns a reason phrase instead of an error, so the caller can name the
// part.
func parseBase36(s string) (n uint64, reason string) {
	switch {
	case s == "":
		return 0, "is empty"
	case len(s) > maxBase36Len:
		return 0, "has more than 13 digits"
	case len(s) > 1 && s[0] == '0':
		return 0, "has a leading zero"
	}
	for i := 0; i < len(s); i++ {
		var d uint64
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case 'a' <= c && c <= 'z':
			d = uint64(c-'a') + 10
		case 'A' <= c && c <= 'Z':
			return 0, "has an uppercase digit"
		default:
			return 0, "is not a base-36 number"
		}
		// n*36 + d must not exceed MaxUint64; only a 13-digit part can get
		// here with n that large.
		if n > (math.MaxUint64-d)/36 {
			return 0, "overflows uint64"
		}
		n = n*36 + d
	}
	return n, ""
}

// cursorSyntaxError is syntaxError for ParseCursor: the same clipped quote,
// with a hint that shows a cursor rather than an id.
func cursorSyntaxError(s, reason string) error {
	return &parseError{msg: "eventid: invalid cursor " + clip.Quote(s) + ": " + reason +
		"; want c<time>.<delta>[-<sequence>] per partition in lowercase base 36," +
		" for example clx8kuby8.0-3..rs"}
}

// Covers reports whether c is at or past o in every partition, where a
// partition not observed is before every id: whether a stream at c has seen
// everything a stream at o has. Cursors of different lengths, which belong
// to differently partitioned fleets, do not cover each other.
func (c Cursor) Covers(o Cursor) bool {
	if len(c) != len(o) {
		return false
	}
	for i := range c {
		if c[i].Less(o[i]) {
			return false
		}
	}
	return true
}

// Raise moves c forward to o in every partition where o is ahead, so that
// afterwards c covers both its old self and o. It modifies c in place and
// does not allocate.
//
// Raise panics if the lengths differ: cursors of differently partitioned
// fleets have no common position. Check the length of a parsed cursor
// before raising it or raising by it.
func (c Cursor) Raise(o Cursor) {
	if len(c) != len(o) {
		panic("eventid: Raise of a cursor of " + strconv.Itoa(len(c)) +
			" partitions by one of " + strconv.Itoa(len(o)))
	}
	for i := range c {
		if c[i].Less(o[i]) {
			c[i] = o[i]
		}
	}
}
