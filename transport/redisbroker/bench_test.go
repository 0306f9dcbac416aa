package redisbroker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// newBenchBroker returns a Redis broker with default settings on a
// private redis-server, closed when the benchmark ends, and a client of
// that server.
func newBenchBroker(b *testing.B) (*redisbroker.Broker, redis.UniversalClient) {
	b.Helper()
	srv := redistest.Start(b)
	client := srv.Client(b)
	br, err := redisbroker.New(context.Background(), redisbroker.Config{Client: client})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	return br, client
}

// BenchmarkRedisPublish measures the Redis broker's publish path against a
// real, private redis-server: one EVALSHA of the publish script per event
// (id, history append and trim, PUBLISH), pipelined per call. The topic's
// history fills up to its 1,000-event cap during the run, so most
// iterations also trim.
func BenchmarkRedisPublish(b *testing.B) {
	br, _ := newBenchBroker(b)
	brokertest.BenchPublish(b, br)
}

// BenchmarkRedisResume_8Topics32KB measures one resume over a long
// history against a real redis-server: 8 topics x 1,000 events x 32 KB
// (the history of issue 16, item 5), replayed from its start and read to
// the end page by page, as a shard does. It reports the hub's allocation
// per resume and Redis's CPU time per resume.
func BenchmarkRedisResume_8Topics32KB(b *testing.B) {
	const topics, events, size = 8, 1000, 32 << 10
	br, client := newBenchBroker(b)
	data := strings.Repeat("x", size)
	var sel broker.Selection
	for i := range topics {
		sel.Topics = append(sel.Topics, fmt.Sprintf("big/%d", i))
	}
	ids, err := br.Publish(context.Background(), []broker.Publication{brokertest.Pub("start", sel.Topics[0])}, broker.Idempotency{})
	if err != nil {
		b.Fatal(err)
	}
	for range events {
		pubs := make([]broker.Publication, topics)
		for j, t := range sel.Topics {
			pubs[j] = brokertest.Pub(data, t)
		}
		if _, err := br.Publish(context.Background(), pubs, broker.Idempotency{}); err != nil {
			b.Fatal(err)
		}
	}
	from := ids[0].String()
	before := redisCPU(b, client)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := br.Replay(context.Background(), sel, from)
		if err != nil {
			b.Fatal(err)
		}
		n := len(r.Messages)
		for next := r.Next; next != nil; {
			p, err := next(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if len(p) == 0 {
				break
			}
			n += len(p)
		}
		if n != topics*events {
			b.Fatalf("resumed %d events, want %d", n, topics*events)
		}
	}
	b.StopTimer()
	b.ReportMetric((redisCPU(b, client)-before).Seconds()*1000/float64(b.N), "redis-cpu-ms/op")
}

// redisCPU returns Redis's CPU time, user and system (INFO cpu).
// commandstats would count the commands a script runs twice, in the
// script's time and in their own.
func redisCPU(b *testing.B, c redis.UniversalClient) time.Duration {
	b.Helper()
	stats, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for line := range strings.Lines(stats) {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkRedisPublishCPU reports Redis's CPU per published event
// (redis-µs/event), the figure the fleet's publish capacity divides by
// (docs/capacity.md): one event per call, and batches of 100 events to one
// topic, to 100 distinct topics (targeted notifications), and to 10 topics
// each. Histories fill to their cap during the run, so trimming is counted.
func BenchmarkRedisPublishCPU(b *testing.B) {
	br, client := newBenchBroker(b)
	batch := func(n int, topics func(i int) []string) []broker.Publication {
		pubs := make([]broker.Publication, n)
		for i := range pubs {
			pubs[i] = brokertest.Pub(strings.Repeat("x", 64), topics(i)...)
		}
		return pubs
	}
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = fmt.Sprintf("ten/%d", i)
	}
	for _, c := range []struct {
		name string
		pubs []broker.Publication
	}{
		{"single", batch(1, func(int) []string { return []string{"one"} })},
		{"batch=100/one-topic", batch(100, func(int) []string { return []string{"one"} })},
		{"batch=100/distinct-topics", batch(100, func(i int) []string { return []string{fmt.Sprintf("user/%d", i)} })},
		{"batch=100/10-topics-each", batch(100, func(int) []string { return ten })},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			before, scriptsBefore := redisCPU(b, client), scriptTime(b, client)
			for b.Loop() {
				if _, err := br.Publish(context.Background(), c.pubs, broker.Idempotency{}); err != nil {
					b.Fatal(err)
				}
			}
			events := float64(b.N * len(c.pubs))
			b.ReportMetric((redisCPU(b, client)-before).Seconds()*1e6/events, "redis-µs/event")
			// The scripts' own time, without Redis's background work and
			// networking, which swamp small differences on a busy machine.
			b.ReportMetric((scriptTime(b, client)-scriptsBefore).Seconds()*1e6/events, "script-µs/event")
			b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// scriptTime is the time Redis spent running scripts (INFO commandstats:
// EVALSHA and EVAL, whose time includes the commands they run).
func scriptTime(b *testing.B, c redis.UniversalClient) time.Duration {
	b.Helper()
	stats, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var usec int64
	for line := range strings.Lines(stats) {
		for _, k := range []string{"cmdstat_evalsha:", "cmdstat_eval:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
				for f := range strings.SplitSeq(v, ",") {
					if n, ok := strings.CutPrefix(f, "usec="); ok {
						u, _ := strconv.ParseInt(n, 10, 64)
						usec += u
					}
				}
			}
		}
	}
	return time.Duration(usec) * time.Microsecond
}

// usedMemory returns Redis's used_memory.
func usedMemory(b *testing.B, c interface {
	Info(ctx context.Context, section ...string) *redis.StringCmd
}) int64 {
	b.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("INFO memory has no used_memory")
	return 0
}

// BenchmarkPresenceQuery_100kMembers measures the presence queries on one
// topic that 100,000 users follow, against a real redis-server, and
// reports Redis's memory per member (the fleet totals and the hub's own
// share together). The members are written by a tracker, as a hub's
// shards would, in one pipeline of 100 script calls.
func BenchmarkPresenceQuery_100kMembers(b *testing.B) {
	const members = 100_000
	br, client := newBenchBroker(b)
	tr := br.TrackPresence(broker.PresenceConfig{})
	defer tr.Close()
	before := usedMemory(b, client)
	entries := make([]broker.PresenceEntry, members)
	for i := range entries {
		entries[i] = broker.PresenceEntry{Topic: "big", User: fmt.Sprintf("user-%06d", i), Streams: 1}
	}
	start := time.Now()
	if !tr.Update(0, entries) {
		b.Fatal("Update refused")
	}
	ctx := context.Background()
	for {
		p, err := br.TopicPresence(ctx, "big")
		if err == nil && p.Users == members {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Logf("100,000 members written in %v; Redis memory %.0f B/member", time.Since(start).Round(time.Millisecond),
		float64(usedMemory(b, client)-before)/members)
	b.ReportMetric(float64(usedMemory(b, client)-before)/members, "redis-B/member")

	b.Run("counts", func(b *testing.B) {
		for b.Loop() {
			if _, err := br.TopicPresence(ctx, "big"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("member", func(b *testing.B) {
		for b.Loop() {
			if _, err := br.MemberPresence(ctx, "big", "user-050000"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("page100", func(b *testing.B) {
		cursor := ""
		for b.Loop() {
			page, err := br.PresenceMembers(ctx, "big", cursor, 100)
			if err != nil {
				b.Fatal(err)
			}
			cursor = page.Cursor
		}
	})
}
