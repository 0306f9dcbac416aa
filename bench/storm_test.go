package bench

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

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

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		d := make([]time.Duration, len(ns))
		for i, n := range ns {
			d[i] = time.Duration(n) * time.Millisecond
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 100, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2, 3), 50, 2 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 100, 100 * time.Millisecond},
		{ms(hundred...), 1, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("percentile(%d values, %d) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
		}
	}
}

func TestSubscribeRequest(t *testing.T) {
	tests := []struct{ topic, lastEventID, want string }{
		{"news", "", "GET /events?topic=news HTTP/1.1\r\nHost: ssehub\r\nAccept: text/event-stream\r\n\r\n"},
		{"user/7", "1700000000000-3", "GET /events?topic=user%2F7 HTTP/1.1\r\nHost: ssehub\r\nAccept: text/event-stream\r\nLast-Event-ID: 1700000000000-3\r\n\r\n"},
	}
	for _, tt := range tests {
		if got := subscribeRequest(tt.topic, tt.lastEventID); got != tt.want {
			t.Errorf("subscribeRequest(%q, %q) = %q, want %q", tt.topic, tt.lastEventID, got, tt.want)
		}
	}
}

// The resume storm end to end on a small scale: a real redis-server, two
// real hubs built from this tree on it, 200 streams resuming at once, for
// both topic layouts.
func TestResumeStormSmall(t *testing.T) {
	ctx := startE2E(t, "builds and runs the hub and redis-server")
	redis := startRedis(ctx, t)
	if cpu, err := redis.CPU(); err != nil || cpu < 0 {
		t.Errorf("redis.CPU() = %v, %v; want >= 0", cpu, err)
	}
	log := &syncWriter{w: new(strings.Builder)}
	hubs := startHubs(ctx, t, 2, log, "--shards", "2", "--redis-url", redis.URL())

	const n = 200
	tests := []struct {
		topics                string
		events, resumeFrom    int
		wantMissed, published int
	}{
		{topics: TopicsShared, events: 30, resumeFrom: 0, wantMissed: 29, published: 30},
		{topics: TopicsUnique, events: 6, resumeFrom: 2, wantMissed: 3, published: 6 * n},
	}
	for _, tt := range tests {
		t.Run(tt.topics, func(t *testing.T) {
			res, err := RunResumeStorm(ctx, hubs, redis, StormConfig{
				Streams:     n,
				Events:      tt.events,
				ResumeFrom:  tt.resumeFrom,
				Topics:      tt.topics,
				Sources:     []string{"127.0.0.2", "127.0.0.3"},
				Concurrency: 50,
				Timeout:     20 * time.Second,
			})
			if err != nil {
				t.Fatalf("RunResumeStorm: %v", err)
			}
			var table strings.Builder
			if err := res.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			t.Logf("resume storm, %d streams:\n%s", n, table.String())
			if !res.OK() || res.Connected != n || res.ConnectErrors != 0 || res.Ended != 0 {
				t.Errorf("caught up %d, connected %d of %d (%d errors: %s), resets %d, ended %d, disordered %d, extra %d, timed out %t; want all caught up, nothing else",
					res.CaughtUp, res.Connected, n, res.ConnectErrors, res.ConnectError, res.Resets, res.Ended, res.Disordered, res.Extra, res.TimedOut)
			}
			if res.Missed != tt.wantMissed || res.Published != tt.published {
				t.Errorf("missed %d, published %d; want %d, %d", res.Missed, res.Published, tt.wantMissed, tt.published)
			}
			if want := int64(n * tt.wantMissed); res.Delivered != want {
				t.Errorf("delivered %d events, want %d x %d = %d", res.Delivered, n, tt.wantMissed, want)
			}
			if res.StormTime <= 0 || res.CatchUpP50 <= 0 || res.CatchUpP50 > res.CatchUpP99 || res.CatchUpP99 > res.CatchUpMax || res.CatchUpMax > res.StormTime {
				t.Errorf("storm %v, catch-up p50 %v, p99 %v, max %v; want 0 < p50 <= p99 <= max <= storm",
					res.StormTime, res.CatchUpP50, res.CatchUpP99, res.CatchUpMax)
			}
			if res.HubCPU < 0 || res.RedisCPU < 0 || res.GeneratorCPU < 0 {
				t.Errorf("CPU hub %v, redis %v, generator %v; want >= 0", res.HubCPU, res.RedisCPU, res.GeneratorCPU)
			}
		})
	}
	if t.Failed() {
		t.Logf("hub log:\n%s", log.String())
	}
}

// A resume point that is not one of the hub's ids is answered with
// ssehub.reset, which the storm reports instead of waiting for events that
// will never come.
func TestResumeStormReportsResets(t *testing.T) {
	ctx := startE2E(t, "builds and runs the hub and redis-server")
	// The embedded broker forgets its history on restart: a second hub
	// does not know the first one's ids.
	hubs := startHubs(ctx, t, 2, nil, "--shards", "2")
	// Events go to the first hub; streams resume on both, half each.
	res, err := RunResumeStorm(ctx, hubs, nil, StormConfig{Streams: 20, Events: 5, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("RunResumeStorm: %v", err)
	}
	if res.OK() || res.CaughtUp != 10 || res.Resets != 10 || res.TimedOut {
		t.Errorf("OK %t, caught up %d, resets %d, timed out %t; want not OK, 10, 10, false", res.OK(), res.CaughtUp, res.Resets, res.TimedOut)
	}
	if res.RedisCPU != 0 {
		t.Errorf("RedisCPU without Redis = %v, want 0", res.RedisCPU)
	}
}
