package membroker_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/membroker"
)

// publishSized publishes one event of size bytes to each of topics in turn.
func publishSized(t *testing.T, b *membroker.Broker, topics []string, size int) []eventid.ID {
	t.Helper()
	data := make([]byte, size)
	var ids []eventid.ID
	for _, tp := range topics {
		got, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{tp}, Data: data}}, broker.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	return ids
}

func topicNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return names
}

// The case: 3,000 events of 65 KB to distinct topics took the hub
// from 37 to 360 MB for an hour. The budget now bounds what stays.
func TestHistoryBudgetBoundsMemory(t *testing.T) {
	const budget = 16 << 20
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	b := membroker.New(membroker.Config{HistoryBudget: budget})
	ids := publishSized(t, b, topicNames("t", 3000), 65<<10)

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("3,000 events of 65 KB, %d MiB budget: heap grew by %.1f MiB", budget>>20, float64(grew)/(1<<20))
	// The budget, plus what the log's array keeps of dropped events until
	// it is compacted (at most a quarter of the budget and 1 MiB), plus
	// the topics' records.
	if limit := int64(budget + budget/4 + 4<<20); grew > limit {
		t.Errorf("3,000 events of 65 KB with a %d MiB budget: heap grew by %.1f MiB, want ≤ %.1f MiB",
			budget>>20, float64(grew)/(1<<20), float64(limit)/(1<<20))
	}

	// The oldest went first: a resume into them is told, whether it names
	// the topic or matches it by pattern; the newest are all there.
	ctx := context.Background()
	for _, sel := range []broker.Selection{{Topics: []string{"t1"}}, {Patterns: []string{"t*"}}} {
		r, err := b.Replay(ctx, sel, ids[0].String())
		if err != nil {
			t.Fatal(err)
		}
		if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
			t.Errorf("resume %+v from a dropped event: reset %q, want %q", sel, got, transport.ResetExpired)
		}
	}
	kept := budget / (65 << 10) / 2 // well within the budget
	from := ids[len(ids)-kept-1]
	r, err := b.Replay(ctx, broker.Selection{Patterns: []string{"t*"}}, from.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ReplayIDs(r); !slices.Equal(got, ids[len(ids)-kept:]) {
		t.Errorf("resume by pattern from within the budget: %d events, want the %d newest", len(got), kept)
	}
	r, err = b.Replay(ctx, broker.Selection{Topics: []string{"t2999"}}, from.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ReplayIDs(r); !slices.Equal(got, ids[len(ids)-1:]) {
		t.Errorf("resume of the newest topic = %v, want %v", got, ids[len(ids)-1:])
	}
}

// The newest event stays whatever its size: the publisher holds its id.
func TestHistoryBudgetKeepsTheNewestEvent(t *testing.T) {
	b := membroker.New(membroker.Config{HistoryBudget: 1 << 10})
	ids := publishSized(t, b, []string{"a", "b"}, 4<<10)
	r, err := b.Replay(context.Background(), broker.Selection{Topics: []string{"a", "b"}}, ids[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ReplayIDs(r); !slices.Equal(got, ids[1:]) {
		t.Errorf("Replay = %v, want %v", got, ids[1:])
	}
}

// A pattern resume reads the events published since its resume point:
// every matching one once and in order, from topics whose older events
// were trimmed too, and a reset where a matching topic lost events after
// it.
func TestPatternReplayReadsTheLog(t *testing.T) {
	b := membroker.New(membroker.Config{HistorySize: 2})
	publishN(t, b, []string{"feed/old"}, 5) // trimmed before the resume point: no loss
	start := publishN(t, b, []string{"other"}, 1)
	var want []eventid.ID
	want = append(want, publishN(t, b, []string{"feed/a"}, 2)...)
	publishN(t, b, []string{"other"}, 3)                               // unrelated, and trims the start event
	want = append(want, publishN(t, b, []string{"feed/b", "x"}, 1)...) // matches once
	want = append(want, publishN(t, b, []string{"feed/old"}, 1)...)
	ctx := context.Background()
	r, err := b.Replay(ctx, broker.Selection{Patterns: []string{"feed/*"}}, start[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ReplayIDs(r); !slices.Equal(got, want) {
		t.Errorf("Replay = %v, want %v", got, want)
	}

	publishN(t, b, []string{"feed/a"}, 1) // feed/a drops its first event after start
	r, err = b.Replay(ctx, broker.Selection{Patterns: []string{"feed/*"}}, start[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
		t.Errorf("resume by pattern past a trimmed topic: reset %q, want %q", got, transport.ResetExpired)
	}
	r, err = b.Replay(ctx, broker.Selection{Patterns: []string{"feed/b"}}, start[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ResetReason(t, r); got != "" || len(r.Messages) != 1 {
		t.Errorf("resume by a pattern that matches no trimmed topic: reset %q, %d events; want none and 1", got, len(r.Messages))
	}
}

// The case: with ~120k topics in history, 12 concurrent pattern
// resumes raised publish latency from 0.8 ms to 1.5 s, because a resume
// walked every topic under the lock publishing needs. A pattern resume
// now reads a snapshot without it.
func TestPatternResumesDoNotHoldUpPublishing(t *testing.T) {
	topics := 120_000
	if testing.Short() {
		topics = 20_000
	}
	b := membroker.New(membroker.Config{})
	first, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{"feed/0"}, Data: []byte("x")}}, broker.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < topics; i++ {
		if _, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{fmt.Sprintf("feed/%d", i)}, Data: []byte("x")}}, broker.Idempotency{}); err != nil {
			t.Fatal(err)
		}
	}

	var stop atomic.Bool
	var wg, started sync.WaitGroup
	started.Add(12)
	for range 12 {
		wg.Go(func() {
			var once sync.Once
			defer once.Do(started.Done)
			for !stop.Load() {
				r, err := b.Replay(context.Background(), broker.Selection{Patterns: []string{"feed/*"}}, first[0].String())
				if err != nil || r.Reset != nil || len(r.Messages) < topics-1 {
					t.Errorf("pattern resume: err %v, reset %v, %d events, want %d", err, r.Reset != nil, len(r.Messages), topics-1)
					return
				}
				once.Do(started.Done) // one resume done: the next is under way
			}
		})
	}
	started.Wait()
	latencies := make([]time.Duration, 0, 40)
	for range cap(latencies) {
		start := time.Now()
		if _, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{"live"}, Data: []byte("x")}}, broker.Idempotency{}); err != nil {
			t.Fatal(err)
		}
		latencies = append(latencies, time.Since(start))
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	// Scheduling 13 busy goroutines on a few cores costs a publish some
	// milliseconds; waiting for a walk of every topic costs it hundreds.
	t.Logf("publish latency during 12 pattern resumes over %d topics: median %v, max %v", topics, latencies[len(latencies)/2], latencies[len(latencies)-1])
	if median := latencies[len(latencies)/2]; median > 100*time.Millisecond {
		t.Errorf("publish latency during 12 pattern resumes over %d topics: median %v (max %v), want ≤ 50ms",
			topics, median, latencies[len(latencies)-1])
	}
}

// BenchmarkPatternResume times a pattern resume from a recent id while
// history holds many unrelated topics: its cost follows the events since
// the resume point, not the number of topics.
func BenchmarkPatternResume(b *testing.B) {
	for _, topics := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("topics=%d", topics), func(b *testing.B) {
			br := membroker.New(membroker.Config{})
			ctx := context.Background()
			for i := range topics {
				if _, err := br.Publish(ctx, []broker.Publication{{Topics: []string{fmt.Sprintf("t/%d", i)}, Data: []byte("x")}}, broker.Idempotency{}); err != nil {
					b.Fatal(err)
				}
			}
			from, err := br.Publish(ctx, []broker.Publication{{Topics: []string{"t/x"}, Data: []byte("x")}}, broker.Idempotency{})
			if err != nil {
				b.Fatal(err)
			}
			for range 10 {
				if _, err := br.Publish(ctx, []broker.Publication{{Topics: []string{"feed/x"}, Data: []byte("x")}}, broker.Idempotency{}); err != nil {
					b.Fatal(err)
				}
			}
			sel := broker.Selection{Patterns: []string{"feed/*"}}
			b.ReportAllocs()
			for b.Loop() {
				r, err := br.Replay(ctx, sel, from[0].String())
				if err != nil || len(r.Messages) != 10 {
					b.Fatalf("Replay: %v, %d events", err, len(r.Messages))
				}
			}
		})
	}
}

