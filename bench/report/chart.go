package report

import (
	"html"
	"math"
	"strconv"
	"strings"
)

// This file draws line charts as inline SVG. The SVG is written as text
// rather than through html/template because it is mostly coordinates;
// every string that comes from a run goes through esc.

// point is one value of a series, x seconds into the run. A NaN y is a gap:
// the line stops there and starts again at the next value.
type point struct{ x, y float64 }

// series is one line of a chart.
type series struct {
	name  string
	color string
	dash  bool
	pts   []point
}

// band is a phase as drawn behind a chart: a shaded, labelled span of x.
type band struct {
	name       string
	start, end float64
}

// chart is a line chart over the run's time, in seconds.
type chart struct {
	// title is shown above the chart and read out by screen readers;
	// note qualifies it in a lighter type.
	title, note string
	// log selects a logarithmic y axis; values at or below zero are
	// gaps there.
	log bool
	// tick renders a y axis value.
	tick   func(float64) string
	series []series
}

// The geometry of every chart, in SVG user units. All charts share it so
// that their time axes line up down the page.
const (
	chartW   = 1200
	chartH   = 280
	padLeft  = 72  // y tick labels
	padRight = 190 // legend
	padTop   = 26  // phase labels
	padBot   = 30  // x tick labels
	plotW    = chartW - padLeft - padRight
	plotH    = chartH - padTop - padBot

	// maxPoints bounds each drawn series: about one point per pixel of
	// a laptop-sized plot, whatever the length of the run.
	maxPoints = 800
	// legendLen is the most characters of a series name the legend
	// shows; the full name is in the line's tooltip.
	legendLen = 24
)

// downsample thins pts to at most limit points (limit >= 4) for drawing.
// It keeps the first and the last point and, from each of (limit-2)/2
// equal runs of the points between, the lowest and the highest in their
// order, so that spikes and dips survive: a latency chart must not hide
// its worst second. A run with no values becomes one gap; a gap inside a
// run that has values is dropped, as it would be narrower than a pixel.
func downsample(pts []point, limit int) []point {
	if len(pts) <= limit {
		return pts
	}
	inner := pts[1 : len(pts)-1]
	buckets := (limit - 2) / 2
	out := make([]point, 0, limit)
	out = append(out, pts[0])
	for i := range buckets {
		bucket := inner[i*len(inner)/buckets : (i+1)*len(inner)/buckets]
		lo, hi := -1, -1
		for j, p := range bucket {
			if math.IsNaN(p.y) {
				continue
			}
			if lo < 0 || p.y < bucket[lo].y {
				lo = j
			}
			if hi < 0 || p.y > bucket[hi].y {
				hi = j
			}
		}
		switch {
		case lo < 0:
			out = append(out, point{bucket[0].x, math.NaN()})
		case lo == hi:
			out = append(out, bucket[lo])
		case lo < hi:
			out = append(out, bucket[lo], bucket[hi])
		default:
			out = append(out, bucket[hi], bucket[lo])
		}
	}
	return append(out, pts[len(pts)-1])
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / exp; {
	case f <= 1:
		return exp
	case f <= 2:
		return 2 * exp
	case f <= 5:
		return 5 * exp
	}
	return 10 * exp
}

// linearTicks returns about n evenly spaced round values covering lo..hi;
// the first and last are the axis bounds.
func linearTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / float64(n))
	// The slack keeps float error (0.9/0.1 = 9.000000000000002) from
	// adding a tick.
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	ticks := make([]float64, 0, int(last-first)+1)
	for i := first; i <= last; i++ {
		// i*step, not a running sum, so that 0.1 steps stay round.
		ticks = append(ticks, i*step)
	}
	return ticks
}

// logTicks returns round values covering lo..hi (both > 0) on a log axis:
// the powers of ten around them and, when the axis spans at most three
// decades, 2 and 5 times each as well. The first and last are the axis
// bounds.
func logTicks(lo, hi float64) []float64 {
	a, b := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if b <= a {
		b = a + 1
	}
	mults := []float64{1}
	if b-a <= 3 {
		mults = []float64{1, 2, 5}
	}
	var ticks []float64
	for e := a; e < b; e++ {
		for _, m := range mults {
			ticks = append(ticks, m*math.Pow(10, e))
		}
	}
	return append(ticks, math.Pow(10, b))
}

// svgText builds SVG markup.
type svgText struct{ strings.Builder }

// esc escapes s for SVG text and attribute values.
func esc(s string) string { return html.EscapeString(s) }

// num renders a coordinate with one decimal, enough at this size.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func (b *svgText) line(x1, y1, x2, y2 float64, attrs string) {
	b.WriteString(`<line x1="` + num(x1) + `" y1="` + num(y1) + `" x2="` + num(x2) + `" y2="` + num(y2) + `" ` + attrs + "/>\n")
}

func (b *svgText) text(x, y float64, s, attrs string) {
	b.WriteString(`<text x="` + num(x) + `" y="` + num(y) + `" ` + attrs + `>` + esc(s) + "</text>\n")
}

