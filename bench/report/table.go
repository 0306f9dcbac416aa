package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// table is rendered text in rows and columns, shared by the Markdown and
// the HTML output so that both show the same figures.
//
// Fields are exported for html/template only.
type table struct {
	Head []string
	// Num marks numeric columns, which are right-aligned.
	Num  []bool
	Rows [][]string
}

// column is one candidate column of the phase table.
type column struct {
	head string
	num  bool
	// cell renders p's figure, and says whether p measured anything for
	// this column. A column no phase measured is left out.
	cell func(p *Phase) (text string, measured bool)
}

// dash stands in a cell for a figure its phase did not measure.
const dash = "–"

// counter is a column of a counter that is worth showing only when some
// phase counted something.
func counter(head string, f func(p *Phase) int64) column {
	return column{head: head, num: true, cell: func(p *Phase) (string, bool) {
		n := f(p)
		return fmtCount(n), n != 0
	}}
}

// percentile is a column of one figure of a distribution.
func percentile(head string, pick func(p *Phase) Percentiles, f func(Percentiles) time.Duration) column {
	return column{head: head, num: true, cell: func(p *Phase) (string, bool) {
		l := pick(p)
		if l.Count == 0 {
			return dash, false
		}
		return fmtDuration(f(l)), true
	}}
}

func phaseLatency(p *Phase) Percentiles        { return p.Latency }
func phaseCatchUp(p *Phase) Percentiles        { return p.CatchUp }
func phasePublishLatency(p *Phase) Percentiles { return p.PublishLatency }

// unpaced reports whether p published as fast as the server answered:
// only such phases measure publish latency.
func unpaced(p *Phase) bool { return p.PublishLatency.Count > 0 }

// phaseColumns are the phase table's columns in order.
var phaseColumns = []column{
	{head: "phase", cell: func(p *Phase) (string, bool) { return p.Name, true }},
	{head: "server", cell: func(p *Phase) (string, bool) { return p.Server, p.Server != "" }},
	{head: "streams", num: true, cell: func(p *Phase) (string, bool) {
		return fmtCount(int64(p.Connected)) + " / " + fmtCount(int64(p.Streams)), p.Streams != 0 || p.Connected != 0
	}},
	counter("connect errors", func(p *Phase) int64 { return p.ConnectErrors }),
	{head: "connects/s", num: true, cell: func(p *Phase) (string, bool) {
		if p.ConnectRate == 0 {
			return dash, false
		}
		return fmtRate(p.ConnectRate), true
	}},
	counter("published", func(p *Phase) int64 { return p.Published }),
	{head: "published/s", num: true, cell: func(p *Phase) (string, bool) {
		if p.PublishedPerSec == 0 {
			return dash, false
		}
		return fmtRate(p.PublishedPerSec), true
	}},
	counter("publish errors", func(p *Phase) int64 { return p.PublishErrors }),
	// Requests; the events they carried too where a request carries
	// more than one. An unpaced phase is judged by it, zero included.
	{head: "refused", num: true, cell: func(p *Phase) (string, bool) {
		text := fmtCount(p.PublishRefused)
		if p.PublishRefusedEvents != p.PublishRefused {
			text += " (" + fmtCount(p.PublishRefusedEvents) + " events)"
		}
		return text, p.PublishRefused != 0 || unpaced(p)
	}},
	percentile("publish p50", phasePublishLatency, func(l Percentiles) time.Duration { return l.P50 }),
	percentile("publish p99", phasePublishLatency, func(l Percentiles) time.Duration { return l.P99 }),
	percentile("publish max", phasePublishLatency, func(l Percentiles) time.Duration { return l.Max }),
	counter("delivered", func(p *Phase) int64 { return p.Delivered }),
	{head: "deliveries/s", num: true, cell: func(p *Phase) (string, bool) {
		return fmtRate(p.DeliveriesPerSec), p.DeliveriesPerSec != 0
	}},
	percentile("p50", phaseLatency, func(l Percentiles) time.Duration { return l.P50 }),
	percentile("p90", phaseLatency, func(l Percentiles) time.Duration { return l.P90 }),
	percentile("p99", phaseLatency, func(l Percentiles) time.Duration { return l.P99 }),
	percentile("p99.9", phaseLatency, func(l Percentiles) time.Duration { return l.P999 }),
	percentile("max", phaseLatency, func(l Percentiles) time.Duration { return l.Max }),
	// Zero lost is the result a reader looks for, so these are shown
	// whenever something was published, zero or not.
	{head: "lost / dup / reorder", num: true, cell: func(p *Phase) (string, bool) {
		if p.Published == 0 && p.Lost == 0 && p.Duplicated == 0 && p.Reordered == 0 {
			return dash, false
		}
		return fmtCount(p.Lost) + " / " + fmtCount(p.Duplicated) + " / " + fmtCount(p.Reordered), true
	}},
	// Reconnects are evictions in an unpaced phase, which is judged by
	// them, zero included.
	{head: "reconnects", num: true, cell: func(p *Phase) (string, bool) {
		return fmtCount(p.Reconnects), p.Reconnects != 0 || unpaced(p)
	}},
	counter("resets", func(p *Phase) int64 { return p.Resets }),
	counter("evicted", func(p *Phase) int64 { return p.Evicted }),
	percentile("catch-up p99", phaseCatchUp, func(l Percentiles) time.Duration { return l.P99 }),
	percentile("catch-up max", phaseCatchUp, func(l Percentiles) time.Duration { return l.Max }),
	{head: "hub RSS/stream", num: true, cell: func(p *Phase) (string, bool) {
		if p.HubRSSPerStream == 0 {
			return dash, false
		}
		return fmtBytes(p.HubRSSPerStream), true
	}},
	{head: "hub CPU/delivery", num: true, cell: func(p *Phase) (string, bool) {
		if p.HubCPUPerDelivery == 0 {
			return dash, false
		}
		return fmtDuration(p.HubCPUPerDelivery), true
	}},
	{head: "above idle", num: true, cell: func(p *Phase) (string, bool) {
		if p.HubCPUPerDeliveryAboveIdle == 0 {
			return dash, false
		}
		return fmtDuration(p.HubCPUPerDeliveryAboveIdle), true
	}},
	{head: "hub idle cores", num: true, cell: func(p *Phase) (string, bool) {
		if p.HubIdleCores == 0 {
			return dash, false
		}
		return strconv.FormatFloat(p.HubIdleCores, 'f', 3, 64), true
	}},
}

