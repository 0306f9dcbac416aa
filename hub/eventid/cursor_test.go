package eventid_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/hub/eventid"
)

// maxB36 is MaxUint64 in base 36; maxB36Plus1 is one more.
const (
	maxB36      = "3w5e11264sgsf"
	maxB36Plus1 = "3w5e11264sgsg"
)

// cursorTests is shared by TestParseCursor and the seeds of FuzzParseCursor.
// err is a part of the error message that names the reason, so that each
// input is rejected for the reason its name says.
var cursorTests = []struct {
	name string
	in   string
	want eventid.Cursor
	err  string
}{
	// Valid.
	{name: "one partition at the base", in: "clx8kuby8.0",
		want: eventid.Cursor{{Time: 1718000000000}}},
	{name: "documented example", in: "clx8kuby8.0-3..rs",
		want: eventid.Cursor{{Time: 1718000000000, Seq: 3}, {}, {Time: 1717999999000}}},
	{name: "one partition not observed", in: "c0.",
		want: eventid.Cursor{{}}},
	{name: "no partition observed", in: "c0....",
		want: make(eventid.Cursor, 4)},
	{name: "last partition not observed", in: "c5.0.",
		want: eventid.Cursor{{Time: 5}, {}}},
	{name: "time 0 with a sequence", in: "c0.0-1",
		want: eventid.Cursor{{Seq: 1}}},
	{name: "time 0 below the base", in: "c5.0.5-1",
		want: eventid.Cursor{{Time: 5}, {Seq: 1}}},
	{name: "letters as digits", in: "cz.0-z.a",
		want: eventid.Cursor{{Time: 35, Seq: 35}, {Time: 25}}},
	{name: "largest time and sequence", in: "c" + maxB36 + ".0-" + maxB36,
		want: eventid.Cursor{{Time: maxU, Seq: maxU}}},
	{name: "delta equal to the base", in: "c" + maxB36 + ".0." + maxB36 + "-" + maxB36,
		want: eventid.Cursor{{Time: maxU}, {Seq: maxU}}},
	{name: "MaxPartitions partitions", in: "c0" + strings.Repeat(".", eventid.MaxPartitions),
		want: make(eventid.Cursor, eventid.MaxPartitions)},

	// Shape.
	{name: "empty", in: "", err: "is empty"},
	{name: "no leading c", in: "lx8kuby8.0", err: "does not start with 'c'"},
	{name: "uppercase C", in: "C5.0", err: "does not start with 'c'"},
	{name: "leading space", in: " c5.0", err: "does not start with 'c'"},
	{name: "only c", in: "c", err: "has no partitions"},
	{name: "no partitions", in: "c5", err: "has no partitions"},
	{name: "comma for dot", in: "c5,0", err: "has no partitions"},
	{name: "MaxPartitions+1 partitions", in: "c0" + strings.Repeat(".", eventid.MaxPartitions+1),
		err: "has 1025 partitions, more than 1024"},

	// Base.
	{name: "base empty", in: "c.0-1", err: "base is empty"},
	{name: "base leading zero", in: "c05.0", err: "base has a leading zero"},
	{name: "base 00", in: "c00.", err: "base has a leading zero"},
	{name: "base uppercase", in: "cZ.0", err: "base has an uppercase digit"},
	{name: "base sign", in: "c+5.0", err: "base is not a base-36 number"},
	{name: "base negative", in: "c-5.0", err: "base is not a base-36 number"},
	{name: "base 14 digits", in: "c10000000000000.0", err: "base has more than 13 digits"},
	{name: "base overflows", in: "c" + maxB36Plus1 + ".0", err: "base overflows uint64"},
	{name: "base above every partition", in: "c6.1", err: "base is not the largest time"},
	{name: "base above partitions with sequences", in: "c6.1-1..2", err: "base is not the largest time"},
	{name: "base not 0 with nothing observed", in: "c5..", err: "base is not 0 but no partition is observed"},

	// Components.
	{name: "delta empty before a sequence", in: "c5.-1", err: "partition 0 delta is empty"},
	{name: "delta leading zero", in: "c5.0.01", err: "partition 1 delta has a leading zero"},
	{name: "delta 00", in: "c5.00", err: "partition 0 delta has a leading zero"},
	{name: "delta uppercase", in: "cz.0.A", err: "partition 1 delta has an uppercase digit"},
	{name: "delta 14 digits", in: "c5.0.10000000000000", err: "partition 1 delta has more than 13 digits"},
	{name: "delta overflows", in: "c5.0." + maxB36Plus1, err: "partition 1 delta overflows uint64"},
	{name: "delta greater than the base", in: "c5.0.6", err: "partition 1 delta is greater than the base"},
	{name: "sequence empty", in: "c5.0-", err: "partition 0 sequence is empty"},
	{name: "sequence 0 written out", in: "c5.0-0", err: "partition 0 has sequence -0, which must be left out"},
	{name: "sequence leading zero", in: "c5.0-01", err: "partition 0 sequence has a leading zero"},
	{name: "sequence uppercase", in: "c5.0-A", err: "partition 0 sequence has an uppercase digit"},
	{name: "sequence overflows", in: "c5.0-" + maxB36Plus1, err: "partition 0 sequence overflows uint64"},
	{name: "second dash", in: "c5.0-1-2", err: "partition 0 sequence is not a base-36 number"},
	{name: "zero id at base 0", in: "c0.0", err: "partition 0 is the zero id, which is written as an empty component"},
	{name: "zero id below the base", in: "c5.0.5", err: "partition 1 is the zero id"},

	// Other bytes and trailing garbage.
	{name: "trailing space", in: "c5.0.1 ", err: "partition 1 delta is not a base-36 number"},
	{name: "trailing newline", in: "c5.0-1\n", err: "partition 0 sequence is not a base-36 number"},
	{name: "trailing NUL", in: "c5.0.1\x00", err: "partition 1 delta is not a base-36 number"},
	{name: "trailing semicolon", in: "c5.1;x.0", err: "partition 0 delta is not a base-36 number"},
	{name: "fullwidth digit", in: "c5.0.１", err: "partition 1 delta is not a base-36 number"},
	{name: "invalid UTF-8", in: "c5.\xff", err: "partition 0 delta is not a base-36 number"},
	{name: "decimal id", in: "1718000000000-0", err: "does not start with 'c'"},
}

