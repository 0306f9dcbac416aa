package bench

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
)

func TestFitLine(t *testing.T) {
	for _, tt := range []struct {
		name             string
		xs, ys           []float64
		slope, intercept float64
		ok               bool
	}{
		{name: "two points", xs: []float64{10, 1000}, ys: []float64{20, 1010}, slope: 1, intercept: 10, ok: true},
		{name: "exact line", xs: []float64{0, 10, 100, 1000}, ys: []float64{5, 25, 205, 2005}, slope: 2, intercept: 5, ok: true},
		{name: "flat", xs: []float64{1, 2, 3}, ys: []float64{7, 7, 7}, slope: 0, intercept: 7, ok: true},
		// Through (0,0), (1,2), (2,1): the mean is (1,1), the slope 0.5.
		{name: "least squares", xs: []float64{0, 1, 2}, ys: []float64{0, 2, 1}, slope: 0.5, intercept: 0.5, ok: true},
		{name: "one point", xs: []float64{1}, ys: []float64{1}},
		{name: "one x", xs: []float64{3, 3}, ys: []float64{1, 2}},
		{name: "NaN x", xs: []float64{1, math.NaN()}, ys: []float64{1, 2}},
		{name: "NaN y", xs: []float64{1, 2}, ys: []float64{1, math.NaN()}},
		{name: "lengths differ", xs: []float64{1, 2, 3}, ys: []float64{1, 2}},
	} {
		slope, intercept, ok := fitLine(tt.xs, tt.ys)
		near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
		if ok != tt.ok || (ok && (!near(slope, tt.slope) || !near(intercept, tt.intercept))) {
			t.Errorf("%s: fitLine(%v, %v) = %v, %v, %t; want %v, %v, %t", tt.name, tt.xs, tt.ys, slope, intercept, ok, tt.slope, tt.intercept, tt.ok)
		}
	}
}

func TestEventTopics(t *testing.T) {
	shared := eventTopics(3, true)
	for _, seq := range []int64{0, 1, 12345} {
		if got, want := shared(seq), []string{"news/0", "news/1", "news/2"}; !slices.Equal(got, want) {
			t.Errorf("eventTopics(3, shared)(%d) = %q, want %q", seq, got, want)
		}
	}
	distinct := eventTopics(10, false)
	for _, tt := range []struct {
		seq   int64
		first int // the first user; the others follow, modulo distinctTopics
	}{{0, 0}, {1, 10}, {distinctTopics/10 - 1, distinctTopics - 10}, {distinctTopics / 10, 0}, {distinctTopics/10 + 3, 30}} {
		var want []string
		for i := range 10 {
			want = append(want, "user/"+strconv.Itoa((tt.first+i)%distinctTopics))
		}
		if got := distinct(tt.seq); !slices.Equal(got, want) {
			t.Errorf("eventTopics(10, distinct)(%d) = %q, want %q", tt.seq, got, want)
		}
	}
	// With a count that does not divide distinctTopics, a window wraps
	// around the end of the ring.
	three := eventTopics(3, false)
	seq := int64(distinctTopics / 3) // starts at user 9999
	if got, want := three(seq), []string{"user/9999", "user/0", "user/1"}; !slices.Equal(got, want) {
		t.Errorf("eventTopics(3, distinct)(%d) = %q, want %q", seq, got, want)
	}
}

