package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UnitsReport is what RunUnits measured.
type UnitsReport struct {
	// Command is the command line that ran, if the caller sets it.
	Command string `json:"command,omitempty"`
	// Started is when the run started.
	Started time.Time `json:"started"`
	// RedisVersion is redis-server's version.
	RedisVersion string `json:"redis_version"`
	// Duration is how long each measurement ran, in Rounds rounds
	// (UnitsConfig.Duration and Rounds).
	Duration time.Duration `json:"duration_ns"`
	Rounds   int           `json:"rounds"`
	// PayloadBytes is UnitsConfig.Payload.
	PayloadBytes int `json:"payload_bytes"`
	// IdleRedisCPU is Redis's CPU time per second while idle, which
	// every measurement includes: a floor to judge the small figures by.
	IdleRedisCPU time.Duration `json:"idle_redis_cpu_ns_per_s"`
	// Rows are the measurements, in the order they ran.
	Rows []UnitCost `json:"rows"`
	// Slopes are lines fitted through rows that differ in one variable.
	Slopes []UnitSlope `json:"slopes"`
}

// UnitCost is one measurement: a run of identical units of work, in
// rounds, and what they cost. Counts and totals are the sums of the
// rounds'; each per-unit figure is the median of the rounds' figures.
type UnitCost struct {
	// Section is the kind of work: publish, fanout, patterns or replay.
	Section string `json:"section"`
	// Case is the variant of it, such as "batched" or "targeted".
	Case string `json:"case"`
	// Depends lists Vars as "name=value" pairs, for reading.
	Depends string `json:"depends"`
	// Vars are what the cost depends on, such as topics=10.
	Vars []UnitVar `json:"vars"`
	// Unit is what one unit of work is: "event", "PUBLISH" or "replayed
	// event".
	Unit string `json:"unit"`
	// Count is how many units were done, in Elapsed.
	Count   int64         `json:"count"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// PerSecond is Count over Elapsed: the rate this machine managed, with
	// Redis, this process and the rest of the machine's load on its cores.
	PerSecond float64 `json:"per_second"`
	// RedisCPU is redis-server's CPU time (user + system) over the
	// measurement; RedisCPUPerUnit the same per unit, in nanoseconds.
	RedisCPU        time.Duration `json:"redis_cpu_ns"`
	RedisCPUPerUnit float64       `json:"redis_cpu_ns_per_unit"`
	// RedisCPURounds are the rounds' RedisCPUPerUnit, in order, and
	// RedisCPUSpread their range (highest less lowest) over their
	// median: how much other work on the machine moved the figure.
	RedisCPURounds []float64 `json:"redis_cpu_ns_per_unit_rounds"`
	RedisCPUSpread float64   `json:"redis_cpu_spread"`
	// Receivers is how many subscriptions each PUBLISH reached, and
	// RedisCPUPerReceiver RedisCPUPerUnit divided among them.
	Receivers           int     `json:"receivers,omitempty"`
	RedisCPUPerReceiver float64 `json:"redis_cpu_ns_per_receiver,omitempty"`
	// RedisOutput is what Redis wrote to its clients over the
	// measurement (total_net_output_bytes); RedisOutputPerUnit per unit.
	RedisOutput        int64   `json:"redis_output_bytes"`
	RedisOutputPerUnit float64 `json:"redis_output_bytes_per_unit"`
	// ClientCPU is this process's CPU time over the measurement, where it
	// did what a hub does (publish and replay), and ClientCPUPerUnit the
	// same per unit: the hub's share of the work, go-redis included.
	// Zero elsewhere.
	ClientCPU        time.Duration `json:"client_cpu_ns,omitempty"`
	ClientCPUPerUnit float64       `json:"client_cpu_ns_per_unit,omitempty"`

	// hubWork says this process did the hub's work, so that ClientCPU
	// means something.
	hubWork bool
}

// combineRounds combines the rounds of one measurement into its row.
func combineRounds(rounds []UnitCost) UnitCost {
	row := rounds[0]
	row.Count, row.Elapsed, row.RedisCPU, row.RedisOutput, row.ClientCPU = 0, 0, 0, 0, 0
	row.RedisCPURounds = nil
	for _, r := range rounds {
		row.Count += r.Count
		row.Elapsed += r.Elapsed
		row.RedisCPU += r.RedisCPU
		row.RedisOutput += r.RedisOutput
		row.ClientCPU += r.ClientCPU
		row.RedisCPURounds = append(row.RedisCPURounds, r.RedisCPUPerUnit)
	}
	row.PerSecond = float64(row.Count) / row.Elapsed.Seconds()
	figure := func(f func(r UnitCost) float64) float64 {
		vs := make([]float64, len(rounds))
		for i, r := range rounds {
			vs[i] = f(r)
		}
		return median(vs)
	}
	row.RedisCPUPerUnit = figure(func(r UnitCost) float64 { return r.RedisCPUPerUnit })
	row.RedisCPUPerReceiver = figure(func(r UnitCost) float64 { return r.RedisCPUPerReceiver })
	row.RedisOutputPerUnit = figure(func(r UnitCost) float64 { return r.RedisOutputPerUnit })
	row.ClientCPUPerUnit = figure(func(r UnitCost) float64 { return r.ClientCPUPerUnit })
	if row.RedisCPUPerUnit > 0 {
		row.RedisCPUSpread = (slices.Max(row.RedisCPURounds) - slices.Min(row.RedisCPURounds)) / row.RedisCPUPerUnit
	}
	return row
}

// median returns the middle of vs, or the mean of the two middle ones;
// it sorts vs.
func median(vs []float64) float64 {
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// UnitVar is one variable a UnitCost depends on.
type UnitVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// finish fills in the per-unit figures from the totals.
func (r *UnitCost) finish() {
	n := float64(r.Count)
	r.PerSecond = n / r.Elapsed.Seconds()
	r.RedisCPUPerUnit = float64(r.RedisCPU) / n
	r.RedisOutputPerUnit = float64(r.RedisOutput) / n
	if r.Receivers > 0 {
		r.RedisCPUPerReceiver = r.RedisCPUPerUnit / float64(r.Receivers)
	}
	if r.hubWork {
		r.ClientCPUPerUnit = float64(r.ClientCPU) / n
	} else {
		r.ClientCPU = 0
	}
}

// UnitSlope is a line fitted (least squares) through the rows of one case
// that differ only in one variable: what each more of it costs.
type UnitSlope struct {
	// Name says which rows and which figure: "fanout broadcast: Redis CPU".
	Name string `json:"name"`
	// X is the variable, such as "conns".
	X string `json:"x"`
	// Points is how many rows the line goes through.
	Points int `json:"points"`
	// Slope is the figure's growth per one more of X, Per (such as
	// "connection"); Intercept its value at none. Unit is theirs: "ns"
	// (of CPU time) or "bytes".
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	Unit      string  `json:"unit"`
	Per       string  `json:"per"`
}

// per renders what the slope is per, for the table.
func (s UnitSlope) per() string { return "per " + s.Per }

// unitsSlopes say which slopes fitSlopes fits: over variable x of the rows
// of section, the figure y of each row.
var unitsSlopes = []struct {
	section, x, figure, unit, per string
	y                             func(r UnitCost) float64
	// only limits the rows to one case, if set.
	only string
}{
	{section: "publish", x: "topics", figure: "Redis CPU per event", unit: "ns", per: "topic",
		y: func(r UnitCost) float64 { return r.RedisCPUPerUnit }},
	{section: "fanout", x: "conns", figure: "Redis CPU per PUBLISH", unit: "ns", per: "connection",
		y: func(r UnitCost) float64 { return r.RedisCPUPerUnit }},
	{section: "fanout", x: "conns", figure: "Redis output per PUBLISH", unit: "bytes", per: "connection", only: "broadcast",
		y: func(r UnitCost) float64 { return r.RedisOutputPerUnit }},
	{section: "patterns", x: "patterns", figure: "Redis CPU per PUBLISH", unit: "ns", per: "pattern",
		y: func(r UnitCost) float64 { return r.RedisCPUPerUnit }},
	{section: "replay", x: "missed", figure: "Redis CPU per replay", unit: "ns", per: "missed event",
		y: func(r UnitCost) float64 { return r.RedisCPUPerUnit * varFloat(r, "missed") }},
	{section: "replay", x: "missed", figure: "client CPU per replay", unit: "ns", per: "missed event",
		y: func(r UnitCost) float64 { return r.ClientCPUPerUnit * varFloat(r, "missed") }},
}

// varFloat returns the value of r's variable name as a number, or NaN.
func varFloat(r UnitCost, name string) float64 {
	for _, v := range r.Vars {
		if v.Name == name {
			if f, err := strconv.ParseFloat(v.Value, 64); err == nil {
				return f
			}
		}
	}
	return math.NaN()
}

// fitSlopes fits the lines unitsSlopes asks for through rows: one per
// group of rows of the same section and case that differ only in x, if
// they hold two values of it or more. A pattern measurement with no
// patterns belongs to both of its cases.
func fitSlopes(rows []UnitCost) []UnitSlope {
	var out []UnitSlope
	for _, s := range unitsSlopes {
		type group struct {
			name   string
			xs, ys []float64
		}
		var groups []*group
		byKey := map[string]*group{}
		var zeroPatterns []UnitCost // belong to every patterns group
		for _, r := range rows {
			if r.Section != s.section || (s.only != "" && r.Case != s.only) {
				continue
			}
			if s.section == "patterns" && varFloat(r, "patterns") == 0 {
				zeroPatterns = append(zeroPatterns, r)
				continue
			}
			var rest []string
			for _, v := range r.Vars {
				if v.Name != s.x {
					rest = append(rest, v.Name+"="+v.Value)
				}
			}
			key := strings.TrimSpace(r.Section + " " + r.Case + " " + strings.Join(rest, " "))
			g := byKey[key]
			if g == nil {
				g = &group{name: key + ": " + s.figure}
				byKey[key] = g
				groups = append(groups, g)
			}
			g.xs, g.ys = append(g.xs, varFloat(r, s.x)), append(g.ys, s.y(r))
		}
		for _, g := range groups {
			for _, r := range zeroPatterns {
				g.xs, g.ys = append(g.xs, 0), append(g.ys, s.y(r))
			}
			slope, intercept, ok := fitLine(g.xs, g.ys)
			if !ok {
				continue
			}
			out = append(out, UnitSlope{Name: g.name, X: s.x, Points: len(g.xs), Slope: slope, Intercept: intercept, Unit: s.unit, Per: s.per})
		}
	}
	return out
}

// fitLine returns the least-squares line through the points (xs[i],
// ys[i]), or ok false if they hold fewer than two values of x or a NaN.
func fitLine(xs, ys []float64) (slope, intercept float64, ok bool) {
	n := float64(len(xs))
	if len(xs) != len(ys) || len(xs) < 2 {
		return 0, 0, false
	}
	var sx, sy float64
	for i := range xs {
		sx, sy = sx+xs[i], sy+ys[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 || math.IsNaN(sxx) || math.IsNaN(sxy) {
		return 0, 0, false
	}
	slope = sxy / sxx
	return slope, my - slope*mx, true
}

// WriteJSON writes the report as indented JSON.
func (r *UnitsReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as Markdown: a line on the run, a table of
// the rows and one of the slopes.
func (r *UnitsReport) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Redis unit costs: redis-server %s, %v per measurement in %d rounds (after %v of warm-up), payload %d B; idle Redis CPU %s per second.\n"+
		"Per-unit figures are the median of the rounds'; spread is the range of the rounds' Redis CPU over that median.\n\n",
		r.RedisVersion, r.Duration, r.Rounds, r.Duration/4, r.PayloadBytes, fmtNanos(float64(r.IdleRedisCPU)))
	rows := [][]string{{"section", "case", "depends on", "unit", "count", "per s", "Redis CPU/unit", "spread", "per receiver", "Redis out/unit", "client CPU/unit"}}
	for _, row := range r.Rows {
		perReceiver, client := dash, dash
		if row.Receivers > 0 {
			perReceiver = fmtNanos(row.RedisCPUPerReceiver)
		}
		if row.hubWork || row.ClientCPU != 0 {
			client = fmtNanos(row.ClientCPUPerUnit)
		}
		rows = append(rows, []string{row.Section, row.Case, row.Depends, row.Unit, strconv.FormatInt(row.Count, 10),
			sig3(row.PerSecond), fmtNanos(row.RedisCPUPerUnit), sig3(100*row.RedisCPUSpread) + "%", perReceiver, fmtBytesPer(row.RedisOutputPerUnit), client})
	}
	writeMarkdown(&b, rows, 4)
	b.WriteString("\nNo one subscribes in the publish rows, so their PUBLISHes reach no connection: a published event's cost\n" +
		"to Redis is its publish row plus, per topic, a fanout row's cost per receiving connection. Redis CPU includes\n" +
		"the idle CPU above; client CPU is this process's, doing the hub's side of publishing and resuming.\n")
	if len(r.Slopes) > 0 {
		b.WriteString("\nSlopes (least squares over the rows that differ only in x):\n\n")
		rows = [][]string{{"figure", "x", "points", "slope", "per", "intercept"}}
		for _, s := range r.Slopes {
			slope, intercept := fmtNanos(s.Slope), fmtNanos(s.Intercept)
			if s.Unit == "bytes" {
				slope, intercept = fmtBytesPer(s.Slope), fmtBytesPer(s.Intercept)
			}
			rows = append(rows, []string{s.Name, s.X, strconv.Itoa(s.Points), slope, s.per(), intercept})
		}
		writeMarkdown(&b, rows, 2)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dash stands in a cell for a figure that was not measured.
const dash = "–"

// writeMarkdown writes rows as a Markdown table with padded columns, the
// first row its head; the columns from numFrom on are right-aligned.
func writeMarkdown(b *strings.Builder, rows [][]string, numFrom int) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len([]rune(cell)))
		}
	}
	line := func(row []string) {
		b.WriteString("|")
		for i, cell := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(cell)))
			if i >= numFrom {
				b.WriteString(" " + pad + cell + " |")
			} else {
				b.WriteString(" " + cell + pad + " |")
			}
		}
		b.WriteString("\n")
	}
	line(rows[0])
	b.WriteString("|")
	for i, wd := range width {
		if i >= numFrom {
			b.WriteString(strings.Repeat("-", wd+1) + ":|")
		} else {
			b.WriteString(strings.Repeat("-", wd+2) + "|")
		}
	}
	b.WriteString("\n")
	for _, row := range rows[1:] {
		line(row)
	}
}

// fmtNanos renders a time in nanoseconds with three significant digits
// in ns, µs or ms.
func fmtNanos(ns float64) string {
	a := math.Abs(ns)
	switch {
	case a >= 1e6:
		return sig3(ns/1e6) + " ms"
	case a >= 1e3:
		return sig3(ns/1e3) + " µs"
	}
	return sig3(ns) + " ns"
}

// fmtBytesPer renders a byte count, possibly fractional, with three
// significant digits in B, KiB or MiB.
func fmtBytesPer(n float64) string {
	a := math.Abs(n)
	switch {
	case a >= 1<<20:
		return sig3(n/(1<<20)) + " MiB"
	case a >= 1<<10:
		return sig3(n/(1<<10)) + " KiB"
	}
	return sig3(n) + " B"
}

// sig3 renders v with three significant digits, or all its integer digits
// when it has more: "0.123", "12.3", "123", "12345".
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || a == 0:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
