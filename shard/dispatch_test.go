package shard

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
)

// nopBroker accepts every subscription and has no history. The dispatch
// tests drive the shard's methods directly, in the test's goroutine, in the
// place of the shard loop.
type nopBroker struct{}

func (nopBroker) Publish(context.Context, []broker.Publication, broker.Idempotency) ([]eventid.ID, error) {
	return nil, nil
}
func (nopBroker) NewSubscriber(broker.Sink) (broker.Subscriber, error) { return nopSubscriber{}, nil }
func (nopBroker) Replay(context.Context, broker.Selection, string) (broker.Replay, error) {
	return broker.Replay{}, nil
}
func (nopBroker) Ping(context.Context) error { return nil }
func (nopBroker) Close() error               { return nil }

type nopSubscriber struct{}

func (nopSubscriber) Subscribe(string) (bool, error)  { return true, nil }
func (nopSubscriber) Unsubscribe(string)              {}
func (nopSubscriber) PSubscribe(string) (bool, error) { return true, nil }
func (nopSubscriber) PUnsubscribe(string)             {}
func (nopSubscriber) Close()                          {}

// discardConn accepts every write.
type discardConn struct{}

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) Close() error                     { return nil }

// newTestShard returns a shard whose loop is not running, with n clients
// joined: half on the exact topic "news", half on the pattern "ne*".
func newTestShard(t testing.TB, n, queue int) (*Shard, []*client) {
	t.Helper()
	s, err := New(Config{QueueSize: queue}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]*client, n)
	for i := range clients {
		sel := broker.Selection{Topics: []string{"news"}}
		if i%2 == 1 {
			sel = broker.Selection{Patterns: []string{"ne*"}}
		}
		c := &client{conn: discardConn{}, sel: sel, queue: make(chan *broker.Message, queue)}
		c.writer.acquire(writeFlusher) // the test drains queues itself, as a flusher would
		s.join(c)
		<-c.queue // the joined marker
		clients[i] = c
	}
	return s, clients
}

func message(seq uint64, topics ...string) *broker.Message {
	return &broker.Message{ID: eventid.ID{Time: 1, Seq: seq}, Topics: topics, Frame: []byte("data: x\n\n")}
}

// drainAll empties every client's queue, as their writers would.
func drainAll(clients []*client) {
	for _, c := range clients {
		for len(c.queue) > 0 {
			<-c.queue
		}
	}
}

func TestDispatchDoesNotAllocate(t *testing.T) {
	for _, n := range []int{1, 100, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, clients := newTestShard(t, n, 4)
			msgs := make([]*broker.Message, 200)
			for i := range msgs {
				msgs[i] = message(uint64(i+1), "news")
			}
			allocs, i := dispatchAllocs(s, clients, msgs)
			if allocs != 0 {
				t.Errorf("dispatch to %d clients: %v allocs per message, want 0", n, allocs)
			}
			if got, want := s.Stats().Deliveries, uint64(n*i); got != want {
				t.Errorf("deliveries = %d, want %d", got, want)
			}
		})
	}
}

func TestDispatchQueuesOncePerClient(t *testing.T) {
	s, err := New(Config{}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{conn: discardConn{}, queue: make(chan *broker.Message, 8),
		sel: broker.Selection{Topics: []string{"a", "b"}, Patterns: []string{"*", "a*"}}}
	c.writer.acquire(writeFlusher)
	s.join(c)
	<-c.queue
	s.dispatch(message(1, "a", "b", "ab"))
	s.dispatch(message(1, "a")) // the same id again, as Redis sends message and pmessage
	s.dispatch(message(2, "zzz"))
	if got := len(c.queue); got != 2 {
		t.Fatalf("queued %d messages, want 2 (each id once)", got)
	}
	if st := s.Stats(); st.Duplicates != 1 || st.Deliveries != 2 {
		t.Errorf("stats = %+v, want 1 duplicate and 2 deliveries", st)
	}
}

func TestFullQueueEvictsOnlyThatClient(t *testing.T) {
	s, clients := newTestShard(t, 4, 8)
	s.cfg.StallTimeout = time.Nanosecond // behind for long enough as soon as behind
	slow := clients[0]
	for seq := uint64(1); seq <= 9; seq++ {
		s.dispatch(message(seq, "news"))
		for _, c := range clients[1:] {
			<-c.queue
		}
	}
	if !slow.removed {
		t.Fatalf("slow client not removed")
	}
	if n := drainClosed(slow.queue); n != 8 {
		t.Errorf("slow client's queue held %d messages, want the 8 it had room for", n)
	}
	st := s.Stats()
	if st.Clients != 3 || st.Ended[ReasonSlow] != 1 {
		t.Errorf("stats = %+v, want 3 clients and 1 slow eviction", st)
	}
	for _, c := range clients[1:] {
		if c.removed {
			t.Errorf("a reading client was removed")
		}
	}
}

// drainClosed counts what is left in a closed queue.
func drainClosed(q chan *broker.Message) int {
	n := 0
	for range q {
		n++
	}
	return n
}

// dispatchAllocs is the allocations per dispatch of one of msgs (which
// must hold 101), the clients' queues emptied after each; dispatched is
// how many of msgs were dispatched.
func dispatchAllocs(s *Shard, clients []*client, msgs []*broker.Message) (allocs float64, dispatched int) {
	allocs = testing.AllocsPerRun(100, func() {
		s.dispatch(msgs[dispatched])
		dispatched++
		drainAll(clients)
	})
	return allocs, dispatched
}

// dispatchEach dispatches one of msgs per iteration of b, timed, and
// empties the clients' queues between them, untimed.
func dispatchEach(b *testing.B, s *Shard, clients []*client, msgs []*broker.Message) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.dispatch(msgs[i])
		b.StopTimer()
		drainAll(clients)
		b.StartTimer()
	}
}

