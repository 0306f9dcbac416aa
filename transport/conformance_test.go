package transport_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// brokerKinds builds each broker the hub can run on, with the given
// history size. The conformance tests run against every one of them.
var brokerKinds = []struct {
	name string
	new  func(t *testing.T, historySize int) broker.Broker
}{
	{"memory", func(t *testing.T, historySize int) broker.Broker {
		b := membroker.New(membroker.Config{HistorySize: historySize})
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{"redis", func(t *testing.T, historySize int) broker.Broker {
		srv := redistest.Start(t)
		b, err := redisbroker.New(context.Background(), redisbroker.Config{
			Client: srv.Client(t), HistorySize: historySize})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
	// Every subscriber on one pub/sub connection: the subscriptions of
	// several shards share it.
	{"redis-shared-pubsub", func(t *testing.T, historySize int) broker.Broker {
		srv := redistest.Start(t)
		b, err := redisbroker.New(context.Background(), redisbroker.Config{
			Client: srv.Client(t), HistorySize: historySize, PubSubConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
}

func forEachBroker(t *testing.T, historySize int, test func(t *testing.T, b broker.Broker)) {
	for _, kind := range brokerKinds {
		t.Run(kind.name, func(t *testing.T) { test(t, kind.new(t, historySize)) })
	}
}

func publishTo(t *testing.T, b broker.Broker, pubs ...broker.Publication) []eventid.ID {
	t.Helper()
	ids, err := b.Publish(context.Background(), pubs, broker.Idempotency{})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(ids) != len(pubs) {
		t.Fatalf("Publish returned %d ids for %d events", len(ids), len(pubs))
	}
	return ids
}

func replay(t *testing.T, b broker.Broker, sel broker.Selection, after string) broker.Replay {
	t.Helper()
	r, err := b.Replay(context.Background(), sel, after)
	if err != nil {
		t.Fatalf("Replay(%v, %q): %v", sel, after, err)
	}
	return r
}

func TestConformanceIDsAreTotallyOrdered(t *testing.T) {
	forEachBroker(t, 0, func(t *testing.T, b broker.Broker) {
		var ids []eventid.ID
		for range 5 {
			ids = append(ids, publishTo(t, b, brokertest.Pub("1", "a"), brokertest.Pub("2", "b"), brokertest.Pub("3", "a", "c"))...)
		}
		if !slices.IsSortedFunc(ids, eventid.ID.Compare) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("ids not strictly ascending across topics and batches: %v", ids)
		}
	})
}

func TestConformanceReplay(t *testing.T) {
	forEachBroker(t, 0, func(t *testing.T, b broker.Broker) {
		start := publishTo(t, b, brokertest.Pub("x", "x"))[0]
		ids := publishTo(t, b,
			brokertest.Pub("1", "news"),
			brokertest.Pub("2", "user/1"),
			brokertest.Pub("3", "news", "user/2"), // matches twice, replayed once
			brokertest.Pub("4", "other"),
			brokertest.Pub("5", "user/3"))
		for _, tc := range []struct {
			name string
			sel  broker.Selection
			want []eventid.ID
		}{
			{"exact", broker.Selection{Topics: []string{"news"}}, []eventid.ID{ids[0], ids[2]}},
			{"pattern", broker.Selection{Patterns: []string{"user/*"}}, []eventid.ID{ids[1], ids[2], ids[4]}},
			{"both", broker.Selection{Topics: []string{"news"}, Patterns: []string{"user/*"}}, []eventid.ID{ids[0], ids[1], ids[2], ids[4]}},
			{"everything", broker.Selection{Patterns: []string{"*"}}, ids},
			{"nothing published", broker.Selection{Topics: []string{"quiet"}}, nil},
		} {
			r := replay(t, b, tc.sel, start.String())
			var got []eventid.ID
			for _, m := range r.Messages {
				got = append(got, m.ID)
			}
			if r.Reset != nil || !slices.Equal(got, tc.want) {
				t.Errorf("%s: replay = %v (reset %v), want %v", tc.name, got, r.Reset != nil, tc.want)
			}
			if r.Head != ids[4] {
				t.Errorf("%s: head = %v, want %v", tc.name, r.Head, ids[4])
			}
		}
		if r := replay(t, b, broker.Selection{Topics: []string{"news"}}, ids[4].String()); len(r.Messages) != 0 || r.Reset != nil {
			t.Errorf("replay from the newest id = %d messages, reset %v; want nothing", len(r.Messages), r.Reset != nil)
		}
	})
}

func TestConformanceResets(t *testing.T) {
	forEachBroker(t, 2, func(t *testing.T, b broker.Broker) {
		// Redis trims streams approximately, in nodes of 100 entries: enough
		// events that both brokers have dropped the first ones.
		var ids []eventid.ID
		for range 300 {
			ids = append(ids, publishTo(t, b, brokertest.Pub("e", "news"))...)
		}
		sel := broker.Selection{Topics: []string{"news"}}
		for _, tc := range []struct{ after, reason string }{
			{ids[0].String(), transport.ResetExpired},
			{"1-0", transport.ResetHistoryLost},
			{"garbage", transport.ResetUnknownID},
			{"18446744073709551615-0", transport.ResetUnknownID},
		} {
			r := replay(t, b, sel, tc.after)
			if got := brokertest.ResetReason(t, r); got != tc.reason {
				t.Errorf("Replay(%q): reset %q, want %q", tc.after, got, tc.reason)
			}
			if r.Reset != nil && r.Reset.ID != ids[299] {
				t.Errorf("Replay(%q): reset id %v, want the head %v", tc.after, r.Reset.ID, ids[299])
			}
		}
		r := replay(t, b, sel, ids[298].String())
		if r.Reset != nil || len(r.Messages) != 1 || r.Messages[0].ID != ids[299] {
			t.Errorf("Replay from the second newest: %d messages, reset %v; want the newest only", len(r.Messages), r.Reset != nil)
		}
	})
}

func TestConformanceDelivery(t *testing.T) {
	forEachBroker(t, 0, func(t *testing.T, b broker.Broker) {
		var both, pattern, gone brokertest.Recorder
		s1, _ := b.NewSubscriber(&both)
		s2, _ := b.NewSubscriber(&pattern)
		s3, _ := b.NewSubscriber(&gone)
		t.Cleanup(func() { s1.Close(); s2.Close(); s3.Close() })
		both.Subscribe(t, s1, "news", "n*")
		pattern.Subscribe(t, s2, "*s")
		gone.Subscribe(t, s3, "news")
		s3.Unsubscribe("news")
		var want []eventid.ID
		for range 20 {
			want = append(want, publishTo(t, b, brokertest.Pub("x", "news"), brokertest.Pub("y", "sports", "news"))...)
		}
		publishTo(t, b, brokertest.Pub("z", "other"))
		for name, r := range map[string]*brokertest.Recorder{"topic and pattern": &both, "pattern": &pattern} {
			testenv.WaitFor(t, name+" subscriber to get every event", func() bool { return len(r.IDs()) >= len(want) })
			if got := r.IDs(); !slices.Equal(got, want) {
				t.Errorf("%s subscriber got %v, want %v", name, got, want)
			}
		}
		if n := len(gone.IDs()); n != 0 {
			t.Errorf("unsubscribed subscriber got %d messages", n)
		}
	})
}

func TestConformanceIdempotentPublish(t *testing.T) {
	forEachBroker(t, 0, func(t *testing.T, b broker.Broker) {
		rec, _ := brokertest.Listen(t, b, "news")
		idem := broker.Idempotency{Key: "k1", Digest: "d1"}
		batch := []broker.Publication{brokertest.Pub("1", "news"), brokertest.Pub("2", "news")}
		// As a batch applied in part: only its first event got through.
		first, err := b.Publish(context.Background(), batch[:1], idem)
		if err != nil {
			t.Fatalf("Publish(first event): %v", err)
		}
		want, err := b.Publish(context.Background(), batch, idem)
		if err != nil {
			t.Fatalf("Publish(batch): %v", err)
		}
		if want[0] != first[0] {
			t.Errorf("repeat of a published event got id %v, want the first %v", want[0], first[0])
		}
		again, err := b.Publish(context.Background(), batch, idem)
		if err != nil || !slices.Equal(again, want) {
			t.Errorf("Publish(batch again) = %v, %v; want %v", again, err, want)
		}
		if _, err := b.Publish(context.Background(), batch, broker.Idempotency{Key: "k1", Digest: "other"}); !errors.Is(err, broker.ErrIdempotencyMismatch) {
			t.Errorf("Publish(same key, other digest) = %v, want ErrIdempotencyMismatch", err)
		}
		other := publishTo(t, b, brokertest.Pub("3", "news")) // no key: published
		wantAll := append(slices.Clone(want), other...)
		testenv.WaitFor(t, "the subscriber to get every event", func() bool { return len(rec.IDs()) >= len(wantAll) })
		if got := rec.IDs(); !slices.Equal(got, wantAll) {
			t.Errorf("subscriber got %v, want each event once: %v", got, wantAll)
		}
	})
}

// TestConformanceMercureUpdates: an update of the Mercure front door keeps
// its metadata live, in history and across hubs' envelopes, its frame
// carries the publisher's id (or "#<id>") and its retry, and its
// publisher id resolves to its event's id until history forgets it
// (docs/mercure-design.md, "Private updates" and "Ids, resume").
func TestConformanceMercureUpdates(t *testing.T) {
	forEachBroker(t, 10, func(t *testing.T, b broker.Broker) {
		ctx := context.Background()
		lookup := b.(broker.PublisherIDs)
		heard, _ := brokertest.Listen(t, b, "@m/a", "@m/b")
		withID := &broker.Mercure{Topics: []string{"https://example.com/a", "a b"}, ID: "urn:uuid:1", Private: true, Retry: 1500}
		pubs := []broker.Publication{
			{Topics: []string{"@m/a", "@m/b"}, Event: "ping", Data: []byte("one\ntwo"), Mercure: withID},
			{Topics: []string{"@m/a"}, Data: []byte("three"), Mercure: &broker.Mercure{Topics: []string{"https://example.com/a"}}},
			brokertest.Pub("native", "@m/a"),
		}
		start := publishTo(t, b, brokertest.Pub("before", "elsewhere"))[0]
		ids := publishTo(t, b, pubs...)
		withID.Topics[0] = "changed after publishing"

		wantFrames := []string{
			"id: urn:uuid:1\nevent: ping\ndata: one\ndata: two\nretry: 1500\n\n",
			"id: #" + ids[1].String() + "\ndata: three\n\n",
			"id: " + ids[2].String() + "\ndata: native\n\n",
		}
		check := func(how string, msgs []*broker.Message) {
			t.Helper()
			if len(msgs) != len(pubs) {
				t.Fatalf("%s: %d messages, want %d", how, len(msgs), len(pubs))
			}
			for i, m := range msgs {
				if string(m.Frame) != wantFrames[i] {
					t.Errorf("%s: frame %d = %q, want %q", how, i, m.Frame, wantFrames[i])
				}
			}
			if m := msgs[0].Mercure; m == nil || !m.Private || m.ID != "urn:uuid:1" || m.Retry != 1500 ||
				!slices.Equal(m.Topics, []string{"https://example.com/a", "a b"}) {
				t.Errorf("%s: the first update's metadata is %+v", how, m)
			}
			if m := msgs[1].Mercure; m == nil || m.Private || m.ID != "" || !slices.Equal(m.Topics, []string{"https://example.com/a"}) {
				t.Errorf("%s: the second update's metadata is %+v", how, m)
			}
			if msgs[2].Mercure != nil {
				t.Errorf("%s: a native event has Mercure metadata %+v", how, msgs[2].Mercure)
			}
		}
		testenv.WaitFor(t, "the updates live", func() bool { return len(heard.Messages()) >= len(pubs) })
		check("live", heard.Messages())
		check("replayed", replay(t, b, broker.Selection{Topics: []string{"@m/a"}}, start.String()).Messages)

		if id, ok, err := lookup.LookupPublisherID(ctx, "urn:uuid:1"); err != nil || !ok || id != ids[0] {
			t.Errorf("LookupPublisherID of the first update = %v, %v, %v; want %v", id, ok, err, ids[0])
		}
		if _, ok, err := lookup.LookupPublisherID(ctx, "urn:uuid:unknown"); err != nil || ok {
			t.Errorf("LookupPublisherID of an id never used = %v, %v; want not found", ok, err)
		}
		// A reused id names its newest event.
		again := publishTo(t, b, broker.Publication{Topics: []string{"@m/b"}, Data: []byte("four"), Mercure: &broker.Mercure{Topics: []string{"b"}, ID: "urn:uuid:1"}})
		if id, ok, err := lookup.LookupPublisherID(ctx, "urn:uuid:1"); err != nil || !ok || id != again[0] {
			t.Errorf("LookupPublisherID of a reused id = %v, %v, %v; want its newest event %v", id, ok, err, again[0])
		}
	})
}

// TestConformanceReplayRetained: a retained replay (a Mercure stream's
// "earliest") hands out every event history still holds for the
// selection, by topic and by pattern, in id order and each once, and
// never a reset, although retention dropped older events.
func TestConformanceReplayRetained(t *testing.T) {
	forEachBroker(t, 3, func(t *testing.T, b broker.Broker) {
		retained := b.(broker.RetainedReplayer)
		var ids []eventid.ID
		for i := range 5 {
			ids = append(ids, publishTo(t, b, brokertest.Pub(strconv.Itoa(i), "r/a"), brokertest.Pub("b"+strconv.Itoa(i), "r/b", "r/a"))...)
		}
		publishTo(t, b, brokertest.Pub("elsewhere", "other"))
		for _, sel := range []broker.Selection{{Topics: []string{"r/a", "r/b"}}, {Patterns: []string{"r/*"}}} {
			r, err := retained.ReplayRetained(context.Background(), sel)
			if err != nil || r.Reset != nil {
				t.Fatalf("ReplayRetained(%+v) = reset %v, %v", sel, r.Reset != nil, err)
			}
			got := brokertest.ReplayIDs(r) // one page: the history is small
			// At least the last 3 of r/a and of r/b; more where a broker
			// trims lazily (Redis: up to a tenth over --history-size).
			if len(got) < 3 || !slices.IsSortedFunc(got, func(x, y eventid.ID) int { return x.Compare(y) }) ||
				len(slices.Compact(slices.Clone(got))) != len(got) || got[len(got)-1] != ids[len(ids)-1] {
				t.Errorf("ReplayRetained(%+v) = %v; want the newest events in order, each once, ending with %v", sel, got, ids[len(ids)-1])
			}
			if slices.Contains(got, ids[0]) {
				t.Errorf("ReplayRetained(%+v) = %v, holds %v, which retention dropped", sel, got, ids[0])
			}
		}
	})
}
