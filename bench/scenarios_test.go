package bench

import (
	"testing"
	"time"
)

func TestHubPublishWait(t *testing.T) {
	tests := []struct {
		args, env []string
		want      time.Duration
		wantErr   bool
	}{
		{nil, nil, defaultPublishWait, false},
		{[]string{"--heartbeat=30s"}, []string{"GOMAXPROCS=1"}, defaultPublishWait, false},
		{[]string{"--publish-wait=5s"}, nil, 5 * time.Second, false},
		{[]string{"-publish-wait", "500ms", "--heartbeat", "30s"}, nil, 500 * time.Millisecond, false},
		{[]string{"--publish-wait=0"}, nil, 0, false},
		{[]string{"--publish-wait=1s", "--publish-wait=3s"}, nil, 3 * time.Second, false},
		{nil, []string{"SSEHUB_PUBLISH_WAIT=4s"}, 4 * time.Second, false},
		{[]string{"--publish-wait=1s"}, []string{"SSEHUB_PUBLISH_WAIT=4s"}, time.Second, false}, // flags win
		{[]string{"--publish-rate", "-1"}, nil, defaultPublishWait, false},
		{[]string{"--publish-wait=soon"}, nil, 0, true},
		{[]string{"--publish-wait"}, nil, defaultPublishWait, false}, // the hub refuses to start
	}
	for _, tt := range tests {
		got, err := hubPublishWait(tt.args, tt.env)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("hubPublishWait(%q, %q) = %v, %v; want %v, error %t", tt.args, tt.env, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCPUAboveIdle(t *testing.T) {
	tests := []struct {
		cpu       time.Duration
		idleCores float64
		length    time.Duration
		delivered int64
		want      time.Duration
	}{
		// 5.5 s of CPU in 10 s at 0.05 cores idle: 5 s for 100,000 events.
		{5500 * time.Millisecond, 0.05, 10 * time.Second, 100_000, 50 * time.Microsecond},
		{5500 * time.Millisecond, 0, 10 * time.Second, 100_000, 0}, // no idle phase
		{5500 * time.Millisecond, 0.05, 10 * time.Second, 0, 0},    // nothing delivered
		{400 * time.Millisecond, 0.05, 10 * time.Second, 1_000, 0}, // below idle: noise
		{time.Second, 0.1, 10 * time.Second, 1_000, 0},             // all of it idle
		{1001 * time.Millisecond, 0.1, 10 * time.Second, 1, time.Millisecond},
	}
	for _, tt := range tests {
		if got := cpuAboveIdle(tt.cpu, tt.idleCores, tt.length, tt.delivered); got != tt.want {
			t.Errorf("cpuAboveIdle(%v, %v, %v, %d) = %v, want %v", tt.cpu, tt.idleCores, tt.length, tt.delivered, got, tt.want)
		}
	}
}
