package membroker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/membroker"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func publishN(t *testing.T, b *membroker.Broker, topics []string, n int) []eventid.ID {
	t.Helper()
	ids, err := tryPublishN(b, topics, n)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// tryPublishN is publishN for goroutines other than the test's, which must
// not end the test: it returns the first error instead.
func tryPublishN(b *membroker.Broker, topics []string, n int) ([]eventid.ID, error) {
	var ids []eventid.ID
	for i := range n {
		got, err := b.Publish(context.Background(), []broker.Publication{{Topics: topics, Data: fmt.Appendf(nil, "%d", i)}}, broker.Idempotency{})
		if err != nil {
			return ids, fmt.Errorf("Publish: %w", err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

func TestMemoryBrokerRetentionByCount(t *testing.T) {
	b := membroker.New(membroker.Config{HistorySize: 3})
	ids := publishN(t, b, []string{"a"}, 5) // keeps ids[2:]
	sel := broker.Selection{Topics: []string{"a"}}
	for _, tc := range []struct {
		from      int
		want      []eventid.ID
		wantReset string
	}{
		{from: 0, wantReset: transport.ResetExpired}, // ids[1] was dropped
		{from: 1, want: ids[2:]},                     // everything after it is kept
		{from: 3, want: ids[4:]},
		{from: 4, want: nil},
	} {
		r, err := b.Replay(context.Background(), sel, ids[tc.from].String())
		if err != nil {
			t.Fatal(err)
		}
		if got := brokertest.ResetReason(t, r); got != tc.wantReset {
			t.Errorf("Replay after ids[%d]: reset %q, want %q", tc.from, got, tc.wantReset)
		}
		if got := brokertest.ReplayIDs(r); !slices.Equal(got, tc.want) {
			t.Errorf("Replay after ids[%d] = %v, want %v", tc.from, got, tc.want)
		}
		if r.Head != ids[4] {
			t.Errorf("Head = %v, want %v", r.Head, ids[4])
		}
	}
}

func TestMemoryBrokerRetentionByAge(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	b := membroker.New(membroker.Config{HistoryTTL: time.Minute, Now: clk.Now})
	old := publishN(t, b, []string{"a", "b"}, 2)
	clk.Advance(2 * time.Minute)
	recent := publishN(t, b, []string{"a"}, 1) // trims a's aged events; b's record goes in a sweep
	sel := func(topics ...string) broker.Selection { return broker.Selection{Topics: topics} }
	ctx := context.Background()

	r, _ := b.Replay(ctx, sel("a"), old[0].String())
	if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
		t.Errorf("resume on a from an aged-out id: reset %q, want %q", got, transport.ResetExpired)
	}
	r, _ = b.Replay(ctx, sel("b"), old[1].String())
	if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
		t.Errorf("resume on b older than the TTL: reset %q, want %q (its events may be gone)", got, transport.ResetExpired)
	}
	r, _ = b.Replay(ctx, sel("a", "b", "never"), recent[0].String())
	if got := brokertest.ResetReason(t, r); got != "" || len(r.Messages) != 0 {
		t.Errorf("resume from the newest id: reset %q, %d messages; want neither", got, len(r.Messages))
	}
}

func TestMemoryBrokerResetsForeignIDs(t *testing.T) {
	old := membroker.New(membroker.Config{})
	before := publishN(t, old, []string{"a"}, 1)
	time.Sleep(2 * time.Millisecond) // the next process starts in a later millisecond
	b := membroker.New(membroker.Config{})
	after := publishN(t, b, []string{"a"}, 1)
	if !before[0].Less(after[0]) {
		t.Fatalf("id after restart %v is not newer than %v", after[0], before[0])
	}
	sel := broker.Selection{Topics: []string{"a"}}
	for lastID, want := range map[string]string{
		before[0].String():       transport.ResetHistoryLost,
		"not-an-id":              transport.ResetUnknownID,
		"0-0":                    transport.ResetHistoryLost,
		"18446744073709551615-0": transport.ResetUnknownID,
	} {
		r, err := b.Replay(context.Background(), sel, lastID)
		if err != nil {
			t.Fatal(err)
		}
		if got := brokertest.ResetReason(t, r); got != want {
			t.Errorf("Replay(%q): reset %q, want %q", lastID, got, want)
		}
		if r.Reset.ID != after[0] || r.Head != after[0] {
			t.Errorf("Replay(%q): reset id %v head %v, want both %v", lastID, r.Reset.ID, r.Head, after[0])
		}
	}
}

func TestMemoryBrokerReplayMergesTopicsAndPatterns(t *testing.T) {
	b := membroker.New(membroker.Config{})
	start := publishN(t, b, []string{"x"}, 1)
	var want []eventid.ID
	want = append(want, publishN(t, b, []string{"user/1"}, 1)...)
	want = append(want, publishN(t, b, []string{"news", "user/2"}, 1)...) // matches twice, replayed once
	publishN(t, b, []string{"other"}, 1)
	want = append(want, publishN(t, b, []string{"news"}, 1)...)
	r, err := b.Replay(context.Background(), broker.Selection{Topics: []string{"news"}, Patterns: []string{"user/*"}}, start[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ReplayIDs(r); !slices.Equal(got, want) {
		t.Errorf("Replay = %v, want %v", got, want)
	}
}

func TestMemoryBrokerDeliversOncePerSubscriberInOrder(t *testing.T) {
	b := membroker.New(membroker.Config{})
	var exactAndPattern, patternOnly, gone brokertest.Recorder
	s1, _ := b.NewSubscriber(&exactAndPattern)
	exactAndPattern.Subscribe(t, s1, "news", "n*")
	s2, _ := b.NewSubscriber(&patternOnly)
	patternOnly.Subscribe(t, s2, "*s")
	s3, _ := b.NewSubscriber(&gone)
	gone.Subscribe(t, s3, "news")
	s3.Unsubscribe("news")

	// Concurrent publishers: every subscriber must still see ids ascending.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := tryPublishN(b, []string{"news"}, 50); err != nil {
				t.Error(err) // not Fatal: this is not the test's goroutine
			}
		})
	}
	testenv.WaitAll(t, "the publishers", &wg)
	for name, r := range map[string]*brokertest.Recorder{"exact+pattern": &exactAndPattern, "pattern": &patternOnly} {
		ids := r.IDs()
		if len(ids) != 200 {
			t.Errorf("%s subscriber got %d messages, want 200", name, len(ids))
		}
		if !slices.IsSortedFunc(ids, eventid.ID.Compare) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("%s subscriber ids not strictly ascending", name)
		}
	}
	if n := len(gone.IDs()); n != 0 {
		t.Errorf("unsubscribed subscriber got %d messages", n)
	}
	s1.Close()
	publishN(t, b, []string{"news"}, 1)
	if n := len(exactAndPattern.IDs()); n != 200 {
		t.Errorf("closed subscriber got %d messages, want still 200", n)
	}
}

