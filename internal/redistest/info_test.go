package redistest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCommandStats(t *testing.T) {
	for _, tc := range []struct {
		name, info string
		want       map[string]CommandStat
		wantErr    bool
	}{
		{
			name: "redis 7",
			info: "# Commandstats\r\n" +
				"cmdstat_get:calls=2,usec=15,usec_per_call=7.50,rejected_calls=0,failed_calls=0\r\n" +
				"cmdstat_client|setname:calls=1,usec=3,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n",
			want: map[string]CommandStat{
				"get":            {Calls: 2, Time: 15 * time.Microsecond},
				"client|setname": {Calls: 1, Time: 3 * time.Microsecond},
			},
		},
		{name: "none ran", info: "# Commandstats\r\n", want: map[string]CommandStat{}},
		{name: "no usec", info: "cmdstat_get:calls=2\r\n", wantErr: true},
		{name: "bad calls", info: "cmdstat_get:calls=x,usec=1\r\n", wantErr: true},
		{name: "negative", info: "cmdstat_get:calls=1,usec=-1\r\n", wantErr: true},
	} {
		got, err := parseCommandStats(tc.info)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: parseCommandStats(%q) error = %v, want error %v", tc.name, tc.info, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: parseCommandStats(%q) mismatch (-want +got):\n%s", tc.name, tc.info, diff)
		}
	}
}

func TestParseCPU(t *testing.T) {
	for _, tc := range []struct {
		name, info string
		want       time.Duration
		wantErr    bool
	}{
		{
			name: "redis 7",
			info: "# CPU\r\nused_cpu_sys:0.015414\r\nused_cpu_user:0.007999\r\nused_cpu_sys_children:0.000000\r\n",
			want: 23413 * time.Microsecond,
		},
		{name: "no sys", info: "used_cpu_user:1.000000\r\n", wantErr: true},
		{name: "garbage", info: "used_cpu_sys:x\r\nused_cpu_user:1\r\n", wantErr: true},
		{name: "negative", info: "used_cpu_sys:-1\r\nused_cpu_user:1\r\n", wantErr: true},
		{name: "NaN", info: "used_cpu_sys:NaN\r\nused_cpu_user:1\r\n", wantErr: true},
	} {
		got, err := parseCPU(tc.info)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseCPU(%q) = %v, %v, want %v, error %v", tc.name, tc.info, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCommandStatsCPU(t *testing.T) {
	t.Parallel()
	s := Start(t)
	rc := s.Client(t)
	ctx := ctxTimeout(t)
	cpuBefore := CPU(t, s)

	for range 3 {
		if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("SET k v: %v", err)
		}
	}
	// Enough work for a measurable time: a few milliseconds of Lua.
	if err := rc.Eval(ctx, "for i = 1, 1000000 do end return 0", nil).Err(); err != nil {
		t.Fatalf("EVAL a loop: %v", err)
	}

	stats := CommandStats(t, s)
	if got := stats["set"].Calls; got != 3 {
		t.Errorf("CommandStats()[set].Calls = %d, want 3", got)
	}
	if got := stats["eval"]; got.Calls != 1 || got.Time <= 0 {
		t.Errorf("CommandStats()[eval] = %+v, want 1 call taking some time", got)
	}
	if _, ok := stats["get"]; ok {
		t.Errorf("CommandStats() has get, which never ran: %v", stats)
	}
	if cpu := CPU(t, s); cpu <= cpuBefore {
		t.Errorf("CPU() after a busy EVAL = %v, want more than %v before it", cpu, cpuBefore)
	}
}
