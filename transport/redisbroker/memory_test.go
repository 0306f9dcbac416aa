package redisbroker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/transport"

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

// With maxmemory and volatile-ttl, Redis evicts the streams of the topics
// idle longest. A resume into an evicted topic's events must get a reset,
// never a silent skip of events the history no longer has.
func TestEvictedHistoryIsReset(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	info, err := rc.InfoMap(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	baseline, _ := strconv.Atoi(info["Memory"]["used_memory"])
	for k, v := range map[string]string{"maxmemory": strconv.Itoa(baseline + 1<<20), "maxmemory-policy": "volatile-ttl"} {
		if err := rc.ConfigSet(ctx, k, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := redisbroker.New(ctx, redisbroker.Config{Client: rc})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const topics, perTopic = 40, 20
	data := []byte(strings.Repeat("x", 2<<10))
	first := make([]eventid.ID, topics)
	for i := range topics {
		for j := range perTopic {
			ids, err := b.Publish(ctx, []broker.Publication{{Topics: []string{fmt.Sprintf("t%d", i)}, Data: data}}, broker.Idempotency{})
			if err != nil {
				t.Fatalf("publish %d to t%d: %v", j, i, err)
			}
			if j == 0 {
				first[i] = ids[0]
			}
		}
	}
	stats, err := rc.InfoMap(ctx, "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if evicted, _ := strconv.Atoi(stats["Stats"]["evicted_keys"]); evicted == 0 {
		t.Fatalf("Redis evicted nothing (used_memory baseline %d); the test needs evictions", baseline)
	}
	var full, reset int
	for i := range topics {
		r, err := b.Replay(ctx, broker.Selection{Topics: []string{fmt.Sprintf("t%d", i)}}, first[i].String())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range pages(t, r) {
			n += len(p)
		}
		switch {
		case r.Reset != nil:
			reset++
		case n == perTopic-1:
			full++
		default:
			t.Errorf("resume of t%d: %d of %d events and no reset: a silent loss", i, n, perTopic-1)
		}
	}
	if reset == 0 || full == 0 {
		t.Errorf("%d topics reset, %d replayed in full; want some of each (evictions happened)", reset, full)
	}
	r, err := b.Replay(ctx, broker.Selection{Patterns: []string{"t*"}}, first[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
		t.Errorf("resume by pattern over evicted topics: reset %q, want %q", got, transport.ResetExpired)
	}
	t.Logf("%d topics evicted and reset, %d replayed in full", reset, full)
}
