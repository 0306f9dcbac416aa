package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func progressSample(sec int) Sample {
	return Sample{
		At:               time.Duration(sec) * time.Second,
		Connected:        1000 * sec,
		DeliveriesPerSec: 12_345,
		Latency:          Percentiles{Count: 10, P99: 1200 * time.Microsecond},
	}
}

func TestProgressNotTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf)
	for sec := 1; sec <= 25; sec++ {
		p.Update(progressSample(sec), "baseline", int64(sec/10))
	}
	p.Update(progressSample(26), "slow-consumers", 7) // a new phase shows at once
	p.Update(progressSample(27), "slow-consumers", 8) // held back until Done
	p.Done()
	p.Done() // nothing left to print

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		"     1s  baseline        streams 1,000  events/s 12,345  p99 1.2ms  errors 0",
		"    11s  baseline        streams 11,000  events/s 12,345  p99 1.2ms  errors 1",
		"    21s  baseline        streams 21,000  events/s 12,345  p99 1.2ms  errors 2",
		"    26s  slow-consumers  streams 26,000  events/s 12,345  p99 1.2ms  errors 7",
		"    27s  slow-consumers  streams 27,000  events/s 12,345  p99 1.2ms  errors 8",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress output:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if strings.ContainsAny(buf.String(), "\r\x1b") {
		t.Errorf("progress to a non-terminal has terminal controls: %q", buf.String())
	}
}

func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{w: &buf, tty: true}
	s := progressSample(5)
	p.Update(s, "connect", 0)
	s.Latency.Count = 0
	p.Update(s, "connect", 3)
	p.Done()
	want := "\r      5s  connect         streams 5,000  events/s 12,345  p99 1.2ms  errors 0\x1b[K" +
		"\r      5s  connect         streams 5,000  events/s 12,345  p99 –  errors 3\x1b[K\n"
	want = strings.ReplaceAll(want, "\r      5s", "\r     5s")
	if got := buf.String(); got != want {
		t.Errorf("terminal progress = %q, want %q", got, want)
	}
}

func TestNewProgressDetectsTerminal(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tests := []struct {
		name string
		w    interface{ Write([]byte) (int, error) }
		tty  bool
	}{
		{"character device", devNull, true},
		{"regular file", file, false},
		{"buffer", &bytes.Buffer{}, false},
	}
	for _, tc := range tests {
		if got := NewProgress(tc.w).tty; got != tc.tty {
			t.Errorf("NewProgress(%s) redraws in place = %v, want %v", tc.name, got, tc.tty)
		}
	}
}