// With --history-size 0 nothing is kept, and an event to several topics
// dies once, not once per topic: the accounting stayed sane (it went
// negative and then panicked making a slice in compaction).
func TestNoHistoryWithEventsToSeveralTopics(t *testing.T) {
	b := membroker.New(membroker.Config{HistorySize: -1})
	for range 2000 {
		if _, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{"a", "b", "c"}, Data: []byte("x")}}, broker.Idempotency{}); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.HistoryStats(); st.Events != 0 || st.Bytes != 0 {
		t.Errorf("HistoryStats = %+v, want no events and no bytes kept", st)
	}
}

// A pattern resume that also names a topic must still check the history
// of every topic its patterns match, including those of events it read
// through the named topic: feed/a lost an event after the resume point.
func TestPatternResumeChecksTopicsOfNamedTopicEvents(t *testing.T) {
	b := membroker.New(membroker.Config{HistorySize: 2})
	start := publishN(t, b, []string{"other"}, 1)
	lost := publishN(t, b, []string{"feed/a"}, 1)
	publishN(t, b, []string{"feed/a", "z"}, 2) // trims lost from feed/a
	publishN(t, b, []string{"other"}, 3)       // lost is dead and compacted away
	r, err := b.Replay(context.Background(), broker.Selection{Topics: []string{"z"}, Patterns: []string{"feed/*"}}, start[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
		t.Errorf("resume missing %v: reset %q, events %v; want %q", lost[0], got, brokertest.ReplayIDs(r), transport.ResetExpired)
	}
}

// TestPublisherIDsGoWithTheirEvents: a Mercure publisher's id is
// remembered while history holds its event, and forgotten with it, so
// the map is bounded as history is; a reused id that leaves history with
// its older event keeps naming the newer one.
func TestPublisherIDsGoWithTheirEvents(t *testing.T) {
	ctx := context.Background()
	b := membroker.New(membroker.Config{HistorySize: 2})
	t.Cleanup(func() { b.Close() })
	pub := func(pid string) eventid.ID {
		t.Helper()
		ids, err := b.Publish(ctx, []broker.Publication{{Topics: []string{"@m/a"}, Data: []byte(pid),
			Mercure: &broker.Mercure{Topics: []string{"a"}, ID: pid}}}, broker.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		return ids[0]
	}
	lookup := func(pid string) (eventid.ID, bool) {
		t.Helper()
		id, ok, err := b.LookupPublisherID(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		return id, ok
	}
	pub("one")
	reused := pub("two")
	pub("three")
	if _, ok := lookup("one"); ok {
		t.Error("an id whose event history dropped (2 kept per topic) is still known")
	}
	if id, ok := lookup("two"); !ok || id != reused {
		t.Errorf("lookup(two) = %v, %v; want %v", id, ok, reused)
	}
	newer := pub("two")
	pub("four") // drops the older "two"
	if id, ok := lookup("two"); !ok || id != newer {
		t.Errorf("lookup of a reused id after its older event left history = %v, %v; want the newer %v", id, ok, newer)
	}
}
