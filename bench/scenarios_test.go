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