func TestParseCursor(t *testing.T) {
	for _, tt := range cursorTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eventid.ParseCursor(tt.in)
			if tt.err != "" {
				if !errors.Is(err, eventid.ErrSyntax) || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseCursor(%q) = %v, %v, want error wrapping ErrSyntax saying %q",
						tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCursor(%q) = %v, want nil error", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCursor(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("ParseCursor(%q).String() = %q, want %q", tt.in, s, tt.in)
			}
		})
	}
}

func TestParseCursorMessage(t *testing.T) {
	_, err := eventid.ParseCursor("c5.0.01")
	want := `eventid: invalid cursor "c5.0.01": partition 1 delta has a leading zero; ` +
		`want c<time>.<delta>[-<sequence>] per partition in lowercase base 36, for example clx8kuby8.0-3..rs`
	if err == nil || err.Error() != want {
		t.Errorf("ParseCursor(%q) error = %v, want %s", "c5.0.01", err, want)
	}

	long := "c" + strings.Repeat("z", 10000) + ".0"
	_, err = eventid.ParseCursor(long)
	if err == nil {
		t.Fatalf("ParseCursor(%d bytes) = nil error, want error", len(long))
	}
	if msg := err.Error(); len(msg) > 300 || !strings.Contains(msg, `"...`) {
		t.Errorf("ParseCursor(%d bytes) error = %q, want the input cut to the first 64 bytes", len(long), msg)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	big := make(eventid.Cursor, eventid.MaxPartitions)
	for i := range big {
		big[i] = eventid.ID{Time: 1718000000000 - uint64(i)*997, Seq: uint64(i % 7)}
	}
	for _, c := range []eventid.Cursor{
		{{}},
		{{Seq: 1}},
		{{Time: 1}},
		{{Time: maxU, Seq: maxU}},
		{{Time: maxU}, {}, {Seq: 1}, {Time: 1}},
		{{Time: 1718000000000, Seq: 3}, {}, {Time: 1717999999000}},
		{{Time: 1718000000000}, {Time: 1718000000000, Seq: 1}, {Time: 1718000000000, Seq: 2}},
		big,
	} {
		s := c.String()
		got, err := eventid.ParseCursor(s)
		if err != nil {
			t.Errorf("ParseCursor(%q) = %v, want nil error", s, err)
			continue
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("ParseCursor(%q) mismatch (-want +got):\n%s", s, diff)
		}
		if b := c.Append([]byte("x")); string(b) != "x"+s {
			t.Errorf("Append(%q) = %q, want %q", "x", b, "x"+s)
		}
	}
}

func TestMaxCursorLen(t *testing.T) {
	for _, n := range []int{1, 2, 16, eventid.MaxPartitions} {
		// The longest text: one partition at the largest time, so the base
		// has 13 digits, and every other one at time 0, so its delta does.
		c := make(eventid.Cursor, n)
		for i := range c {
			c[i] = eventid.ID{Seq: maxU}
		}
		c[0].Time = maxU
		if got, want := len(c.String()), eventid.MaxCursorLen(n); got != want {
			t.Errorf("len of the longest cursor of %d partitions = %d, want MaxCursorLen = %d", n, got, want)
		}
	}
}

func TestCursorStringInvalid(t *testing.T) {
	for _, c := range []eventid.Cursor{nil, make(eventid.Cursor, eventid.MaxPartitions+1)} {
		s := c.String()
		if _, err := eventid.ParseCursor(s); err == nil {
			t.Errorf("ParseCursor(%q), the String of a cursor of %d partitions, = nil error, want error", s, len(c))
		}
	}
}

func TestCursorAppendPanics(t *testing.T) {
	for _, c := range []eventid.Cursor{nil, {}, make(eventid.Cursor, eventid.MaxPartitions+1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Append of a cursor of %d partitions did not panic", len(c))
				}
			}()
			c.Append(nil)
		}()
	}
}

