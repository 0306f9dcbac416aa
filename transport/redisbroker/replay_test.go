package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// pageBytes is the page budget of these tests: a few events of 500 bytes
// per topic, so a replay of a hundred events takes many pages.
const pageBytes = 4096

// newPagingBroker returns a Redis broker on a private redis-server with a
// small page budget.
func newPagingBroker(t *testing.T, historySize int) *redisbroker.Broker {
	t.Helper()
	srv := redistest.Start(t)
	b, err := redisbroker.New(context.Background(), redisbroker.Config{
		Client: srv.Client(t), HistorySize: historySize, ReplayPageBytes: pageBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// publishEach publishes pubs one call each and returns their ids.
func publishEach(t *testing.T, b broker.Broker, pubs ...broker.Publication) []eventid.ID {
	t.Helper()
	ids, err := b.Publish(context.Background(), pubs, broker.Idempotency{})
	if err != nil || len(ids) != len(pubs) {
		t.Fatalf("Publish(%d events) = %d ids, %v", len(pubs), len(ids), err)
	}
	return ids
}

// pages returns every page of r, the first included, reading each next
// page only after the one before was taken, as a shard does.
func pages(t *testing.T, r broker.Replay) [][]*broker.Message {
	t.Helper()
	out := [][]*broker.Message{r.Messages}
	for next := r.Next; next != nil; {
		p, err := next(context.Background())
		if err != nil {
			t.Fatalf("Replay.Next after %d pages: %v", len(out), err)
		}
		if len(p) == 0 {
			break
		}
		out = append(out, p)
	}
	return out
}

func pageSize(p []*broker.Message) (n int) {
	for _, m := range p {
		n += len(m.Frame)
	}
	return n
}

// data500 is an event's data: 500 bytes that name it.
func data500(i int) string {
	s := fmt.Sprintf("event %d ", i)
	return s + strings.Repeat("x", 500-len(s))
}

func TestRedisReplayPagesAcrossTopicsInIDOrder(t *testing.T) {
	b := newPagingBroker(t, 0)
	start := publishEach(t, b, brokertest.Pub("start", "news"))[0]
	var pubs []broker.Publication
	for i := range 120 {
		switch i % 4 {
		case 0:
			pubs = append(pubs, brokertest.Pub(data500(i), "news"))
		case 1:
			pubs = append(pubs, brokertest.Pub(data500(i), "user/1"))
		case 2: // in two followed streams, replayed once
			pubs = append(pubs, brokertest.Pub(data500(i), "news", "user/2"))
		case 3:
			pubs = append(pubs, brokertest.Pub(data500(i), "other"))
		}
	}
	// One event much larger than a topic's share of a page: it comes
	// alone, and the page may exceed the budget by it.
	pubs = append(pubs, brokertest.Pub(strings.Repeat("L", 3*pageBytes), "user/3"))
	ids := publishEach(t, b, pubs...)
	var largest int
	for _, p := range pubs {
		largest = max(largest, len(p.Data)+64)
	}

	for _, sel := range []broker.Selection{
		{Topics: []string{"news", "user/1", "user/2", "user/3"}},
		{Topics: []string{"news"}, Patterns: []string{"user/*"}},
		{Patterns: []string{"*"}},
	} {
		var want []eventid.ID
		for i, p := range pubs {
			if slices.ContainsFunc(p.Topics, func(t string) bool {
				return slices.Contains(sel.Topics, t) || topic.MatchedByAny(sel.Patterns, t)
			}) {
				want = append(want, ids[i])
			}
		}
		head := ids[len(ids)-1]
		r, err := b.Replay(context.Background(), sel, start.String())
		if err != nil || r.Reset != nil {
			t.Fatalf("Replay(%v) = reset %v, %v; want messages", sel, r.Reset != nil, err)
		}
		// Published after the replay was taken: live, not replayed (but
		// by the next selection's).
		late := []broker.Publication{brokertest.Pub("late", "news"), brokertest.Pub("late", "user/1")}
		pubs = append(pubs, late...)
		ids = append(ids, publishEach(t, b, late...)...)
		ps := pages(t, r)
		var got []eventid.ID
		for _, p := range ps {
			if n := pageSize(p); n > pageBytes+largest {
				t.Errorf("Replay(%v): page of %d events has %d bytes, want at most %d (budget and one event)", sel, len(p), n, pageBytes+largest)
			}
			got = append(got, brokertest.ReplayIDs(broker.Replay{Messages: p})...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Replay(%v) = %d events in %d pages, want %d in id order, each once:\ngot  %v\nwant %v", sel, len(got), len(ps), len(want), got, want)
		}
		if len(ps) < 10 {
			t.Errorf("Replay(%v) came in %d pages, want many (budget %d bytes)", sel, len(ps), pageBytes)
		}
		if r.Head != head {
			t.Errorf("Replay(%v) head = %v, want %v", sel, r.Head, head)
		}
	}
}

// A resume that retention cannot serve is told so before any event, even
// when other topics have pages of events to give.
func TestRedisReplayResetPrecedesEveryPage(t *testing.T) {
	b := newPagingBroker(t, 20)
	start := publishEach(t, b, brokertest.Pub("start", "news"))[0]
	for range 60 {
		publishEach(t, b, brokertest.Pub(data500(0), "busy"))
	}
	for i := range 20 {
		publishEach(t, b, brokertest.Pub(data500(i), "news"))
	}
	r, err := b.Replay(context.Background(), broker.Selection{Topics: []string{"news", "busy"}}, start.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ResetReason(t, r); got != transport.ResetExpired || len(r.Messages) != 0 || r.Next != nil {
		t.Errorf("Replay over a trimmed topic = reset %q, %d messages, Next %v; want reset %q alone",
			got, len(r.Messages), r.Next != nil, transport.ResetExpired)
	}
}

// History trimmed past a replay's position while it reads fails the
// replay's next page instead of skipping what was trimmed; a resume from
// the last event it gave is then told to reset.
func TestRedisReplayHistoryTrimmedMidway(t *testing.T) {
	b := newPagingBroker(t, 40)
	start := publishEach(t, b, brokertest.Pub("start", "news"))[0]
	for i := range 39 {
		publishEach(t, b, brokertest.Pub(data500(i), "news"))
	}
	sel := broker.Selection{Topics: []string{"news"}}
	r, err := b.Replay(context.Background(), sel, start.String())
	if err != nil || r.Reset != nil || r.Next == nil || len(r.Messages) == 0 {
		t.Fatalf("Replay = %d messages, reset %v, Next %v, %v; want a first page of several", len(r.Messages), r.Reset != nil, r.Next != nil, err)
	}
	last := r.Messages[len(r.Messages)-1].ID
	for i := range 60 { // the stream is trimmed to its newest 40
		publishEach(t, b, brokertest.Pub(data500(i), "news"))
	}
	p, err := r.Next(context.Background())
	if !errors.Is(err, redisbroker.ErrHistoryTrimmed) {
		t.Fatalf("Replay.Next after a trim = %d messages, %v; want %v", len(p), err, redisbroker.ErrHistoryTrimmed)
	}
	r, err = b.Replay(context.Background(), sel, last.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := brokertest.ResetReason(t, r); got != transport.ResetExpired {
		t.Errorf("Replay from the last id the trimmed replay gave = reset %q, want %q", got, transport.ResetExpired)
	}
}

// Identical resumes arriving together share one read only when it fits in
// a page: a longer one's cursor follows one writer, so each pages on its
// own, and each gets everything.
func TestRedisReplayLongerThanAPageIsNotShared(t *testing.T) {
	b := newPagingBroker(t, 0)
	start := publishEach(t, b, brokertest.Pub("start", "news"))[0]
	var pubs []broker.Publication
	for i := range 40 {
		pubs = append(pubs, brokertest.Pub(data500(i), "news"))
	}
	want := publishEach(t, b, pubs...)
	sel := broker.Selection{Topics: []string{"news"}}
	const n = 4
	got := make([][]eventid.ID, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := b.Replay(context.Background(), sel, start.String())
			if err != nil {
				t.Errorf("Replay: %v", err)
				return
			}
			msgs := r.Messages
			for next := r.Next; next != nil; {
				p, err := next(context.Background())
				if err != nil {
					t.Errorf("Replay.Next: %v", err)
					return
				}
				if len(p) == 0 {
					break
				}
				msgs = append(msgs, p...)
			}
			got[i] = brokertest.ReplayIDs(broker.Replay{Messages: msgs})
		})
	}
	wg.Wait()
	for i := range n {
		if !slices.Equal(got[i], want) {
			t.Errorf("concurrent replay %d = %d events, want all %d in order", i, len(got[i]), len(want))
		}
	}
}
