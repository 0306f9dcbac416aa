package bench

import "testing"

func TestParseListenAddr(t *testing.T) {
	tests := []struct {
		line   string
		want   string
		wantOK bool
	}{
		{`time=2025-01-01T00:00:00.000Z level=INFO msg="ssehub listening" addr=127.0.0.1:41234 broker=memory shards=4`, "127.0.0.1:41234", true},
		{`time=2025-01-01T00:00:00.000Z level=INFO msg="ssehub listening" addr=[::1]:80`, "[::1]:80", true},
		{`{"time":"2025-01-01T00:00:00Z","level":"INFO","msg":"ssehub listening","addr":"127.0.0.1:5000","shards":4}`, "127.0.0.1:5000", true},
		{`time=2025-01-01T00:00:00.000Z level=INFO msg="ssehub stopped" addr=127.0.0.1:1`, "", false},
		{`{"msg":"ssehub stopped","addr":"127.0.0.1:1"}`, "", false},
		{`time=2025-01-01T00:00:00.000Z level=INFO msg="ssehub listening"`, "", false},
		{`{"msg":"ssehub listening"`, "", false},
		{`gc 1 @0.003s 2%: 0.010+0.20+0.003 ms clock`, "", false},
	}
	for _, tt := range tests {
		got, ok := parseListenAddr(tt.line)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseListenAddr(%q) = %q, %t; want %q, %t", tt.line, got, ok, tt.want, tt.wantOK)
		}
	}
}