func TestCursorCovers(t *testing.T) {
	a := eventid.ID{Time: 10, Seq: 0}
	b := eventid.ID{Time: 10, Seq: 1}
	z := eventid.ID{}
	for _, tt := range []struct {
		name string
		c, o eventid.Cursor
		want bool
	}{
		{"equal", eventid.Cursor{a, b}, eventid.Cursor{a, b}, true},
		{"equal not observed", eventid.Cursor{z}, eventid.Cursor{z}, true},
		{"ahead in one partition", eventid.Cursor{b, b}, eventid.Cursor{a, b}, true},
		{"behind in one partition", eventid.Cursor{a, b}, eventid.Cursor{b, b}, false},
		{"ahead in one, behind in another", eventid.Cursor{b, a}, eventid.Cursor{a, b}, false},
		{"observed covers not observed", eventid.Cursor{eventid.ID{Seq: 1}}, eventid.Cursor{z}, true},
		{"not observed does not cover observed", eventid.Cursor{z}, eventid.Cursor{eventid.ID{Seq: 1}}, false},
		{"later time, lower sequence", eventid.Cursor{{Time: 11}}, eventid.Cursor{{Time: 10, Seq: maxU}}, true},
		{"longer", eventid.Cursor{b, b}, eventid.Cursor{a}, false},
		{"shorter", eventid.Cursor{b}, eventid.Cursor{a, a}, false},
		{"both empty", eventid.Cursor{}, nil, true},
	} {
		if got := tt.c.Covers(tt.o); got != tt.want {
			t.Errorf("%s: %v.Covers(%v) = %v, want %v", tt.name, tt.c, tt.o, got, tt.want)
		}
	}
}