// svg draws c over 0..xMax seconds with bands behind it.
func (c *chart) svg(bands []band, xMax float64) string {
	if !(xMax > 0) {
		xMax = 1
	}
	ss := make([]series, len(c.series))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range c.series {
		s.pts = downsample(s.pts, maxPoints)
		for _, p := range s.pts {
			if c.drawable(p.y) {
				lo, hi = min(lo, p.y), max(hi, p.y)
			}
		}
		ss[i] = s
	}
	empty := math.IsInf(lo, 1)

	var ticks []float64
	switch {
	case c.log && empty:
		ticks = logTicks(1, 10)
	case c.log:
		ticks = logTicks(lo, hi)
	case empty:
		ticks = linearTicks(0, 1, 4)
	default:
		ticks = linearTicks(min(lo, 0), hi, 4)
	}
	yLo, yHi := ticks[0], ticks[len(ticks)-1]
	x := func(v float64) float64 { return padLeft + v/xMax*plotW }
	y := func(v float64) float64 {
		f := (v - yLo) / (yHi - yLo)
		if c.log {
			f = math.Log10(v/yLo) / math.Log10(yHi/yLo)
		}
		return padTop + plotH - f*plotH
	}

	var b svgText
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + strconv.Itoa(chartW) + " " + strconv.Itoa(chartH) +
		`" role="img" aria-label="` + esc(c.title) + `" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12">` + "\n")

	// Phases: alternate shades, a divider at each start, the name above.
	for i, bd := range bands {
		x0, x1 := x(max(bd.start, 0)), x(min(bd.end, xMax))
		if x1 <= x0 {
			continue
		}
		fill := "#edf1f7"
		if i%2 == 1 {
			fill = "#f6f8fb"
		}
		b.WriteString(`<rect x="` + num(x0) + `" y="` + num(padTop) + `" width="` + num(x1-x0) + `" height="` + num(plotH) +
			`" fill="` + fill + `"><title>` + esc(bd.name) + "</title></rect>\n")
		b.line(x0, padTop-18, x0, padTop+plotH, `stroke="#c5cdd9" stroke-width="1"`)
		// About 7 units per character at this size.
		if label := clip(bd.name, int((x1-x0-8)/7)); label != "" {
			b.text(x0+4, padTop-8, label, `fill="#4a5261" font-weight="600"`)
		}
	}

	// Y grid and labels.
	for _, t := range ticks {
		yy := y(t)
		b.line(padLeft, yy, padLeft+plotW, yy, `stroke="#dfe4ec" stroke-width="1"`)
		b.text(padLeft-8, yy+4, c.tick(t), `text-anchor="end" fill="#5b6475"`)
	}
	// X axis, ticks and labels.
	b.line(padLeft, padTop+plotH, padLeft+plotW, padTop+plotH, `stroke="#8a93a3" stroke-width="1"`)
	for _, t := range linearTicks(0, xMax, 10) {
		if t > xMax {
			break
		}
		b.line(x(t), padTop+plotH, x(t), padTop+plotH+5, `stroke="#8a93a3" stroke-width="1"`)
		b.text(x(t), padTop+plotH+18, fmtSeconds(t), `text-anchor="middle" fill="#5b6475"`)
	}

	if empty {
		b.text(padLeft+plotW/2, padTop+plotH/2, "no data", `text-anchor="middle" fill="#8a93a3" font-size="14"`)
	}
	for _, s := range ss {
		c.drawSeries(&b, s, x, y)
	}

	// Legend, to the right of the plot.
	lx := float64(padLeft + plotW + 20)
	for i, s := range ss {
		ly := float64(padTop + 8 + 20*i)
		b.WriteString("<g><title>" + esc(s.name) + "</title>\n")
		b.line(lx, ly, lx+22, ly, `stroke="`+esc(s.color)+`" stroke-width="2.5"`+dashAttr(s.dash))
		b.text(lx+30, ly+4, clip(s.name, legendLen), `fill="#1f2430"`)
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>")
	return b.String()
}

// drawable reports whether v can be placed on c's y axis.
func (c *chart) drawable(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!c.log || v > 0)
}

// drawSeries draws s as a path broken at its gaps, with a dot for each
// value that has no neighbour to join, so that a single sample shows.
func (c *chart) drawSeries(b *svgText, s series, x, y func(float64) float64) {
	var d strings.Builder
	var dots []point
	for i, p := range s.pts {
		if !c.drawable(p.y) {
			continue
		}
		joinPrev := i > 0 && c.drawable(s.pts[i-1].y)
		joinNext := i+1 < len(s.pts) && c.drawable(s.pts[i+1].y)
		switch {
		case !joinPrev && !joinNext:
			dots = append(dots, p)
		case !joinPrev:
			d.WriteString("M" + num(x(p.x)) + " " + num(y(p.y)))
		default:
			d.WriteString("L" + num(x(p.x)) + " " + num(y(p.y)))
		}
	}
	color := esc(s.color)
	b.WriteString(`<g><title>` + esc(s.name) + "</title>\n")
	if d.Len() > 0 {
		b.WriteString(`<path d="` + d.String() + `" fill="none" stroke="` + color +
			`" stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round"` + dashAttr(s.dash) + "/>\n")
	}
	for _, p := range dots {
		b.WriteString(`<circle cx="` + num(x(p.x)) + `" cy="` + num(y(p.y)) + `" r="3" fill="` + color + `"/>` + "\n")
	}
	b.WriteString("</g>\n")
}

func dashAttr(dash bool) string {
	if dash {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}

// fmtSeconds renders a time axis tick: "0.5s", "20s", "1,500s".
func fmtSeconds(v float64) string {
	if v == math.Trunc(v) {
		return fmtCount(int64(v)) + "s"
	}
	return sig3(v) + "s"
}

// clip shortens s to at most n characters, marking a cut with an
// ellipsis; it returns "" when not even two characters fit.
func clip(s string, n int) string {
	r := []rune(s)
	switch {
	case len(r) <= n:
		return s
	case n < 2:
		return ""
	}
	return string(r[:n-1]) + "…"
}