// heldSink is a shard whose mailbox is full and stays full until released:
// Deliver waits, as a paused shard makes it.
type heldSink struct{ release chan struct{} }

func (s heldSink) Deliver(*broker.Message) { <-s.release }
func (heldSink) Subscribed(string, bool)   {}
func (heldSink) Lost()                     {}
func (heldSink) Observed(int, eventid.ID)  {}

// Publishers waiting on a paused shard must not hold up replays, which
// that shard's resuming streams need before it can resume, nor Ping: the
// second publisher used to wait for the first while holding the lock
// replays take, a deadlock with the paused shard.
func TestPublishersWaitingOnAPausedShardDoNotBlockReplays(t *testing.T) {
	b := membroker.New(membroker.Config{})
	defer b.Close()
	sink := heldSink{make(chan struct{})}
	sub, err := b.NewSubscriber(sink)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sub.Subscribe("news")
	var publishers sync.WaitGroup
	for i := range 3 {
		publishers.Go(func() {
			_, _ = b.Publish(context.Background(), []broker.Publication{{Topics: []string{"news"}, Data: []byte(fmt.Sprint(i))}}, broker.Idempotency{})
		})
	}
	time.Sleep(50 * time.Millisecond) // one waits in Deliver, the others behind it

	replayed := make(chan error, 1)
	go func() {
		_, err := b.Replay(context.Background(), broker.Selection{Topics: []string{"news"}}, "")
		if err == nil {
			err = b.Ping(context.Background())
		}
		replayed <- err
	}()
	select {
	case err := <-replayed:
		if err != nil {
			t.Errorf("Replay or Ping: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Error("Replay or Ping blocked behind publishers waiting on a paused shard")
		defer func() { <-replayed }() // it returns once the publishers are let go
	}
	close(sink.release)
	testenv.WaitAll(t, "the publishers", &publishers)
}

// TestIdempotencyRecordsBounded checks that records are forgotten after
// their TTL, and oldest first beyond MaxIdempotencyRecords.
func TestIdempotencyRecordsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := membroker.New(membroker.Config{MaxIdempotencyRecords: 2, Now: func() time.Time { return now }})
	defer b.Close()
	publish := func(key string) eventid.ID {
		t.Helper()
		ids, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{"t"}, Data: []byte("x")}},
			broker.Idempotency{Key: key, TTL: time.Minute})
		if err != nil {
			t.Fatalf("Publish(key %s): %v", key, err)
		}
		return ids[0]
	}
	k1, k2 := publish("k1"), publish("k2")
	if got := publish("k2"); got != k2 {
		t.Errorf("repeat of k2 = %v, want %v", got, k2)
	}
	publish("k3") // a third record: k1, the oldest, is forgotten
	if got := publish("k1"); got == k1 {
		t.Errorf("k1 beyond the bound still remembered as %v", got)
	}
	k4 := publish("k4")
	now = now.Add(time.Minute)
	if got := publish("k4"); got == k4 {
		t.Errorf("k4 after its TTL still remembered as %v", got)
	}
}