func TestCursorRaise(t *testing.T) {
	for _, tt := range []struct {
		name       string
		c, o, want eventid.Cursor
	}{
		{"o ahead everywhere",
			eventid.Cursor{{}, {Time: 5}}, eventid.Cursor{{Seq: 1}, {Time: 6}},
			eventid.Cursor{{Seq: 1}, {Time: 6}}},
		{"o behind everywhere",
			eventid.Cursor{{Time: 9}, {Time: 5, Seq: 2}}, eventid.Cursor{{}, {Time: 5, Seq: 1}},
			eventid.Cursor{{Time: 9}, {Time: 5, Seq: 2}}},
		{"mixed",
			eventid.Cursor{{Time: 9}, {Time: 5, Seq: 2}, {}}, eventid.Cursor{{Time: 8, Seq: 9}, {Time: 5, Seq: 3}, {Time: 1}},
			eventid.Cursor{{Time: 9}, {Time: 5, Seq: 3}, {Time: 1}}},
	} {
		c := append(eventid.Cursor(nil), tt.c...)
		o := append(eventid.Cursor(nil), tt.o...)
		c.Raise(o)
		if diff := cmp.Diff(tt.want, c); diff != "" {
			t.Errorf("%s: %v.Raise(%v) mismatch (-want +got):\n%s", tt.name, tt.c, tt.o, diff)
		}
		if !c.Covers(tt.c) || !c.Covers(tt.o) {
			t.Errorf("%s: %v.Raise(%v) = %v, does not cover both", tt.name, tt.c, tt.o, c)
		}
		if diff := cmp.Diff(tt.o, o); diff != "" {
			t.Errorf("%s: Raise changed its argument (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestCursorRaisePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("Raise of a cursor of 2 partitions by one of 1 did not panic")
		}
	}()
	make(eventid.Cursor, 2).Raise(make(eventid.Cursor, 1))
}

// TestCursorStreamID: a cursor that has seen partition 0 alone is sent as
// that id, which every hub reads as the same position; any other as its
// text form.
func TestCursorStreamID(t *testing.T) {
	id := eventid.ID{Time: 1718000000000, Seq: 3}
	for _, tt := range []struct {
		c    eventid.Cursor
		want string
	}{
		{eventid.Cursor{id, {}, {}}, "1718000000000-3"},
		{eventid.Cursor{id}, "1718000000000-3"},
		{eventid.Cursor{id, {}, {Time: 1717999999000}}, "clx8kuby8.0-3..rs"},
		{eventid.Cursor{{}, id, {}}, "clx8kuby8..0-3."},
		{eventid.Cursor{{}, {}}, "c0.."},
	} {
		if got := tt.c.StreamID(); got != tt.want {
			t.Errorf("%v.StreamID() = %q, want %q", []eventid.ID(tt.c), got, tt.want)
		}
		if got := string(tt.c.AppendStreamID([]byte("x"))); got != "x"+tt.want {
			t.Errorf("%v.AppendStreamID(x) = %q, want %q", []eventid.ID(tt.c), got, "x"+tt.want)
		}
	}
	if got := eventid.Cursor(nil).StreamID(); got != "invalid cursor of 0 partitions" {
		t.Errorf("nil.StreamID() = %q", got)
	}
}

func TestCursorAllocs(t *testing.T) {
	c := benchCursor()
	s := c.String()
	buf := make([]byte, 0, eventid.MaxCursorLen(len(c)))
	if n := testing.AllocsPerRun(100, func() { buf = c.Append(buf[:0]) }); n != 0 {
		t.Errorf("Append: %v allocs per run, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = c.AppendStreamID(buf[:0]) }); n != 0 {
		t.Errorf("AppendStreamID: %v allocs per run, want 0", n)
	}
	p0 := eventid.Cursor{c[0], {}, {}}
	if n := testing.AllocsPerRun(100, func() { buf = p0.AppendStreamID(buf[:0]) }); n != 0 {
		t.Errorf("AppendStreamID of partition 0 alone: %v allocs per run, want 0", n)
	}
	var sink eventid.Cursor
	if n := testing.AllocsPerRun(100, func() { sink, _ = eventid.ParseCursor(s) }); n != 1 {
		t.Errorf("ParseCursor: %v allocs per run, want 1 (the result)", n)
	}
	o := append(eventid.Cursor(nil), c...)
	var covers bool
	if n := testing.AllocsPerRun(100, func() { covers = c.Covers(o) }); n != 0 {
		t.Errorf("Covers: %v allocs per run, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { o.Raise(c) }); n != 0 {
		t.Errorf("Raise: %v allocs per run, want 0", n)
	}
	_, _ = sink, covers
}

// benchCursor is a fleet of 16 partitions as a stream might see it: recent
// ids a few seconds apart, some with sequences, two partitions not observed.
func benchCursor() eventid.Cursor {
	c := make(eventid.Cursor, 16)
	for i := range c {
		c[i] = eventid.ID{Time: 1718000000000 - uint64(i*i)*37, Seq: uint64(i % 3)}
	}
	c[5], c[11] = eventid.ID{}, eventid.ID{}
	return c
}

func BenchmarkCursorAppend_16Partitions(b *testing.B) {
	c := benchCursor()
	buf := make([]byte, 0, eventid.MaxCursorLen(len(c)))
	b.ReportAllocs()
	for b.Loop() {
		buf = c.Append(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParseCursor_16Partitions(b *testing.B) {
	s := benchCursor().String()
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_, _ = eventid.ParseCursor(s)
	}
}

// rawSeeds are FuzzParseCursor's second argument, the bytes it builds a
// cursor from (see cursorFrom).
var rawSeeds = [][]byte{
	nil,
	{0x05},                         // one zero id
	{0x00, 7, 0, 0x08, 3, 0x05},    // near times and sequences, not observed
	{0x0e, 0xff, 0x0a, 0, 0, 0x0f}, // extremes
	{0x03, 1, 2, 3, 4, 5, 6, 7, 8, 0x0c, 9, 9, 9, 9, 9, 9, 9, 9},
}

func FuzzParseCursor(f *testing.F) {
	for i, tt := range cursorTests {
		f.Add(tt.in, rawSeeds[i%len(rawSeeds)])
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		// Whatever parses is canonical.
		p, err := eventid.ParseCursor(s)
		if err != nil {
			if !errors.Is(err, eventid.ErrSyntax) {
				t.Fatalf("ParseCursor(%q) error %v does not wrap ErrSyntax", s, err)
			}
			// The input is cut to 64 bytes, but each byte can quote as \xNN.
			if len(err.Error()) > 600 {
				t.Fatalf("ParseCursor(%d bytes) error is %d bytes, want <= 600", len(s), len(err.Error()))
			}
		} else if got := p.String(); got != s {
			t.Fatalf("ParseCursor(%q).String() = %q", s, got)
		}

		// Whatever is written parses back.
		c := cursorFrom(raw)
		text := c.String()
		got, err := eventid.ParseCursor(text)
		if err != nil {
			t.Fatalf("ParseCursor(%v.String() = %q) = %v", c, text, err)
		}
		if !slices.Equal(c, got) { // cmp.Diff only on failure: it is slow for the fuzzer
			t.Fatalf("ParseCursor(%q) mismatch (-want +got):\n%s", text, cmp.Diff(c, got))
		}
		if len(text) > eventid.MaxCursorLen(len(c)) {
			t.Fatalf("%v.String() is %d bytes, more than MaxCursorLen(%d) = %d",
				c, len(text), len(c), eventid.MaxCursorLen(len(c)))
		}

		// Raise takes the larger id of each partition, and so covers both.
		if p != nil && len(p) == len(c) {
			r := append(eventid.Cursor(nil), c...)
			r.Raise(p)
			for i := range r {
				want := c[i]
				if want.Less(p[i]) {
					want = p[i]
				}
				if r[i] != want {
					t.Fatalf("%v.Raise(%v) = %v; partition %d = %v, want %v", c, p, r, i, r[i], want)
				}
			}
			if !r.Covers(c) || !r.Covers(p) {
				t.Fatalf("%v.Raise(%v) = %v, does not cover both", c, p, r)
			}
		}
	})
}

// cursorFrom builds a cursor of 1 to MaxPartitions ids from fuzz bytes. Each
// id takes a tag byte, whose low bits say how to make its Time and its Seq
// (see take), and then the bytes those take.
func cursorFrom(raw []byte) eventid.Cursor {
	var c eventid.Cursor
	for len(raw) > 0 && len(c) < eventid.MaxPartitions {
		tag := raw[0]
		raw = raw[1:]
		var id eventid.ID
		id.Time, raw = take(tag&3, raw, 1718000000000)
		id.Seq, raw = take(tag>>2&3, raw, 0)
		c = append(c, id)
	}
	if len(c) == 0 {
		c = eventid.Cursor{{}}
	}
	return c
}

// take makes a uint64 of a kind the codec treats differently: near
// (plus a byte), 0, MaxUint64 (less a byte), or any (8 bytes).
func take(kind byte, raw []byte, near uint64) (uint64, []byte) {
	next := func() uint64 {
		if len(raw) == 0 {
			return 0
		}
		b := raw[0]
		raw = raw[1:]
		return uint64(b)
	}
	switch kind {
	case 0:
		return near + next(), raw
	case 1:
		return 0, raw
	case 2:
		return maxU - next(), raw
	}
	var b [8]byte
	n := copy(b[:], raw)
	return binary.BigEndian.Uint64(b[:]), raw[n:]
}

func ExampleCursor() {
	c := eventid.Cursor{{Time: 1718000000000, Seq: 3}, {}, {Time: 1717999999000}}
	fmt.Println(c)
	got, err := eventid.ParseCursor("clx8kuby8.0-3..rs")
	fmt.Println(got, err)
	_, err = eventid.ParseCursor("clx8kuby8.0-3..rs-0")
	fmt.Println(err)
	// Output:
	// clx8kuby8.0-3..rs
	// clx8kuby8.0-3..rs <nil>
	// eventid: invalid cursor "clx8kuby8.0-3..rs-0": partition 2 has sequence -0, which must be left out; want c<time>.<delta>[-<sequence>] per partition in lowercase base 36, for example clx8kuby8.0-3..rs
}
