package report

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDownsample(t *testing.T) {
	const n, limit = 10_000, 800
	pts := make([]point, n)
	for i := range pts {
		pts[i] = point{float64(i), 10 + math.Sin(float64(i)/50)}
	}
	pts[4321].y = 1000 // a spike
	pts[777].y = -50   // a dip
	for i := 6000; i < 6100; i++ {
		pts[i].y = math.NaN() // a gap wider than a bucket
	}

	got := downsample(pts, limit)
	if len(got) > limit {
		t.Errorf("downsample(%d points, %d) kept %d", n, limit, len(got))
	}
	if got[0] != pts[0] || got[len(got)-1] != pts[n-1] {
		t.Errorf("downsample() ends = %v, %v; want %v, %v", got[0], got[len(got)-1], pts[0], pts[n-1])
	}
	for _, want := range []point{pts[4321], pts[777]} {
		if !slices.Contains(got, want) {
			t.Errorf("downsample() dropped %v", want)
		}
	}
	if !slices.ContainsFunc(got, func(p point) bool { return math.IsNaN(p.y) }) {
		t.Error("downsample() dropped the gap")
	}
	if !slices.IsSortedFunc(got, func(a, b point) int { return cmpFloat(a.x, b.x) }) {
		t.Error("downsample() put points out of order")
	}

	short := pts[:limit]
	if got := downsample(short, limit); len(got) != limit {
		t.Errorf("downsample(%d points, %d) kept %d, want all", limit, limit, len(got))
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestTicks(t *testing.T) {
	approx := cmpopts.EquateApprox(1e-9, 0)
	tests := []struct {
		name      string
		got, want []float64
	}{
		{"linear", linearTicks(0, 97, 4), []float64{0, 50, 100}},
		{"linear fine", linearTicks(0, 0.9, 10), []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}},
		{"linear flat", linearTicks(0, 0, 4), []float64{0, 0.5, 1}},
		{"log narrow", logTicks(0.8, 45), []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100}},
		{"log wide", logTicks(0.05, 900), []float64{0.01, 0.1, 1, 10, 100, 1000}},
		{"log one value", logTicks(3, 3), []float64{1, 2, 5, 10}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, tc.got, approx); diff != "" {
			t.Errorf("%s ticks (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestProcSeries(t *testing.T) {
	procs := func(at time.Duration, cpu ...time.Duration) Sample {
		s := Sample{At: at}
		for i, c := range cpu {
			s.Procs = append(s.Procs, Proc{Name: string(rune('a' + i)), Role: "hub", RSS: int64(i+1) << 20, CPU: c})
		}
		return s
	}
	samples := []Sample{
		procs(time.Second, time.Second, 0),
		procs(3*time.Second, 2*time.Second, 4*time.Second), // a: 0.5 cores, b: 2
		procs(4*time.Second, time.Second),                  // a restarted: a gap; b missing: gaps
	}
	rss, cpu, byRole := procSeries(samples)
	if byRole {
		t.Error("procSeries(2 processes) summed by role")
	}
	nan := math.NaN()
	wantRSS := []series{
		{name: "a", color: palette[0], pts: []point{{1, 1 << 20}, {3, 1 << 20}, {4, 1 << 20}}},
		{name: "b", color: palette[1], pts: []point{{1, 2 << 20}, {3, 2 << 20}, {4, nan}}},
	}
	wantCPU := []series{
		{name: "a", color: palette[0], pts: []point{{3, 0.5}, {4, nan}}},
		{name: "b", color: palette[1], pts: []point{{3, 2}, {4, nan}}},
	}
	opts := cmp.Options{cmp.AllowUnexported(series{}, point{}), cmpopts.EquateNaNs()}
	if diff := cmp.Diff(wantRSS, rss, opts); diff != "" {
		t.Errorf("RSS series (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantCPU, cpu, opts); diff != "" {
		t.Errorf("CPU series (-want +got):\n%s", diff)
	}
}

// TestProcSeriesSkipsShortIntervals: a sample taken 5 ms after another
// (at a phase's end) gets no CPU point; the next point covers both.
func TestProcSeriesSkipsShortIntervals(t *testing.T) {
	at := func(at, cpu time.Duration) Sample {
		return Sample{At: at, Procs: []Proc{{Name: "a", Role: "hub", CPU: cpu}}}
	}
	samples := []Sample{
		at(time.Second, 0),
		at(1005*time.Millisecond, 30*time.Millisecond), // three 10 ms ticks: 6 cores over 5 ms
		at(2*time.Second, time.Second),
	}
	_, cpu, _ := procSeries(samples)
	want := []series{{name: "a", color: palette[0], pts: []point{{2, 1}}}}
	if diff := cmp.Diff(want, cpu, cmp.AllowUnexported(series{}, point{})); diff != "" {
		t.Errorf("CPU series (-want +got):\n%s", diff)
	}
}

func TestProcSeriesByRole(t *testing.T) {
	var s1, s2 Sample
	s2.At = 2 * time.Second
	for i := range maxProcLines + 1 {
		role := "generator"
		if i < 3 {
			role = "hub"
		}
		name := string(rune('a' + i))
		s1.Procs = append(s1.Procs, Proc{Name: name, Role: role, RSS: 10})
		s2.Procs = append(s2.Procs, Proc{Name: name, Role: role, RSS: 20, CPU: time.Second})
	}
	s1.At = time.Second
	rss, cpu, byRole := procSeries([]Sample{s1, s2})
	if !byRole {
		t.Fatalf("procSeries(%d processes) did not sum by role", maxProcLines+1)
	}
	type line struct {
		Name string
		Y    []float64
	}
	flat := func(ss []series) []line {
		var ls []line
		for _, s := range ss {
			l := line{Name: s.name}
			for _, p := range s.pts {
				l.Y = append(l.Y, p.y)
			}
			ls = append(ls, l)
		}
		return ls
	}
	if diff := cmp.Diff([]line{{"hub ×3", []float64{30, 60}}, {"generator ×10", []float64{100, 200}}}, flat(rss)); diff != "" {
		t.Errorf("RSS by role (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]line{{"hub ×3", []float64{3}}, {"generator ×10", []float64{10}}}, flat(cpu)); diff != "" {
		t.Errorf("CPU by role (-want +got):\n%s", diff)
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"baseline", 8, "baseline"},
		{"baseline", 5, "base…"},
		{"µµµµ", 3, "µµ…"},
		{"baseline", 1, ""},
	}
	for _, tc := range tests {
		if got := clip(tc.s, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
