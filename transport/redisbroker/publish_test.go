package redisbroker_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// A batch longer than a script run's chunk is published as several runs:
// its events get consecutive ids, arrive once each in order, are resumed
// in order, and an idempotent retry of the whole batch returns the same
// ids and publishes nothing.
func TestRedisPublishBatchAcrossChunks(t *testing.T) {
	b := newPagingBroker(t, 1000)
	rec, _ := brokertest.Listen(t, b, "a", "b")
	start := publishEach(t, b, brokertest.Pub("start", "a"))[0]
	batch := make([]broker.Publication, 250)
	for i := range batch {
		// Every third event goes to both topics: one copy per stream.
		topics := []string{"a"}
		if i%3 == 0 {
			topics = []string{"a", "b"}
		}
		batch[i] = brokertest.Pub(strconv.Itoa(i), topics...)
	}
	idem := broker.Idempotency{Key: "batch", Digest: "d"}
	ids, err := b.Publish(context.Background(), batch, idem)
	if err != nil || len(ids) != len(batch) {
		t.Fatalf("Publish(%d events) = %d ids, %v", len(batch), len(ids), err)
	}
	for i := 1; i < len(ids); i++ {
		if !ids[i-1].Less(ids[i]) {
			t.Fatalf("ids %d and %d out of order: %v, %v", i-1, i, ids[i-1], ids[i])
		}
	}
	again, err := b.Publish(context.Background(), batch, idem)
	if err != nil || !slices.Equal(again, ids) {
		t.Fatalf("retry of the batch = %v, %v; want the same %d ids", len(again), err, len(ids))
	}

	want := append([]eventid.ID{start}, ids...)
	// An event to both topics reaches a subscriber of both once.
	testenv.WaitFor(t, "every event live", func() bool { return len(rec.IDs()) >= len(want) })
	if got := rec.IDs(); !slices.Equal(got, want) {
		t.Errorf("live: %d ids, want each of %d once, in order", len(got), len(want))
	}

	r, err := b.Replay(context.Background(), broker.Selection{Topics: []string{"a", "b"}}, start.String())
	if err != nil || r.Reset != nil {
		t.Fatalf("Replay = reset %v, %v", r.Reset, err)
	}
	var replayed []eventid.ID
	for _, p := range pages(t, r) {
		for _, m := range p {
			if data := fmt.Sprintf("data: %d\n", len(replayed)); !strings.Contains(string(m.Frame), data) {
				t.Fatalf("replayed event %d is %q, want %q in it", len(replayed), m.Frame, data)
			}
			replayed = append(replayed, m.ID)
		}
	}
	if !slices.Equal(replayed, want[1:]) {
		t.Errorf("replayed %d ids, want the batch's %d in order", len(replayed), len(ids))
	}
}

// With no history (HistorySize < 0) a topic keeps no stream, not even one
// left from a hub that kept history on the same Redis: a resume gets a
// reset, never the old events without the new ones.
func TestRedisPublishWithoutHistory(t *testing.T) {
	srv := redistest.Start(t)
	open := func(size int) *redisbroker.Broker {
		b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: srv.Client(t), HistorySize: size})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	kept := publishEach(t, open(1000), brokertest.Pub("kept", "news"), brokertest.Pub("kept too", "news"))
	none := open(-1)
	publishEach(t, none, brokertest.Pub("not kept", "news"))
	for _, b := range []*redisbroker.Broker{none, open(1000)} {
		r, err := b.Replay(context.Background(), broker.Selection{Topics: []string{"news"}}, kept[0].String())
		if err != nil {
			t.Fatal(err)
		}
		if r.Reset == nil {
			t.Errorf("resume after %v with an event published without history = %d events and no reset, want a reset", kept[0], len(r.Messages))
		}
	}
}
