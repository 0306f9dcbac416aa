package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/bench"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
)

func TestIntListSet(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "10,100,1000", want: []int{10, 100, 1000}},
		{in: "0", want: []int{0}},
		{in: " 1, 2 ", want: []int{1, 2}},
		{in: "1000,10", want: []int{1000, 10}}, // in the order given
		{in: "", wantErr: true},
		{in: "1,,2", wantErr: true},
		{in: "1,", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "ten", wantErr: true},
		{in: "1.5", wantErr: true},
	} {
		l := intList{7}
		err := l.Set(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !slices.Equal(l, tt.want)) {
			t.Errorf("intList.Set(%q) = %v, list %v; want %v, error %t", tt.in, err, l, tt.want, tt.wantErr)
		}
		if tt.wantErr && !slices.Equal(l, intList{7}) {
			t.Errorf("intList.Set(%q) failed but changed the list to %v", tt.in, l)
		}
	}
	if got := (&intList{10, 100}).String(); got != "10,100" {
		t.Errorf("intList.String() = %q, want %q", got, "10,100")
	}
}

// TestRunUnitsCommand runs "ssehub-bench units" with tiny measurements
// against a real redis-server: the table on stdout and the JSON file.
func TestRunUnitsCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a run of a real redis-server")
	}
	testenv.Require(t, redistest.InstallCommand, "redis-server")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "units.json")
	var stdout, stderr bytes.Buffer
	args := []string{"ssehub-bench", "units", "-q", "-duration", "20ms", "-pipelines", "2",
		"-conns", "2,5", "-patterns", "0,3", "-missed", "4", "-json", out}
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("run(%q) = %d, want 0; stderr:\n%s", args, code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr with -q: %q, want nothing", stderr.String())
	}
	for _, want := range []string{"| publish ", "| fanout ", "| patterns ", "| replay ", "Redis CPU/unit", "per connection"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout has no %q:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.UnitsReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, b)
	}
	// 16 publish rows, 2 x 2 fanout, 3 patterns and 1 replay.
	if len(rep.Rows) != 24 || rep.Command == "" || rep.RedisVersion == "" {
		t.Errorf("JSON report: %d rows, command %q, Redis %q; want 24 rows, a command and a version", len(rep.Rows), rep.Command, rep.RedisVersion)
	}
}

func TestRunUnitsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"ssehub-bench", "units", "-conns", "ten"},
		{"ssehub-bench", "units", "extra"},
		{"ssehub-bench", "units", "-no-such-flag"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2; stderr:\n%s", args, code, stderr.String())
		}
	}
}
