package redisbroker_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// A hub tells its operator at start what Redis's memory settings mean
// for history, which Redis alone bounds in total.
func TestMemoryPolicyIsCheckedAtStart(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	for _, tt := range []struct {
		maxmemory, policy string
		want              string // in the log; "" for nothing logged
	}{
		{"0", "noeviction", `level=INFO msg="redis has no maxmemory`},
		{"100mb", "allkeys-lru", `level=WARN msg="redis may evict the hub's id counter`},
		{"100mb", "noeviction", `level=INFO msg="when redis reaches maxmemory, publishes fail`},
		{"100mb", "volatile-ttl", ""},
		{"100mb", "volatile-lru", ""},
	} {
		if err := rc.ConfigSet(ctx, "maxmemory", tt.maxmemory).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rc.ConfigSet(ctx, "maxmemory-policy", tt.policy).Err(); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		b, err := redisbroker.New(ctx, redisbroker.Config{Client: rc, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		got := log.String()
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("maxmemory %s, policy %s: logged %q, want %q", tt.maxmemory, tt.policy, got, tt.want)
		}
	}
}
