package bench

import (
	"testing"
	"time"
)

// realInfo is the shape of redis-server 7.0's INFO cpu stats, cut short.
const realInfo = "# Stats\r\ntotal_connections_received:1\r\ntotal_net_input_bytes:34\r\n" +
	"total_net_output_bytes:1234567\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_output_kbps:0.00\r\n\r\n" +
	"# CPU\r\nused_cpu_sys:1.007861\r\nused_cpu_user:2.500000\r\nused_cpu_sys_children:9.000000\r\n" +
	"used_cpu_user_children:9.000000\r\nused_cpu_sys_main_thread:0.007822\r\nused_cpu_user_main_thread:0.000000\r\n"

func TestParseRedisInfo(t *testing.T) {
	parse := func(b []byte) (redisCounters, error) { return parseRedisInfo(string(b)) }
	testParse(t, "parseRedisInfo", parse, []parseCase[redisCounters]{
		{
			name: "real layout",
			in:   realInfo,
			// Children's and the main thread's figures are left out:
			// the first are forks', the second part of the total.
			want: redisCounters{CPU: 3507861 * time.Microsecond, NetOutput: 1234567},
		},
		{
			name: "LF line ends",
			in:   "used_cpu_user:0.000001\nused_cpu_sys:0.000002\ntotal_net_output_bytes:0\n",
			want: redisCounters{CPU: 3 * time.Microsecond},
		},
		{
			name: "no final line end",
			in:   "used_cpu_user:1\r\nused_cpu_sys:0\r\ntotal_net_output_bytes:7",
			want: redisCounters{CPU: time.Second, NetOutput: 7},
		},
		{name: "no used_cpu_sys", in: "used_cpu_user:1.0\r\ntotal_net_output_bytes:7\r\n", wantErr: true},
		{name: "no used_cpu_user", in: "used_cpu_sys:1.0\r\ntotal_net_output_bytes:7\r\n", wantErr: true},
		{name: "no output bytes", in: "used_cpu_user:1.0\r\nused_cpu_sys:1.0\r\n", wantErr: true},
		{name: "only a prefix of the key", in: "used_cpu_user_children:1.0\r\nused_cpu_sys:1.0\r\ntotal_net_output_bytes:7\r\n", wantErr: true},
		{name: "CPU not a number", in: "used_cpu_user:x\r\nused_cpu_sys:1.0\r\ntotal_net_output_bytes:7\r\n", wantErr: true},
		{name: "CPU negative", in: "used_cpu_user:-1.0\r\nused_cpu_sys:1.0\r\ntotal_net_output_bytes:7\r\n", wantErr: true},
		{name: "CPU infinite", in: "used_cpu_user:Inf\r\nused_cpu_sys:1.0\r\ntotal_net_output_bytes:7\r\n", wantErr: true},
		{name: "CPU beyond a Duration", in: "used_cpu_user:1e12\r\nused_cpu_sys:1.0\r\ntotal_net_output_bytes:7\r\n", wantErr: true},
		{name: "output negative", in: "used_cpu_user:1.0\r\nused_cpu_sys:1.0\r\ntotal_net_output_bytes:-7\r\n", wantErr: true},
		{name: "output fractional", in: "used_cpu_user:1.0\r\nused_cpu_sys:1.0\r\ntotal_net_output_bytes:7.5\r\n", wantErr: true},
		{name: "space after the colon", in: "used_cpu_user: 1.0\r\nused_cpu_sys:1.0\r\ntotal_net_output_bytes:7\r\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	})
}

func TestRedisVersion(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n", "7.0.15"},
		{"redis_version:7.2.4", "7.2.4"},
		{"# Server\r\nredis_mode:standalone\r\n", ""},
		{"", ""},
	} {
		if got := redisVersion(tt.in); got != tt.want {
			t.Errorf("redisVersion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
