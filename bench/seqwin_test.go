package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// seqModel is what seqWindow approximates in constant space: the set of
// sequence numbers received.
type seqModel struct {
	got        map[uint64]bool
	distinct   int64
	highest    uint64
	duplicated int64 // arrivals of a number already received
	reordered  int64 // first arrivals below the highest received before
}

func (m *seqModel) receive(seq uint64) {
	if m.got == nil {
		m.got = make(map[uint64]bool)
	}
	switch {
	case m.got[seq]:
		m.duplicated++
	case seq < m.highest:
		m.reordered++
	}
	if !m.got[seq] {
		m.got[seq] = true
		m.distinct++
	}
	m.highest = max(m.highest, seq)
}

// lost is how many of 1..final were never received, for a final at or
// above every number received.
func (m *seqModel) lost(final uint64) int64 { return int64(final) - m.distinct }

func TestSeqWindow(t *testing.T) {
	tests := []struct {
		name                 string
		arrivals             []uint64
		final                uint64
		lost, dup, reordered int64
	}{
		{name: "nothing received", final: 5, lost: 5},
		{name: "nothing published", final: 0},
		{name: "in order", arrivals: []uint64{1, 2, 3}, final: 3},
		{name: "tail missing", arrivals: []uint64{1, 2}, final: 5, lost: 3},
		{name: "head missing", arrivals: []uint64{3, 4}, final: 4, lost: 2},
		{name: "gap", arrivals: []uint64{1, 3}, final: 3, lost: 1},
		{name: "gap filled late", arrivals: []uint64{1, 3, 2}, final: 3, reordered: 1},
		{name: "repeat", arrivals: []uint64{1, 2, 2}, final: 2, dup: 1},
		{name: "repeat of a late one", arrivals: []uint64{1, 3, 2, 2}, final: 3, dup: 1, reordered: 1},
		{name: "repeat of an old one", arrivals: []uint64{1, 2, 3, 1}, final: 3, dup: 1},
		{name: "first repeated at once", arrivals: []uint64{1, 1}, final: 1, dup: 1},
		{name: "63 back filled", arrivals: []uint64{1, 65, 2}, final: 65, lost: 62, reordered: 1},
		{name: "63 back repeated", arrivals: []uint64{1, 2, 65, 2}, final: 65, lost: 62, dup: 1},
		// Beyond the window a late event is only counted as reordered:
		// 2 arrived, yet stays lost.
		{name: "64 back", arrivals: []uint64{1, 66, 2}, final: 66, lost: 64, reordered: 1},
		{name: "64 back repeated", arrivals: []uint64{1, 2, 66, 2}, final: 66, lost: 63, reordered: 1},
		{name: "huge jump", arrivals: []uint64{1, 1 << 40, 1<<40 - 1}, final: 1 << 40, lost: 1<<40 - 3, reordered: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w seqWindow
			for _, seq := range tt.arrivals {
				w.receive(seq)
			}
			if got := w.missing(tt.final); got != tt.lost || w.duplicated != tt.dup || w.reordered != tt.reordered {
				t.Errorf("after %v: missing(%d), duplicated, reordered = %d, %d, %d; want %d, %d, %d",
					tt.arrivals, tt.final, got, w.duplicated, w.reordered, tt.lost, tt.dup, tt.reordered)
			}
		})
	}
}

// randomArrivals returns the numbers 1..n as a network might deliver them:
// some dropped, some repeated, and each displaced by a random jitter of
// up to maxJitter places, so none arrives maxJitter or more below the
// highest before it.
func randomArrivals(r *rand.Rand, n uint64, drop, repeat float64, maxJitter int) []uint64 {
	type arrival struct {
		seq uint64
		key float64
	}
	var as []arrival
	for seq := uint64(1); seq <= n; seq++ {
		if r.Float64() < drop {
			continue
		}
		for copies := 1; ; copies++ {
			as = append(as, arrival{seq, float64(seq) + r.Float64()*float64(maxJitter)})
			if copies == 3 || r.Float64() >= repeat {
				break
			}
		}
	}
	slices.SortFunc(as, func(a, b arrival) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	out := make([]uint64, len(as))
	for i, a := range as {
		out[i] = a.seq
	}
	return out
}

func TestSeqWindowMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 2000 {
		n := uint64(1 + r.IntN(300))
		drop := []float64{0, 0.01, 0.2, 0.9}[round%4]
		repeat := []float64{0, 0.05, 0.3}[round%3]
		jitter := 1 + r.IntN(63)
		arrivals := randomArrivals(r, n, drop, repeat, jitter)

		var w seqWindow
		var m seqModel
		for i, seq := range arrivals {
			if m.highest > seq && m.highest-seq >= 64 {
				t.Fatalf("round %d: %d arrives %d below %d; the generator must stay within the window", round, seq, m.highest-seq, m.highest)
			}
			w.receive(seq)
			m.receive(seq)
			// Any final at or above what arrived so far may be asked.
			final := m.highest + uint64(r.IntN(3))
			if got, want := w.missing(final), m.lost(final); got != want || w.duplicated != m.duplicated || w.reordered != m.reordered {
				t.Fatalf("round %d, after %v: missing(%d), duplicated, reordered = %d, %d, %d; the model says %d, %d, %d",
					round, arrivals[:i+1], final, got, w.duplicated, w.reordered, want, m.duplicated, m.reordered)
			}
		}
		if got, want := w.missing(n), m.lost(n); got != want {
			t.Fatalf("round %d, after %v: missing(%d) = %d, model %d", round, arrivals, n, got, want)
		}
	}
}
