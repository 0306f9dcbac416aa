package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// mdTable is a Markdown table read back from WriteTable's output.
type mdTable struct {
	// title is the nearest heading above the table.
	title string
	head  []string
	rows  [][]string
}

// cell returns the cell of column head in the row whose first cell is key.
func (m mdTable) cell(key, head string) (string, bool) {
	col := -1
	for i, h := range m.head {
		if h == head {
			col = i
		}
	}
	for _, row := range m.rows {
		if col >= 0 && row[0] == key {
			return row[col], true
		}
	}
	return "", false
}

// parseMarkdown reads the tables in s, checking that every row has as many
// cells as its header.
func parseMarkdown(t *testing.T, s string) []mdTable {
	t.Helper()
	var tables []mdTable
	title := ""
	inTable := false
	for line := range strings.Lines(s) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "#") {
			title = strings.TrimLeft(line, "# ")
		}
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		// Split on unescaped pipes.
		var cells []string
		var cur strings.Builder
		for i := 1; i < len(line); i++ {
			switch {
			case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
				cur.WriteByte('|')
				i++
			case line[i] == '|':
				cells = append(cells, strings.TrimSpace(cur.String()))
				cur.Reset()
			default:
				cur.WriteByte(line[i])
			}
		}
		switch {
		case !inTable:
			tables = append(tables, mdTable{title: title, head: cells})
			inTable = true
		case strings.Trim(strings.Join(cells, ""), "-:") == "":
			// the alignment row
		default:
			tb := &tables[len(tables)-1]
			if len(cells) != len(tb.head) {
				t.Fatalf("row %q has %d cells, header has %d", line, len(cells), len(tb.head))
			}
			tb.rows = append(tb.rows, cells)
		}
	}
	return tables
}

func tableRun() *Run {
	return &Run{
		Title:   "broadcast, 1,000 streams",
		Command: "ssehub-bench broadcast -n 1000 -grep 'a|b'",
		Started: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Host:    "2 CPU, go1.26.8",
		Phases: []Phase{
			{
				Name: "connect", Server: "ssehub", Start: 0, End: 10 * time.Second,
				Streams: 1000, Connected: 998, ConnectErrors: 3, ConnectRate: 12345.6,
				Procs: []Proc{{Name: "hub-1", Role: "hub", RSS: 31_500 << 10, PeakRSS: 32 << 20, CPU: 2500 * time.Millisecond}},
			},
			{Name: "idle", Server: "ssehub", Start: 10 * time.Second, End: 10 * time.Second, HubIdleCores: 0.0425},
			{
				Name: "broad|cast", Server: "ssehub", Start: 10 * time.Second, End: 70 * time.Second,
				Streams: 1000, Connected: 998, Published: 100, Delivered: 99_800, DeliveriesPerSec: 1663.3,
				Latency: Percentiles{Count: 99_800, P50: 340 * time.Microsecond, P90: 800 * time.Microsecond,
					P99: 1200 * time.Microsecond, P999: 12_345 * time.Microsecond, Max: 1500 * time.Millisecond},
				Lost: 2, HubRSSPerStream: 2428, HubCPUPerDelivery: 1900 * time.Nanosecond, HubCPUPerDeliveryAboveIdle: 1500 * time.Nanosecond,
				Procs: []Proc{{Name: "hub-1", Role: "hub", RSS: 40 << 20, CPU: 30 * time.Second}},
			},
		},
		Checks: []Check{
			{Phase: "broad|cast", Name: "p99 latency", Target: "<= 500ms", Value: "1.2ms", OK: true},
			{Phase: "broad|cast", Name: "events lost", Target: "0", Value: "2", OK: false},
		},
	}
}

