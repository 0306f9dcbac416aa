package bench

import (
	"runtime"
	"testing"
	"time"
)

// parseCase is one input of a table test for a /proc parser.
type parseCase[T comparable] struct {
	name    string
	in      string
	want    T
	wantErr bool
}

// testParse runs parse, named name in failure messages, on each case.
func testParse[T comparable](t *testing.T, name string, parse func([]byte) (T, error), tests []parseCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("%s(%q) = %v, %v; want %v, error %t", name, tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	testParse(t, "parseVmRSS", parseVmRSS, []parseCase[int64]{
		{
			name: "real layout",
			in:   "Name:\tssehub\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1245184 kB\nVmRSS:\t   10240 kB\nRssAnon:\t    4096 kB\n",
			want: 10240 << 10,
		},
		{name: "single space", in: "VmRSS: 1 kB\n", want: 1024},
		{name: "no trailing newline", in: "VmHWM:\t 99 kB\nVmRSS:\t 8 kB", want: 8 << 10},
		{name: "zero", in: "VmRSS:\t       0 kB\n", want: 0},
		{name: "large", in: "VmRSS:\t25165824 kB\n", want: 24 << 30},
		{name: "VmRSS must start the line", in: "XVmRSS:\t 5 kB\n", wantErr: true},
		{name: "zombie has no VmRSS", in: "Name:\tssehub\nState:\tZ (zombie)\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "other unit", in: "VmRSS:\t 5 MB\n", wantErr: true},
		{name: "no unit", in: "VmRSS:\t 5\n", wantErr: true},
		{name: "not a number", in: "VmRSS:\t five kB\n", wantErr: true},
		{name: "negative", in: "VmRSS:\t -5 kB\n", wantErr: true},
	})
}

func TestGeneratorRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	if rss, err := GeneratorRSS(); err != nil || rss <= 0 {
		t.Errorf("GeneratorRSS() = %d, %v; want > 0", rss, err)
	}
}

func TestParseStatCPU(t *testing.T) {
	testParse(t, "parseStatCPU", parseStatCPU, []parseCase[time.Duration]{
		{
			name: "real layout",
			in:   "4242 (redis-server) S 1 4242 4242 0 -1 4194560 1016 0 0 0 123 45 0 0 20 0 5 0 1234 77000000 2200 18446744073709551615 1 1 0 0 0 0 0 4097 17610 0 0 0 17 1 0 0 0 0 0\n",
			want: 1680 * time.Millisecond,
		},
		{
			name: "name with spaces and parentheses",
			in:   "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 2 3 0 0 20 0 1 0 1 1 1\n",
			want: 50 * time.Millisecond,
		},
		{name: "zero", in: "1 (x) S 0 0 0 0 0 0 0 0 0 0 0 0 0 0", want: 0},
		{name: "too few fields", in: "1 (x) S 0 0 0 0 0 0 0 0 0 0 5", wantErr: true},
		{name: "no name", in: "1 x S 0 0 0 0 0 0 0 0 0 0 0 0 0 0", wantErr: true},
		{name: "not a number", in: "1 (x) S 0 0 0 0 0 0 0 0 0 0 x 0 0 0", wantErr: true},
		{name: "negative", in: "1 (x) S 0 0 0 0 0 0 0 0 0 0 -1 0 0 0", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	})
}

func TestGeneratorCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	if _, err := GeneratorCPU(); err != nil {
		t.Errorf("GeneratorCPU() = %v", err)
	}
}