// phaseTable renders one row per phase with the columns some phase
// measured.
func phaseTable(phases []Phase) table {
	var cols []column
	for _, c := range phaseColumns {
		for i := range phases {
			if _, ok := c.cell(&phases[i]); ok {
				cols = append(cols, c)
				break
			}
		}
	}
	var t table
	for _, c := range cols {
		t.Head = append(t.Head, c.head)
		t.Num = append(t.Num, c.num)
	}
	for i := range phases {
		row := make([]string, len(cols))
		for j, c := range cols {
			row[j], _ = c.cell(&phases[i])
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// transpose turns t's columns into rows, keyed by the first column: the
// phase table with one column per phase, which fits a screen better than
// a row per phase with twenty columns.
func (t table) transpose() table {
	if len(t.Head) == 0 {
		return t
	}
	tt := table{Head: []string{t.Head[0]}, Num: []bool{false}}
	for _, row := range t.Rows {
		tt.Head = append(tt.Head, row[0])
		tt.Num = append(tt.Num, true)
	}
	for j := 1; j < len(t.Head); j++ {
		row := []string{t.Head[j]}
		for _, r := range t.Rows {
			row = append(row, r[j])
		}
		tt.Rows = append(tt.Rows, row)
	}
	return tt
}

// procTable renders a phase's resource use, one row per process. Cores is
// the CPU time over the phase's length: the cores the process kept busy on
// average.
func procTable(p *Phase) table {
	t := table{
		Head: []string{"process", "role", "RSS", "peak RSS", "CPU s", "cores"},
		Num:  []bool{false, false, true, true, true, true},
	}
	length := p.End - p.Start
	for _, pr := range p.Procs {
		peak, cores := dash, dash
		if pr.PeakRSS != 0 {
			peak = fmtBytes(pr.PeakRSS)
		}
		if length > 0 {
			cores = strconv.FormatFloat(pr.CPU.Seconds()/length.Seconds(), 'f', 2, 64)
		}
		t.Rows = append(t.Rows, []string{
			pr.Name, pr.Role, fmtBytes(pr.RSS), peak,
			strconv.FormatFloat(pr.CPU.Seconds(), 'f', 2, 64), cores,
		})
	}
	return t
}

// checkTable renders the checks with their outcome.
func checkTable(checks []Check) table {
	t := table{
		Head: []string{"phase", "check", "target", "value", "result"},
		Num:  []bool{false, false, true, true, false},
	}
	for _, c := range checks {
		t.Rows = append(t.Rows, []string{c.Phase, c.Name, c.Target, c.Value, verdictWord(c.OK)})
	}
	return t
}

func verdictWord(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// summary says how the run did against its checks: a verdict (PASS, FAIL
// or "no checks") and the count behind it (" (5 of 6 checks passed)").
func (r *Run) summary() (verdict, detail string) {
	if len(r.Checks) == 0 {
		return "no checks", ""
	}
	passed := 0
	for _, c := range r.Checks {
		if c.OK {
			passed++
		}
	}
	return verdictWord(r.OK()), fmt.Sprintf(" (%d of %d checks passed)", passed, len(r.Checks))
}

// span renders a phase's start and end as run offsets: "20s – 1m20s".
func span(p *Phase) string {
	return fmtElapsed(p.Start) + " – " + fmtElapsed(p.End)
}

// length is how long the run went on: to its last sample or the end of
// its last phase, whichever is later.
func (r *Run) length() time.Duration {
	var d time.Duration
	for _, p := range r.Phases {
		d = max(d, p.End)
	}
	if n := len(r.Samples); n > 0 {
		d = max(d, r.Samples[n-1].At)
	}
	return d
}

// WriteTable writes r as Markdown, readable as it is in a terminal and
// ready to paste into BENCHMARKS.md: a header naming the run, a table of
// the phases, each phase's resource use per process, and the checks.
// Columns no phase measured are left out.
func (r *Run) WriteTable(w io.Writer) error {
	// bufio keeps the first write error and Flush returns it, so the
	// writes below need no checks of their own.
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "# %s\n\n", oneLine(r.Title))
	fmt.Fprintf(b, "- command: %s\n", codeSpan(r.Command))
	if r.Host != "" {
		fmt.Fprintf(b, "- host: %s\n", oneLine(r.Host))
	}
	if !r.Started.IsZero() {
		fmt.Fprintf(b, "- started: %s, ran %s\n", r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), fmtElapsed(r.length()))
	}
	verdict, detail := r.summary()
	fmt.Fprintf(b, "- result: **%s**%s\n", verdict, detail)

	if len(r.Phases) > 0 {
		fmt.Fprintf(b, "\n## Phases\n\n")
		writeMarkdown(b, phaseTable(r.Phases))
		fmt.Fprintf(b, "\n## Processes\n")
		for i := range r.Phases {
			p := &r.Phases[i]
			if len(p.Procs) == 0 {
				continue
			}
			fmt.Fprintf(b, "\n### %s (%s)\n\n", oneLine(p.Name), span(p))
			writeMarkdown(b, procTable(p))
		}
	}
	if len(r.Checks) > 0 {
		fmt.Fprintf(b, "\n## Checks\n\n")
		writeMarkdown(b, checkTable(r.Checks))
	}
	return b.Flush()
}

// writeMarkdown writes t as a Markdown table padded to align in a
// terminal.
func writeMarkdown(b *bufio.Writer, t table) {
	cells := make([][]string, 0, len(t.Rows)+1)
	for _, row := range append([][]string{t.Head}, t.Rows...) {
		esc := make([]string, len(row))
		for i, c := range row {
			esc[i] = cellText(c)
		}
		cells = append(cells, esc)
	}
	width := make([]int, len(t.Head))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c), 3)
		}
	}
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			fill := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if t.Num[i] {
				c = fill + c
			} else {
				c += fill
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(cells[0])
	b.WriteString("|")
	for i, n := range width {
		if t.Num[i] {
			b.WriteString(" " + strings.Repeat("-", n-1) + ": |")
		} else {
			b.WriteString(" " + strings.Repeat("-", n) + " |")
		}
	}
	b.WriteString("\n")
	for _, row := range cells[1:] {
		line(row)
	}
}

// cellText keeps a value from breaking its Markdown table row.
func cellText(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// oneLine keeps a value on one line, leaving its spaces as they are.
func oneLine(s string) string {
	return lineBreaks.Replace(s)
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// codeSpan renders s as Markdown code, fenced with more backticks than s
// holds in a row so that a backtick in a command cannot end it early.
func codeSpan(s string) string {
	s = oneLine(s)
	run, longest := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}
