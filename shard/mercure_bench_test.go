package shard

import (
	"fmt"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// mercureTestShard is newTestShard for Mercure streams: n streams whose
// selectors and grants sel(i) and grants(i) return, on a shard whose loop
// is not running.
func mercureTestShard(tb testing.TB, n int, sel, grants func(i int) *mercure.Selectors) (*Shard, []*client) {
	tb.Helper()
	s, err := New(Config{QueueSize: 4}, nopBroker{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.closeRing)
	clients := make([]*client, n)
	for i := range clients {
		ss := sel(i)
		c := newClient(discardConn{}, Stream{Selection: broker.Selection{Topics: ss.Mapped()},
			Mercure: &MercureStream{Selectors: ss, Grants: grants(i)}}, 4)
		c.direct = false
		c.writer.acquire(writeFlusher) // the test drains queues itself, as a flusher would
		s.join(c)
		<-c.queue // the joined marker
		clients[i] = c
	}
	return s, clients
}

func mustSelectors(tb testing.TB, sels ...mercure.Selector) *mercure.Selectors {
	tb.Helper()
	s, err := mercure.New(sels)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mercureMessage(seq uint64, private bool, topics ...string) *broker.Message {
	return &broker.Message{ID: eventid.ID{Time: 1, Seq: seq}, Topics: []string{"@m/x"}, Frame: []byte("data: x\n\n"),
		Mercure: &broker.Mercure{Topics: topics, Private: private}}
}

func TestDispatchMercureDoesNotAllocate(t *testing.T) {
	s, clients := mercureTestShard(t, 100, func(i int) *mercure.Selectors {
		return mustSelectors(t, mercure.Selector{Kind: mercure.Template, Value: fmt.Sprintf("https://example.com/s%d/{id}", i%10)},
			mercure.Selector{Kind: mercure.URLPattern, Value: fmt.Sprintf("https://example.com/s%d/:id", i%10)},
			mercure.Selector{Kind: mercure.Exact, Value: "*"})
	}, func(int) *mercure.Selectors {
		return mustSelectors(t, mercure.Selector{Kind: mercure.Template, Value: "https://example.com/{+any}"})
	})
	msgs := make([]*broker.Message, 200)
	for i := range msgs {
		msgs[i] = mercureMessage(uint64(i+1), i%2 == 0, "https://example.com/s3/1")
	}
	allocs, i := dispatchAllocs(s, clients, msgs)
	if allocs != 0 {
		t.Errorf("Mercure dispatch: %v allocs per message, want 0", allocs)
	}
	if got, want := s.Stats().Deliveries, uint64(100*i); got != want {
		t.Errorf("deliveries = %d, want %d (each stream once)", got, want)
	}
}

// BenchmarkDispatchMatchers: one Mercure update against 10,000 distinct
// URI templates and 10,000 distinct URL patterns held by 10,000 streams
// (one of each per stream), of which one stream's match. With literal
// prefixes the sets find the candidates by prefix; without, every
// template and pattern is tried.
//
// base=hub gives the selectors the hub's URL, as a door does
// (mercure.NewWithBase: relative topics resolve against it), and
// base=none gives none, so that one run compares the two.
func BenchmarkDispatchMatchers(b *testing.B) {
	const n = 10000
	hubURL, err := urlpattern.NewBase("https://hub.example.com/.well-known/mercure")
	if err != nil {
		b.Fatal(err)
	}
	for _, prefixed := range []bool{true, false} {
		for _, base := range []*urlpattern.Base{nil, hubURL} {
			name := fmt.Sprintf("prefixes=%v/base=none", prefixed)
			if base != nil {
				name = fmt.Sprintf("prefixes=%v/base=hub", prefixed)
			}
			b.Run(name, func(b *testing.B) { benchmarkDispatchMatchers(b, n, prefixed, base) })
		}
	}
}

func benchmarkDispatchMatchers(b *testing.B, n int, prefixed bool, base *urlpattern.Base) {
	s, clients := mercureTestShard(b, n, func(i int) *mercure.Selectors {
		tmpl, pat := "https://example.com/s%d/books/{id}", "https://example.com/s%d/books/:id"
		if !prefixed {
			tmpl, pat = "{scheme}://example.com/s%d/books/{id}", "*://example.com/s%d/books/:id"
		}
		s, err := mercure.NewWithBase([]mercure.Selector{{Kind: mercure.Template, Value: fmt.Sprintf(tmpl, i)},
			{Kind: mercure.URLPattern, Value: fmt.Sprintf(pat, i)}}, base)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, func(int) *mercure.Selectors { return nil })
	if s.matchers.templates.Len() != n || s.matchers.patterns.Len() != n {
		b.Fatalf("sets hold %d templates and %d patterns, want %d each", s.matchers.templates.Len(), s.matchers.patterns.Len(), n)
	}
	msgs := make([]*broker.Message, b.N)
	for i := range msgs {
		msgs[i] = mercureMessage(uint64(i+1), false, "https://example.com/s5000/books/1")
	}
	dispatchEach(b, s, clients, msgs)
	if got := s.Stats().Deliveries; got != uint64(b.N) {
		b.Fatalf("deliveries = %d, want one per update (%d)", got, b.N)
	}
}

// BenchmarkDispatchPrivate: one update to 10,000 "*" streams, public, or
// private to streams that share one grant set, or each of their own
// (10,000 grant sets: a match per recipient).
func BenchmarkDispatchPrivate(b *testing.B) {
	const n = 10000
	all := func(int) *mercure.Selectors { return mustSelectors(b, mercure.Selector{Value: "*"}) }
	shared := mustSelectors(b, mercure.Selector{Kind: mercure.Template, Value: "https://example.com/books/{id}"})
	for _, tc := range []struct {
		name    string
		private bool
		grants  func(i int) *mercure.Selectors
	}{
		{"public", false, func(int) *mercure.Selectors { return shared }},
		{"private/shared-grants", true, func(int) *mercure.Selectors { return shared }},
		{"private/own-grants", true, func(i int) *mercure.Selectors {
			return mustSelectors(b, mercure.Selector{Kind: mercure.Template, Value: "https://example.com/books/{id}"},
				mercure.Selector{Value: fmt.Sprintf("urn:user:%d", i)})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, clients := mercureTestShard(b, n, all, tc.grants)
			msgs := make([]*broker.Message, b.N)
			for i := range msgs {
				msgs[i] = mercureMessage(uint64(i+1), tc.private, "https://example.com/books/1")
			}
			dispatchEach(b, s, clients, msgs)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