func BenchmarkDispatch(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			s, clients := newTestShard(b, n, 4)
			msgs := make([]*broker.Message, b.N)
			for i := range msgs {
				msgs[i] = message(uint64(i+1), "news")
			}
			dispatchEach(b, s, clients, msgs)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// pendingBroker's subscriptions wait for confirmation, as Redis's do.
type pendingBroker struct{ nopBroker }

func (pendingBroker) NewSubscriber(broker.Sink) (broker.Subscriber, error) {
	return pendingSubscriber{}, nil
}

type pendingSubscriber struct{ nopSubscriber }

func (pendingSubscriber) Subscribe(string) (bool, error)  { return false, nil }
func (pendingSubscriber) PSubscribe(string) (bool, error) { return false, nil }

func TestStreamOpensOnlyOnceEverySubscriptionIsActive(t *testing.T) {
	s, err := New(Config{}, pendingBroker{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{conn: discardConn{}, queue: make(chan *broker.Message, 8),
		sel: broker.Selection{Topics: []string{"a"}, Patterns: []string{"b*"}}}
	c.writer.acquire(writeFlusher)
	s.join(c)
	s.dispatch(message(1, "a"))
	if n := len(c.queue); n != 0 {
		t.Fatalf("queued %d entries before any subscription was active, want 0", n)
	}
	s.activate(subscribed{"a", false})
	if n := len(c.queue); n != 0 {
		t.Fatalf("queued %d entries with b* still pending, want 0", n)
	}
	s.activate(subscribed{"b*", true})
	s.dispatch(message(2, "a"))
	if m := <-c.queue; m != joinedMarker {
		t.Fatalf("first entry is not the joined marker")
	}
	if m := <-c.queue; m.ID.Seq != 2 {
		t.Fatalf("second entry = %v, want message 2", m.ID)
	}

	late := &client{conn: discardConn{}, queue: make(chan *broker.Message, 8),
		sel: broker.Selection{Topics: []string{"never"}}}
	s.join(late)
	s.expireWaiting(time.Now().Add(s.cfg.SubscribeTimeout + time.Second))
	if !late.removed || s.Stats().Ended[ReasonSubscribeFailed] != 1 {
		t.Errorf("a stream whose subscription was never confirmed is still open")
	}
}

// countingConn records the writes it takes.
type countingConn struct {
	mu     sync.Mutex
	writes int
	bytes  int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	c.bytes += len(p)
	return len(p), nil
}
func (*countingConn) SetWriteDeadline(time.Time) error { return nil }
func (*countingConn) Close() error                     { return nil }

// TestBacklogCoalescesWrites checks that while messages wait in the inbox,
// flushers are woken only once the backlog is dispatched, so each client
// gets the backlog in one write rather than one write per message.
func TestBacklogCoalescesWrites(t *testing.T) {
	s, err := New(Config{QueueSize: 64}, nopBroker{})
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*countingConn, 10)
	for i := range conns {
		conns[i] = &countingConn{}
		c := newClient(conns[i], Stream{Selection: broker.Selection{Topics: []string{"news"}}}, 64)
		s.join(c)
	}
	waitFlushers(t, s) // the heads (empty here) are written
	for _, conn := range conns {
		conn.writes, conn.bytes = 0, 0
	}
	const backlog = 10
	for i := range backlog {
		s.inbox <- message(uint64(i+1), "news")
	}
	for len(s.inbox) > 1 {
		s.dispatch(<-s.inbox)
	}
	if got := len(s.deferred); got != len(conns) {
		t.Fatalf("%d clients deferred, want %d", got, len(conns))
	}
	for i, conn := range conns {
		conn.mu.Lock()
		if conn.writes != 0 {
			t.Errorf("client %d written %d times while the backlog lasted", i, conn.writes)
		}
		conn.mu.Unlock()
	}
	s.dispatch(<-s.inbox) // the inbox is empty now: wakes at once
	s.wakeDeferred()      // as the loop does after it
	waitFlushers(t, s)
	frame := len(message(1, "news").Frame)
	for i, conn := range conns {
		if conn.writes != 1 || conn.bytes != backlog*frame {
			t.Errorf("client %d: %d writes of %d bytes in all, want 1 write of %d", i, conn.writes, conn.bytes, backlog*frame)
		}
	}
}
