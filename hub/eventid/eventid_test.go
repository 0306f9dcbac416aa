package eventid_test

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/eventid"
)

const maxU = math.MaxUint64

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    eventid.ID
		wantErr bool
	}{
		// Valid.
		{in: "0-0", want: eventid.ID{}},
		{in: "0-1", want: eventid.ID{Seq: 1}},
		{in: "1-0", want: eventid.ID{Time: 1}},
		{in: "1718000000000-0", want: eventid.ID{Time: 1718000000000}},
		{in: "1718000000000-42", want: eventid.ID{Time: 1718000000000, Seq: 42}},
		{in: "18446744073709551615-18446744073709551615", want: eventid.ID{Time: maxU, Seq: maxU}},
		{in: "10000000000000000000-9", want: eventid.ID{Time: 1e19, Seq: 9}},

		// Shape.
		{in: "", wantErr: true},
		{in: "-", wantErr: true},
		{in: "1", wantErr: true},
		{in: "1-", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1--1", wantErr: true},
		{in: "1-1-1", wantErr: true},
		{in: "1_1", wantErr: true},

		// Leading zeros.
		{in: "01-1", wantErr: true},
		{in: "1-01", wantErr: true},
		{in: "00-0", wantErr: true},
		{in: "0-00", wantErr: true},

		// Spaces and signs.
		{in: " 1-1", wantErr: true},
		{in: "1-1 ", wantErr: true},
		{in: "1 -1", wantErr: true},
		{in: "1-1\n", wantErr: true},
		{in: "+1-1", wantErr: true},
		{in: "1-+1", wantErr: true},
		{in: "1--0", wantErr: true},

		// Range.
		{in: "18446744073709551616-0", wantErr: true},
		{in: "0-18446744073709551616", wantErr: true},
		{in: "99999999999999999999-0", wantErr: true},
		{in: "100000000000000000000-0", wantErr: true},
		{in: "1-" + strings.Repeat("1", 21), wantErr: true},

		// Other bytes.
		{in: "١-١", wantErr: true}, // Arabic-Indic digits
		{in: "１-1", wantErr: true}, // fullwidth digit
		{in: "1-1\x00", wantErr: true},
		{in: "\x00", wantErr: true},
		{in: "0x1-1", wantErr: true},
		{in: "1e3-1", wantErr: true},
		{in: "1.0-1", wantErr: true},
		{in: "\xff-1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := eventid.Parse(tt.in)
		if tt.wantErr {
			if !errors.Is(err, eventid.ErrSyntax) {
				t.Errorf("Parse(%q) = %v, %v, want error wrapping ErrSyntax", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v, want %v, nil", tt.in, got, err, tt.want)
		}
		if s := got.String(); s != tt.in {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, s, tt.in)
		}
	}
}

func TestParseMessage(t *testing.T) {
	_, err := eventid.Parse("1-01")
	want := `eventid: invalid id "1-01": sequence has a leading zero; want <unix-milliseconds>-<sequence>, for example 1718000000000-0`
	if err == nil || err.Error() != want {
		t.Errorf("Parse(%q) error = %v, want %s", "1-01", err, want)
	}

	long := strings.Repeat("9", 10000)
	_, err = eventid.Parse(long)
	if err == nil {
		t.Fatalf("Parse(%d nines) = nil error, want error", len(long))
	}
	if msg := err.Error(); len(msg) > 250 || !strings.Contains(msg, `"...`) {
		t.Errorf("Parse(%d nines) error = %q, want it cut to the first 64 bytes", len(long), msg)
	}
}

func TestCompare(t *testing.T) {
	// Strictly increasing.
	ordered := []eventid.ID{
		{},
		{Time: 0, Seq: 1},
		{Time: 0, Seq: maxU},
		{Time: 1, Seq: 0},
		{Time: 1, Seq: 1},
		{Time: 9, Seq: 0},
		{Time: 10, Seq: 0},
		{Time: 1718000000000, Seq: 0},
		{Time: 1718000000000, Seq: 7},
		{Time: 1718000000001, Seq: 0},
		{Time: maxU, Seq: 0},
		{Time: maxU, Seq: maxU},
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = +1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
			if got := a.Less(b); got != (i < j) {
				t.Errorf("%v.Less(%v) = %v, want %v", a, b, got, i < j)
			}
		}
	}
}

func TestIsZero(t *testing.T) {
	for _, tt := range []struct {
		id   eventid.ID
		want bool
	}{
		{eventid.ID{}, true},
		{eventid.ID{Seq: 1}, false},
		{eventid.ID{Time: 1}, false},
	} {
		if got := tt.id.IsZero(); got != tt.want {
			t.Errorf("%v.IsZero() = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestTimestamp(t *testing.T) {
	now := time.UnixMilli(1718000000123)
	if got := (eventid.ID{Time: 1718000000123, Seq: 5}).Timestamp(); !got.Equal(now) {
		t.Errorf("Timestamp() = %v, want %v", got, now)
	}
	// A crafted id past int64 must not wrap around to before 1970.
	if got := (eventid.ID{Time: maxU}).Timestamp(); got.Before(now) {
		t.Errorf("ID{Time: MaxUint64}.Timestamp() = %v, want after %v", got, now)
	}
}

func TestGenerator(t *testing.T) {
	t0 := time.UnixMilli(1718000000000)
	ms := time.Millisecond
	steps := []struct {
		now  time.Time
		want eventid.ID
	}{
		{t0, eventid.ID{Time: 1718000000000, Seq: 0}},
		{t0, eventid.ID{Time: 1718000000000, Seq: 1}},                             // same ms
		{t0.Add(999 * time.Microsecond), eventid.ID{Time: 1718000000000, Seq: 2}}, // same ms, later ns
		{t0.Add(ms), eventid.ID{Time: 1718000000001, Seq: 0}},                     // next ms
		{t0.Add(5 * ms), eventid.ID{Time: 1718000000005, Seq: 0}},
		{t0.Add(-time.Second), eventid.ID{Time: 1718000000005, Seq: 1}}, // clock goes back
		{t0.Add(3 * ms), eventid.ID{Time: 1718000000005, Seq: 2}},       // still behind
		{t0.Add(5 * ms), eventid.ID{Time: 1718000000005, Seq: 3}},       // caught up, same ms
		{t0.Add(6 * ms), eventid.ID{Time: 1718000000006, Seq: 0}},       // past it
	}
	var g eventid.Generator
	if got := g.Last(); !got.IsZero() {
		t.Fatalf("new Generator: Last() = %v, want zero", got)
	}
	prev := eventid.ID{}
	for i, s := range steps {
		got := g.Next(s.now)
		if got != s.want {
			t.Errorf("step %d: Next(%v) = %v, want %v", i, s.now.UnixMilli(), got, s.want)
		}
		if !prev.Less(got) {
			t.Errorf("step %d: Next = %v, not after previous %v", i, got, prev)
		}
		if last := g.Last(); last != got {
			t.Errorf("step %d: Last() = %v, want %v", i, last, got)
		}
		prev = got
	}
}

func TestGeneratorEpoch(t *testing.T) {
	// At or before the epoch the clock reads as 0, and 0-0 is never handed out.
	for _, now := range []time.Time{time.UnixMilli(0), time.UnixMilli(-5), {}} {
		var g eventid.Generator
		if got, want := g.Next(now), (eventid.ID{Seq: 1}); got != want {
			t.Errorf("Next(%v) on a new Generator = %v, want %v", now, got, want)
		}
	}
}

func TestGeneratorObserve(t *testing.T) {
	t0 := time.UnixMilli(1000)
	var g eventid.Generator
	g.Next(t0) // 1000-0

	// A floor from elsewhere, ahead of this clock.
	g.Observe(eventid.ID{Time: 5000, Seq: 3})
	if got, want := g.Last(), (eventid.ID{Time: 5000, Seq: 3}); got != want {
		t.Errorf("Last() after Observe = %v, want %v", got, want)
	}
	if got, want := g.Next(t0), (eventid.ID{Time: 5000, Seq: 4}); got != want {
		t.Errorf("Next after Observe(5000-3) = %v, want %v", got, want)
	}
	// An older id does not lower the floor.
	g.Observe(eventid.ID{Time: 10})
	if got, want := g.Next(t0), (eventid.ID{Time: 5000, Seq: 5}); got != want {
		t.Errorf("Next after Observe(10-0) = %v, want %v", got, want)
	}
	// An equal id changes nothing either.
	g.Observe(eventid.ID{Time: 5000, Seq: 5})
	if got, want := g.Next(time.UnixMilli(5001)), (eventid.ID{Time: 5001}); got != want {
		t.Errorf("Next(5001) = %v, want %v", got, want)
	}
}

func TestGeneratorSeqExhausted(t *testing.T) {
	var g eventid.Generator
	g.Observe(eventid.ID{Time: 7, Seq: maxU})
	if got, want := g.Next(time.UnixMilli(1)), (eventid.ID{Time: 8}); got != want {
		t.Errorf("Next after 7-MaxUint64 = %v, want %v", got, want)
	}

	g.Observe(eventid.ID{Time: maxU, Seq: maxU})
	defer func() {
		if recover() == nil {
			t.Errorf("Next after MaxUint64-MaxUint64 did not panic")
		}
	}()
	g.Next(time.UnixMilli(1))
}

func TestAllocs(t *testing.T) {
	id := eventid.ID{Time: maxU, Seq: maxU}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = id.Append(buf[:0]) }); n != 0 {
		t.Errorf("Append: %v allocs per run, want 0", n)
	}
	var sink eventid.ID
	if n := testing.AllocsPerRun(100, func() { sink, _ = eventid.Parse("1718000000000-42") }); n != 0 {
		t.Errorf("Parse: %v allocs per run, want 0", n)
	}
	var g eventid.Generator
	now := time.UnixMilli(1718000000000)
	if n := testing.AllocsPerRun(100, func() { sink = g.Next(now) }); n != 0 {
		t.Errorf("Generator.Next: %v allocs per run, want 0", n)
	}
	_ = sink
}

func BenchmarkAppend(b *testing.B) {
	id := eventid.ID{Time: 1718000000000, Seq: 42}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = id.Append(buf[:0])
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = eventid.Parse("1718000000000-42")
	}
}

// canonical is the grammar of Parse written independently: the range check
// is left to strconv.ParseUint.
var canonical = regexp.MustCompile(`\A(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})\z`)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"0-0", "1-0", "1718000000000-42", "18446744073709551615-18446744073709551615",
		"18446744073709551616-0", "", "-", "1-", "-1", "01-1", "1-01", " 1-1", "1-1 ",
		"+1-1", "١-١", "1-1\x00", "1-1-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := eventid.Parse(s)
		want := false
		if m := canonical.FindStringSubmatch(s); m != nil {
			_, err1 := strconv.ParseUint(m[1], 10, 64)
			_, err2 := strconv.ParseUint(m[2], 10, 64)
			want = err1 == nil && err2 == nil
		}
		if (err == nil) != want {
			t.Fatalf("Parse(%q) = %v, %v; reference accepts: %v", s, id, err, want)
		}
		if err != nil {
			if !errors.Is(err, eventid.ErrSyntax) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrSyntax", s, err)
			}
			// The input is cut to 64 bytes, but each byte can quote as \xNN.
			if len(err.Error()) > 400 {
				t.Fatalf("Parse(%d bytes) error is %d bytes, want <= 400", len(s), len(err.Error()))
			}
			return
		}
		if got := id.String(); got != s {
			t.Fatalf("Parse(%q).String() = %q", s, got)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(1718000000000), uint64(42))
	f.Add(uint64(maxU), uint64(maxU))
	f.Add(uint64(10), uint64(9))
	f.Fuzz(func(t *testing.T, tm, seq uint64) {
		id := eventid.ID{Time: tm, Seq: seq}
		s := id.String()
		got, err := eventid.Parse(s)
		if err != nil || got != id {
			t.Fatalf("Parse(%v.String()) = %v, %v, want %v, nil", id, got, err, id)
		}
		if b := id.Append([]byte("x")); string(b) != "x"+s {
			t.Fatalf("%v.Append(%q) = %q, want %q", id, "x", b, "x"+s)
		}
		// Compare agrees with comparing the two fields in turn.
		o := eventid.ID{Time: seq, Seq: tm}
		want := 0
		if id.Time != o.Time {
			want = cmpU(id.Time, o.Time)
		} else {
			want = cmpU(id.Seq, o.Seq)
		}
		if got := id.Compare(o); got != want {
			t.Fatalf("%v.Compare(%v) = %d, want %d", id, o, got, want)
		}
	})
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ExampleGenerator() {
	var g eventid.Generator
	t0 := time.UnixMilli(1718000000000)
	fmt.Println(g.Next(t0))
	fmt.Println(g.Next(t0))                   // same millisecond
	fmt.Println(g.Next(t0.Add(-time.Second))) // the clock went back
	fmt.Println(g.Next(t0.Add(time.Millisecond)))
	// Output:
	// 1718000000000-0
	// 1718000000000-1
	// 1718000000000-2
	// 1718000000001-0
}

func ExampleParse() {
	id, err := eventid.Parse("1718000000000-7")
	fmt.Println(id.Time, id.Seq, err)
	_, err = eventid.Parse("1718000000000-07")
	fmt.Println(err)
	// Output:
	// 1718000000000 7 <nil>
	// eventid: invalid id "1718000000000-07": sequence has a leading zero; want <unix-milliseconds>-<sequence>, for example 1718000000000-0
}

func TestPrev(t *testing.T) {
	for _, tc := range []struct{ id, want eventid.ID }{
		{eventid.ID{5, 3}, eventid.ID{5, 2}},
		{eventid.ID{5, 0}, eventid.ID{4, math.MaxUint64}},
		{eventid.ID{0, 1}, eventid.ID{0, 0}},
		{eventid.ID{}, eventid.ID{}},
	} {
		if got := tc.id.Prev(); got != tc.want {
			t.Errorf("%v.Prev() = %v, want %v", tc.id, got, tc.want)
		}
		if !tc.id.IsZero() && !tc.id.Prev().Less(tc.id) {
			t.Errorf("%v.Prev() is not less", tc.id)
		}
	}
}