func TestWriteTable(t *testing.T) {
	r := tableRun()
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatalf("WriteTable() = %v", err)
	}
	out := buf.String()
	for _, want := range []string{
		"# broadcast, 1,000 streams\n",
		"- command: `ssehub-bench broadcast -n 1000 -grep 'a|b'`\n",
		"- host: 2 CPU, go1.26.8\n",
		"- started: 2026-11-27 10:00:00 UTC, ran 1m10s\n",
		"- result: **FAIL** (1 of 2 checks passed)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("WriteTable() has no line %q; output:\n%s", want, out)
		}
	}

	tables := parseMarkdown(t, out)
	if got, want := len(tables), 4; got != want {
		t.Fatalf("WriteTable() wrote %d tables, want %d (phases, 2 process, checks):\n%s", got, want, out)
	}
	phases := tables[0]
	wantHead := []string{"phase", "server", "streams", "connect errors", "connects/s", "published", "delivered",
		"deliveries/s", "p50", "p90", "p99", "p99.9", "max", "lost / dup / reorder", "hub RSS/stream", "hub CPU/delivery", "above idle", "hub idle cores"}
	if diff := cmp.Diff(wantHead, phases.head); diff != "" {
		t.Errorf("phase table columns (-want +got):\n%s", diff)
	}

	cells := []struct {
		table     mdTable
		row, col  string
		want      string
		tableName string
	}{
		{phases, "connect", "streams", "998 / 1,000", "phases"},
		{phases, "connect", "connect errors", "3", "phases"},
		{phases, "connect", "connects/s", "12,346", "phases"},
		{phases, "connect", "p99", dash, "phases"},
		{phases, "connect", "lost / dup / reorder", dash, "phases"},
		{phases, "broad|cast", "connect errors", "0", "phases"},
		{phases, "broad|cast", "deliveries/s", "1,663", "phases"},
		{phases, "broad|cast", "p50", "340µs", "phases"},
		{phases, "broad|cast", "p99", "1.2ms", "phases"},
		{phases, "broad|cast", "p99.9", "12.3ms", "phases"},
		{phases, "broad|cast", "max", "1.5s", "phases"},
		{phases, "broad|cast", "lost / dup / reorder", "2 / 0 / 0", "phases"},
		{phases, "broad|cast", "hub RSS/stream", "2.37 KiB", "phases"},
		{phases, "broad|cast", "hub CPU/delivery", "1.9µs", "phases"},
		{phases, "broad|cast", "above idle", "1.5µs", "phases"},
		{phases, "broad|cast", "hub idle cores", dash, "phases"},
		{phases, "idle", "hub idle cores", "0.043", "phases"},
		{phases, "idle", "above idle", dash, "phases"},
		{tables[1], "hub-1", "RSS", "30.8 MiB", "connect processes"},
		{tables[1], "hub-1", "peak RSS", "32 MiB", "connect processes"},
		{tables[1], "hub-1", "CPU s", "2.50", "connect processes"},
		{tables[1], "hub-1", "cores", "0.25", "connect processes"},
		{tables[2], "hub-1", "peak RSS", dash, "broadcast processes"},
		{tables[2], "hub-1", "cores", "0.50", "broadcast processes"},
		{tables[3], "broad|cast", "result", "PASS", "checks"},
	}
	for _, c := range cells {
		if got, ok := c.table.cell(c.row, c.col); !ok || got != c.want {
			t.Errorf("%s table: row %q, column %q = %q (found %v), want %q", c.tableName, c.row, c.col, got, ok, c.want)
		}
	}
	if got, want := tables[2].title, "broad|cast (10s – 1m10s)"; got != want {
		t.Errorf("process table heading = %q, want %q", got, want)
	}
	if got, want := tables[3].rows[1][4], "FAIL"; got != want {
		t.Errorf("second check result = %q, want %q", got, want)
	}
}

func TestWriteTableMinimal(t *testing.T) {
	// A run with nothing measured yet: a header and a phase table with
	// only the columns that say something.
	r := &Run{Title: "idle", Command: "x `y`", Phases: []Phase{{Name: "idle"}}}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatalf("WriteTable() = %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, "- command: `` x `y` ``\n") {
		t.Errorf("command not in a double-backtick code span:\n%s", out)
	}
	if !strings.Contains(out, "- result: **no checks**") {
		t.Errorf("result line missing:\n%s", out)
	}
	tables := parseMarkdown(t, out)
	if len(tables) != 1 {
		t.Fatalf("got %d tables, want 1:\n%s", len(tables), out)
	}
	if diff := cmp.Diff([]string{"phase"}, tables[0].head); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

// An unpaced phase (a flood) shows how fast the server accepted events,
// what it refused and how long publishers waited, and its reconnects even
// at zero; a paced phase beside it shows dashes there.
func TestWriteTableUnpaced(t *testing.T) {
	r := &Run{Title: "flood", Phases: []Phase{
		{Name: "paced", Published: 10, Delivered: 100, DeliveriesPerSec: 10},
		{
			Name: "flood", Published: 8_217, PublishedPerSec: 819.4, PublishRefused: 3, PublishRefusedEvents: 7,
			Delivered: 16_434_000, DeliveriesPerSec: 1_634_369,
			PublishLatency: Percentiles{Count: 8_220, P50: 4420 * time.Microsecond, P99: 115 * time.Millisecond, Max: 194 * time.Millisecond},
		},
	}}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatalf("WriteTable() = %v", err)
	}
	phases := parseMarkdown(t, buf.String())[0]
	wantHead := []string{"phase", "published", "published/s", "refused", "publish p50", "publish p99", "publish max",
		"delivered", "deliveries/s", "lost / dup / reorder", "reconnects"}
	if diff := cmp.Diff(wantHead, phases.head); diff != "" {
		t.Errorf("phase table columns (-want +got):\n%s", diff)
	}
	for _, c := range []struct{ row, col, want string }{
		{"flood", "published/s", "819"},
		{"flood", "refused", "3 (7 events)"},
		{"flood", "publish p50", "4.42ms"},
		{"flood", "publish p99", "115ms"},
		{"flood", "publish max", "194ms"},
		{"flood", "reconnects", "0"},
		{"paced", "published/s", dash},
		{"paced", "refused", "0"},
		{"paced", "publish p99", dash},
	} {
		if got, ok := phases.cell(c.row, c.col); !ok || got != c.want {
			t.Errorf("row %q, column %q = %q (found %v), want %q", c.row, c.col, got, ok, c.want)
		}
	}
}

func TestTranspose(t *testing.T) {
	in := table{
		Head: []string{"phase", "server", "p99"},
		Num:  []bool{false, false, true},
		Rows: [][]string{{"connect", "ssehub", dash}, {"baseline", "ssehub", "1.2ms"}},
	}
	want := table{
		Head: []string{"phase", "connect", "baseline"},
		Num:  []bool{false, true, true},
		Rows: [][]string{{"server", "ssehub", "ssehub"}, {"p99", dash, "1.2ms"}},
	}
	if diff := cmp.Diff(want, in.transpose()); diff != "" {
		t.Errorf("transpose() (-want +got):\n%s", diff)
	}
	if got := (table{}).transpose(); len(got.Head) != 0 {
		t.Errorf("transpose(empty) = %+v, want empty", got)
	}
}
