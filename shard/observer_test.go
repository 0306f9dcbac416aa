package shard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
)

// countingObserver records what it is told, without allocating.
type countingObserver struct {
	calls, recipients int
	last              *broker.Message
	start             time.Time
}

func (o *countingObserver) Delivered(m *broker.Message, recipients int, start time.Time) {
	o.calls++
	o.recipients += recipients
	o.last, o.start = m, start
}

func TestObserverIsToldOncePerMessage(t *testing.T) {
	s, clients := newTestShard(t, 6, 8) // 3 on "news", 3 on "ne*"
	obs := &countingObserver{}
	s.cfg.Observer = obs
	before := time.Now()
	m := message(1, "news", "nest")
	s.dispatch(m)
	if obs.calls != 1 || obs.recipients != len(clients) || obs.last != m {
		t.Fatalf("after one message: %d calls for %d recipients, want 1 call for %d", obs.calls, obs.recipients, len(clients))
	}
	if obs.start.Before(before) || obs.start.After(time.Now()) {
		t.Errorf("start = %v, want the dispatch's start", obs.start)
	}
	s.dispatch(message(1, "news")) // a duplicate: not delivered, not observed
	s.dispatch(message(2, "other"))
	if obs.calls != 1 {
		t.Errorf("observer told %d times, want once: duplicates and messages with no recipient are not deliveries", obs.calls)
	}
}

func TestDispatchWithObserverDoesNotAllocate(t *testing.T) {
	for _, n := range []int{1, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, clients := newTestShard(t, n, 4)
			obs := &countingObserver{}
			s.cfg.Observer = Observers(obs, &countingObserver{})
			msgs := make([]*broker.Message, 200)
			for i := range msgs {
				msgs[i] = message(uint64(i+1), "news")
			}
			allocs, i := dispatchAllocs(s, clients, msgs)
			if allocs != 0 {
				t.Errorf("dispatch to %d clients with observers: %v allocs per message, want 0", n, allocs)
			}
			if obs.calls != i {
				t.Errorf("observer told %d times for %d messages", obs.calls, i)
			}
		})
	}
}

func TestObservers(t *testing.T) {
	if Observers() != nil || Observers(nil, nil) != nil {
		t.Errorf("Observers of nothing is not nil")
	}
	one := &countingObserver{}
	if Observers(nil, one) != Observer(one) {
		t.Errorf("Observers of one observer is not that observer")
	}
	a, b := &countingObserver{}, &countingObserver{}
	Observers(a, nil, b).Delivered(message(1, "x"), 3, time.Now())
	if a.recipients != 3 || b.recipients != 3 {
		t.Errorf("combined observers told %d and %d recipients, want 3 each", a.recipients, b.recipients)
	}
}

func TestOnOpenWhenEverySubscriptionIsActive(t *testing.T) {
	s, err := New(Config{}, pendingBroker{})
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	c := &client{conn: discardConn{}, queue: make(chan *broker.Message, 8), onOpen: func() { opened++ },
		sel: broker.Selection{Topics: []string{"a"}, Patterns: []string{"b*"}}}
	c.writer.acquire(writeFlusher)
	s.join(c)
	s.activate(subscribed{"a", false})
	if opened != 0 {
		t.Fatalf("OnOpen called with b* still pending")
	}
	s.activate(subscribed{"b*", true})
	s.activate(subscribed{"b*", true})
	if opened != 1 {
		t.Fatalf("OnOpen called %d times once subscribed, want 1", opened)
	}
}

// replayBroker answers every resume with its replay.
type replayBroker struct {
	nopBroker
	replay broker.Replay
}

func (b replayBroker) Replay(context.Context, broker.Selection, string) (broker.Replay, error) {
	return b.replay, nil
}

func TestReplayStats(t *testing.T) {
	msgs := []*broker.Message{message(5, "a"), message(6, "a")}
	for _, tt := range []struct {
		name  string
		r     broker.Replay
		wantR uint64 // replays
		wantM uint64 // replayed messages
		wantZ uint64 // resets
	}{
		{"replay", broker.Replay{Messages: msgs, Head: eventid.ID{Time: 1, Seq: 6}}, 1, 2, 0},
		{"reset", broker.Replay{Reset: message(7, "a"), Head: eventid.ID{Time: 1, Seq: 7}}, 0, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{}, replayBroker{replay: tt.r})
			if err != nil {
				t.Fatal(err)
			}
			c := &client{conn: discardConn{}, lastEventID: "1-4"}
			b := batch{timeout: time.Second}
			defer b.release()
			if _, failed := s.replay(c, &b); failed {
				t.Fatal("replay failed")
			}
			st := s.Stats()
			if st.Replays != tt.wantR || st.Replayed != tt.wantM || st.Resets != tt.wantZ {
				t.Errorf("stats replays=%d replayed=%d resets=%d, want %d %d %d",
					st.Replays, st.Replayed, st.Resets, tt.wantR, tt.wantM, tt.wantZ)
			}
		})
	}
}