func TestRESPEncoding(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want string
	}{
		{"command", string(appendCommand(nil, []string{"SUBSCRIBE", "a:b"})), "*2\r\n$9\r\nSUBSCRIBE\r\n$3\r\na:b\r\n"},
		{"subscribe replies", string(subscribeReplies([]string{"PSUBSCRIBE", "x*", "y"})),
			"*3\r\n$10\r\npsubscribe\r\n$2\r\nx*\r\n:1\r\n*3\r\n$10\r\npsubscribe\r\n$1\r\ny\r\n:2\r\n"},
		{"message", string(messageFrame("ch", "hello")), "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"},
		{"pmessage", string(pmessageFrame("c*", "ch", "")), "*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$0\r\n\r\n"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestCombineRounds(t *testing.T) {
	round := func(count int64, cpu time.Duration, receivers int) UnitCost {
		r := UnitCost{Section: "fanout", Count: count, Elapsed: time.Second, RedisCPU: cpu, RedisOutput: 10 * count,
			ClientCPU: time.Millisecond, Receivers: receivers}
		r.finish()
		return r
	}
	// 1, 4 and 2 µs per unit: the median is 2, the spread (4-1)/2.
	got := combineRounds([]UnitCost{round(1000, time.Millisecond, 2), round(500, 2*time.Millisecond, 2), round(2000, 4*time.Millisecond, 2)})
	want := UnitCost{Section: "fanout", Count: 3500, Elapsed: 3 * time.Second, PerSecond: 3500.0 / 3,
		RedisCPU: 7 * time.Millisecond, RedisCPUPerUnit: 2000, RedisCPURounds: []float64{1000, 4000, 2000}, RedisCPUSpread: 1.5,
		Receivers: 2, RedisCPUPerReceiver: 1000, RedisOutput: 35000, RedisOutputPerUnit: 10}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(UnitCost{})); diff != "" {
		t.Errorf("combineRounds: (-want +got)\n%s", diff)
	}
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{[]float64{5}, 5}, {[]float64{3, 1}, 2}, {[]float64{9, 1, 5, 7}, 6}, {[]float64{2, 8, 4}, 4}} {
		if got := median(slices.Clone(tt.in)); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestFitSlopes checks which rows each slope goes through: only those of
// one case that differ in its variable, and the pattern rows with no
// pattern in both pattern cases.
func TestFitSlopes(t *testing.T) {
	row := func(section, kase string, y float64, vars ...string) UnitCost {
		r := UnitCost{Section: section, Case: kase, RedisCPUPerUnit: y, RedisOutputPerUnit: 2 * y}
		for i := 0; i < len(vars); i += 2 {
			r.Vars = append(r.Vars, UnitVar{vars[i], vars[i+1]})
		}
		return r
	}
	rows := []UnitCost{
		row("publish", "batched", 30, "topics", "1", "history", "on"),
		row("publish", "batched", 120, "topics", "10", "history", "on"),
		row("publish", "batched", 50, "topics", "1", "history", "off"), // alone: no line
		row("fanout", "broadcast", 110, "pipeline", "1", "conns", "10"),
		row("fanout", "broadcast", 1010, "pipeline", "1", "conns", "100"),
		row("patterns", "non-matching", 10, "patterns", "0"),
		row("patterns", "non-matching", 20, "patterns", "100"),
		row("patterns", "matching", 210, "patterns", "100"),
		row("replay", "resume", 5, "missed", "10"),
		row("replay", "resume", 1, "missed", "1000"),
	}
	var got []string
	for _, s := range fitSlopes(rows) {
		got = append(got, fmt.Sprintf("%s | %s %d %.3g per %s %s, %.3g", s.Name, s.X, s.Points, s.Slope, s.Per, s.Unit, s.Intercept))
	}
	want := []string{
		"publish batched history=on: Redis CPU per event | topics 2 10 per topic ns, 20",
		"fanout broadcast pipeline=1: Redis CPU per PUBLISH | conns 2 10 per connection ns, 10",
		"fanout broadcast pipeline=1: Redis output per PUBLISH | conns 2 20 per connection bytes, 20",
		"patterns non-matching: Redis CPU per PUBLISH | patterns 2 0.1 per pattern ns, 10",
		"patterns matching: Redis CPU per PUBLISH | patterns 2 2 per pattern ns, 10",
		// Per replay: 50 ns at 10 missed, 1000 ns at 1000.
		"replay resume: Redis CPU per replay | missed 2 0.96 per missed event ns, 40.4",
		"replay resume: client CPU per replay | missed 2 0 per missed event ns, 0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fitSlopes: (-want +got)\n%s", diff)
	}
}

// TestRunUnits runs every measurement briefly against a real
// redis-server and checks that each row is there and measured
// something, and the one figure that does not vary: what a broadcast
// writes per subscriber.
func TestRunUnits(t *testing.T) {
	ctx := startE2E(t)
	testenv.Require(t, redistest.InstallCommand, "redis-server")
	var log bytes.Buffer
	cfg := UnitsConfig{
		Duration: 100 * time.Millisecond, Rounds: 2, Payload: 150,
		Pipelines: []int{1, 4}, Conns: []int{3, 30}, Patterns: []int{0, 5, 50}, Missed: []int{5, 300},
		Log: &log,
	}
	rep, err := RunUnits(ctx, cfg)
	if err != nil {
		t.Fatalf("RunUnits: %v\nlog:\n%s", err, log.String())
	}
	var got []string
	for _, r := range rep.Rows {
		got = append(got, r.Section+" "+r.Case+" "+r.Depends)
		if r.Count <= 0 || r.PerSecond <= 0 || r.RedisCPUPerUnit <= 0 || r.RedisOutputPerUnit <= 0 {
			t.Errorf("%s %s %s: count %d, %.0f/s, Redis CPU %.0f ns, output %.0f B per %s; want all > 0",
				r.Section, r.Case, r.Depends, r.Count, r.PerSecond, r.RedisCPUPerUnit, r.RedisOutputPerUnit, r.Unit)
		}
		if hub := r.Section == "publish" || r.Section == "replay"; hub != (r.ClientCPUPerUnit > 0) {
			t.Errorf("%s %s %s: client CPU %.0f ns per %s; want > 0 only for publish and replay", r.Section, r.Case, r.Depends, r.ClientCPUPerUnit, r.Unit)
		}
		if len(r.RedisCPURounds) != cfg.Rounds || r.RedisCPUSpread < 0 {
			t.Errorf("%s %s %s: Redis CPU per round %v, spread %v; want %d rounds, spread >= 0", r.Section, r.Case, r.Depends, r.RedisCPURounds, r.RedisCPUSpread, cfg.Rounds)
		}
		if r.Receivers > 0 && r.RedisCPUPerReceiver <= 0 {
			t.Errorf("%s %s %s: Redis CPU per receiver %.0f ns, want > 0", r.Section, r.Case, r.Depends, r.RedisCPUPerReceiver)
		}
	}
	var want []string
	for _, shape := range []string{"single publishers=1 batch=1", "concurrent publishers=4 batch=1", "batched publishers=1 batch=100"} {
		for _, topics := range []string{"1", "10"} {
			for _, history := range []string{"on", "off"} {
				want = append(want, "publish "+shape+" topics="+topics+" distinct history="+history)
			}
		}
	}
	for _, topics := range []string{"1", "10"} {
		for _, history := range []string{"on", "off"} {
			want = append(want, "publish batched publishers=1 batch=100 topics="+topics+" shared history="+history)
		}
	}
	for _, depth := range []string{"1", "4"} {
		for _, c := range []string{"broadcast", "targeted"} {
			for _, k := range []string{"3", "30"} {
				want = append(want, "fanout "+c+" pipeline="+depth+" conns="+k)
			}
		}
	}
	want = append(want, "patterns non-matching patterns=0", "patterns non-matching patterns=5", "patterns non-matching patterns=50",
		"patterns matching patterns=5", "patterns matching patterns=50", "replay resume missed=5", "replay resume missed=300")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("RunUnits rows: (-want +got)\n%s", diff)
	}

	// Each connection a broadcast reaches costs exactly one message frame
	// of output; the rest of the output (PUBLISH's replies, the INFO that
	// ends a measurement) is the same whatever the connections.
	frame := float64(len(messageFrame("bench:c:news/0", strings.Repeat("x", cfg.Payload))))
	found := 0
	for _, s := range rep.Slopes {
		if s.X == "conns" && s.Unit == "bytes" {
			found++
			if math.Abs(s.Slope-frame) > 0.02*frame {
				t.Errorf("%s: %.1f bytes per connection, want %.0f (one message frame)", s.Name, s.Slope, frame)
			}
		}
	}
	if found != len(cfg.Pipelines) {
		t.Errorf("found %d output slopes over conns, want %d (one per pipeline depth): %+v", found, len(cfg.Pipelines), rep.Slopes)
	}

	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(table.String(), "\n| "); n != len(want)+1+len(rep.Slopes)+1 {
		t.Errorf("table has %d rows, want %d (rows, slopes and two heads):\n%s", n, len(want)+len(rep.Slopes)+2, table.String())
	}
}
