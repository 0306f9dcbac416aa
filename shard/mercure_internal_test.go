package shard

import (
	"runtime"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/mercure"
)

// doorHead is a MercureHead as a door has one: of no size, comparable.
type doorHead struct{}

func (doorHead) ResumedHead(head []byte, _ string) []byte { return head }

// joinTest joins a stream on s, whose loop is not running, as the loop
// would.
func joinTest(s *Shard, st Stream) *client {
	c := newClient(discardConn{}, st, 4)
	c.direct = false
	c.writer.acquire(writeFlusher) // the test drains queues itself
	s.join(c)
	<-c.queue // the joined marker
	return c
}

// TestMercureProfilesAreInterned: streams of the same selectors, grants
// and head share one profile, which shares its selection and grant set
// with the profiles of other heads or grants; the last stream to leave
// frees them.
func TestMercureProfilesAreInterned(t *testing.T) {
	s, err := New(Config{QueueSize: 4}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeRing)
	// Parsed per request, as the door does: equal by key only.
	books := func() *mercure.Selectors {
		return mustSelectors(t, mercure.Selector{Kind: mercure.Template, Value: "https://example.com/books/{id}"},
			mercure.Selector{Value: "urn:a"})
	}
	grants := func() *mercure.Selectors { return mustSelectors(t, mercure.Selector{Value: "urn:secret"}) }
	stream := func(sel, grants *mercure.Selectors, head MercureHead) Stream {
		return Stream{Selection: broker.Selection{Topics: sel.Mapped()}, Mercure: &MercureStream{Selectors: sel, Grants: grants, Head: head}}
	}
	var clients []*client
	for range 3 {
		clients = append(clients, joinTest(s, stream(books(), grants(), doorHead{})))
	}
	anonymous := joinTest(s, stream(books(), nil, doorHead{}))
	noHead := joinTest(s, stream(books(), grants(), nil))
	clients = append(clients, anonymous, noHead)

	for _, c := range clients {
		if c.joining != nil || c.mercure == nil {
			t.Fatalf("a joined stream holds its request (%v) or no profile (%v)", c.joining != nil, c.mercure == nil)
		}
	}
	p := clients[0].mercure
	if clients[1].mercure != p || clients[2].mercure != p || p.refs != 3 {
		t.Errorf("three streams of one selection, grants and head: profiles %p %p %p, refs %d; want one, 3",
			p, clients[1].mercure, clients[2].mercure, p.refs)
	}
	if anonymous.mercure == p || noHead.mercure == p || anonymous.mercure.grants != nil || noHead.mercure.head != nil {
		t.Errorf("streams of other grants or heads share a profile: %+v %+v", anonymous.mercure, noHead.mercure)
	}
	if len(s.profiles) != 3 || len(s.selections) != 1 || len(s.grants) != 1 {
		t.Errorf("%d profiles, %d selections, %d grant sets; want 3, 1, 1", len(s.profiles), len(s.selections), len(s.grants))
	}
	if x := p.selection; anonymous.mercure.selection != x || noHead.mercure.selection != x || x.refs != 3 {
		t.Errorf("the profiles do not share their selection, or it counts %d, want 3", x.refs)
	}
	if g := p.grants; noHead.mercure.grants != g || g.refs != 2 {
		t.Errorf("the profiles of equal grants do not share a grant set, or it counts %d, want 2", g.refs)
	}
	if &clients[0].sel.Topics[0] != &p.selection.sel.Mapped()[0] {
		t.Errorf("a stream's exact topics are its request's, want the interned selection's")
	}
	for _, c := range clients {
		s.remove(c, ReasonShutdown)
	}
	if len(s.profiles)+len(s.selections)+len(s.grants)+len(s.mexact) != 0 {
		t.Errorf("after the last stream: %d profiles, %d selections, %d grant sets, %d topics; want none",
			len(s.profiles), len(s.selections), len(s.grants), len(s.mexact))
	}
}

// TestMercureStreamCostsNoMoreThanNative: the shard allocates no more to
// join a Mercure stream than a native one of the same topic, and keeps
// nothing of its request (TestMercureProfilesAreInterned), so that a
// Mercure stream's memory is a native one's (BENCHMARKS.md, "A Mercure
// stream next to a native one"). Each stream has a request of its own, as
// the doors parse one per stream.
func TestMercureStreamCostsNoMoreThanNative(t *testing.T) {
	const n = 4000
	perStream := func(mercureStreams bool) int64 {
		s, err := New(Config{QueueSize: 4}, nopBroker{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.closeRing()
		requests := make([]Stream, n+1)
		for i := range requests {
			requests[i] = Stream{Selection: broker.Selection{Topics: []string{"news"}}}
			if mercureStreams {
				sel := mustSelectors(t, mercure.Selector{Value: "https://example.com/news"})
				requests[i] = Stream{Selection: broker.Selection{Topics: sel.Mapped()}, Mercure: &MercureStream{Selectors: sel, Head: doorHead{}}}
			}
		}
		clients := make([]*client, 0, n+1)
		clients = append(clients, joinTest(s, requests[n])) // the subscription's and the profile's
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, st := range requests[:n] {
			clients = append(clients, joinTest(s, st))
		}
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(clients)
		return int64(after.TotalAlloc-before.TotalAlloc) / n
	}
	native, merc := perStream(false), perStream(true)
	t.Logf("allocated per stream joined: native %d B, Mercure %d B", native, merc)
	// A few bytes per stream are the test's other goroutines': the old
	// mercureClient and Head closure were 80.
	if merc > native+4 {
		t.Errorf("joining a Mercure stream allocates %d B, a native one %d B: want no more", merc, native)
	}
}
