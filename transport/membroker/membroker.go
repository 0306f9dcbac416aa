// Package membroker is the embedded broker: ids, history and fan-out in
// process memory, for a hub that runs alone with no dependency. History is
// lost on restart, and clients that resume from before the restart get an
// ssehub.reset event (docs/protocol.md#resets).
package membroker

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/transport"
)

// Config tunes the embedded broker. Zero fields take the
// documented defaults.
type Config struct {
	// HistorySize is how many events each topic keeps for resume. Zero
	// means 1000; negative keeps none.
	HistorySize int
	// HistoryTTL is how long an event is kept for resume. Zero means 1h.
	HistoryTTL time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// Tracer traces publishes (a producer span each), and makes their
	// messages carry the trace to the shards. Nil traces nothing.
	Tracer *telemetry.Tracer
	// MaxIdempotencyRecords bounds how many published events are
	// remembered under an idempotency key; beyond it the oldest are
	// forgotten before their TTL. Zero means 100,000.
	MaxIdempotencyRecords int
}

// Broker is the embedded broker. Create it with New.
type Broker struct {
	historySize int
	ttl         time.Duration
	now         func() time.Time
	tracer      *telemetry.Tracer

	// mu serialises publishing (id order, history) and replay reads,
	// which is what makes replay and live delivery gap-free: an event is
	// in history before its fan-out begins, so a replay sees every event
	// whose fan-out could have missed a subscriber that was already active.
	mu        sync.Mutex
	gen       eventid.Generator
	origin    eventid.ID // ids older than this are from a lost history
	history   map[string]*topicHistory
	lastSweep time.Time
	closed    bool
	records   idemRecords

	// fanMu serialises publishes, fan-outs included, so fan-outs run in
	// id order. A publisher takes it before mu and delivers holding it
	// alone: a shard that paused its intake makes the publisher wait in
	// its fan-out, and so every later publisher at fanMu, but never while
	// holding mu, so replays (which resuming streams of that very shard
	// may need before it can resume), Ping and Close go on.
	fanMu   sync.Mutex
	targets []*memSubscriber // scratch for one fan-out

	// subMu guards the subscription index. Fan-out holds it only to collect
	// its targets, never while delivering, so a shard that subscribes while
	// a publisher waits on that shard's mailbox cannot deadlock.
	subMu    sync.RWMutex
	exact    map[string]map[*memSubscriber]struct{}
	patterns map[string]map[*memSubscriber]struct{}
}

// New returns an embedded broker.
func New(cfg Config) *Broker {
	cfg.HistorySize, cfg.HistoryTTL = transport.Retention(cfg.HistorySize, cfg.HistoryTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Broker{
		historySize: cfg.HistorySize,
		ttl:         cfg.HistoryTTL,
		now:         cfg.Now,
		tracer:      cfg.Tracer,
		records:     newIdemRecords(cmp.Or(cfg.MaxIdempotencyRecords, 100_000)),
		history:     make(map[string]*topicHistory),
		exact:       make(map[string]map[*memSubscriber]struct{}),
		patterns:    make(map[string]map[*memSubscriber]struct{}),
	}
	// Every id this history will hold is newer than origin; an id before
	// it comes from an earlier process whose history is gone.
	b.origin = eventid.ID{Time: uint64(b.now().UnixMilli())}
	b.gen.Observe(b.origin)
	return b
}

// topicHistory is one topic's retained events, oldest first.
type topicHistory struct {
	msgs []*broker.Message
	// since is the first id recorded. The topic may have had events before
	// it whose record was swept after they aged out.
	since eventid.ID
	// trimmed is the newest id dropped by retention: a resume from before it
	// has lost events.
	trimmed eventid.ID
}

// Publish implements broker.Broker. Without an idempotency key nothing is
// remembered: nothing here sends a publish twice by itself.
func (b *Broker) Publish(ctx context.Context, pubs []broker.Publication, idem broker.Idempotency) (ids []eventid.ID, err error) {
	ctx, span, trace := b.tracer.StartPublish(ctx, "memory", len(pubs))
	defer func() { telemetry.End(span, err) }()
	b.fanMu.Lock()
	defer b.fanMu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, broker.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	now := b.now()
	b.sweep(now)
	b.records.expire(now)
	if idem.Key != "" && !b.records.matches(idem, now) {
		b.mu.Unlock()
		return nil, broker.ErrIdempotencyMismatch
	}
	msgs := make([]*broker.Message, 0, len(pubs))
	ids = make([]eventid.ID, len(pubs))
	for i, p := range pubs {
		if id, ok := b.records.lookup(idem, i, now); ok {
			ids[i] = id
			continue
		}
		m := transport.NewMessage(b.gen.Next(now), p.Event, slices.Clone(p.Topics), p.Data)
		m.Trace = trace
		ids[i] = m.ID
		b.retain(m, now)
		b.records.add(idem, i, m.ID, now)
		msgs = append(msgs, m)
	}
	b.mu.Unlock()
	// Accepted: every event is in history and will be delivered, however
	// long a congested shard makes the fan-out wait.
	for _, m := range msgs {
		b.fanOut(m)
	}
	return ids, nil
}

// retain appends m to the history of each of its topics.
func (b *Broker) retain(m *broker.Message, now time.Time) {
	for _, t := range m.Topics {
		h := b.history[t]
		if h == nil {
			h = &topicHistory{since: m.ID}
			b.history[t] = h
		}
		h.msgs = append(h.msgs, m)
		b.trim(h, now)
	}
}

// trim applies retention to h.
func (b *Broker) trim(h *topicHistory, now time.Time) {
	cut := max(len(h.msgs)-b.historySize, 0)
	horizon := uint64(now.Add(-b.ttl).UnixMilli())
	for cut < len(h.msgs) && h.msgs[cut].ID.Time < horizon {
		cut++
	}
	if cut == 0 {
		return
	}
	h.trimmed = h.msgs[cut-1].ID
	clear(h.msgs[:cut])
	h.msgs = h.msgs[cut:]
	if cap(h.msgs) > 2*b.historySize+16 {
		h.msgs = slices.Clone(h.msgs) // let go of the array append kept growing
	}
}

// sweep drops topics whose every event has aged out, at most a few times per
// TTL. Replay does not need their trim marks: a resume point recent enough
// to be within the TTL is newer than everything such a topic ever held, and
// an older one is answered with a reset anyway.
func (b *Broker) sweep(now time.Time) {
	if now.Sub(b.lastSweep) < b.ttl/8 {
		return
	}
	b.lastSweep = now
	horizon := uint64(now.Add(-b.ttl).UnixMilli())
	for t, h := range b.history {
		b.trim(h, now)
		if len(h.msgs) == 0 && h.trimmed.Time < horizon {
			delete(b.history, t)
		}
	}
}

// fanOut delivers m once to every subscriber with a matching topic or
// pattern, in the order publishes hold b.fanMu, so every shard sees ids in
// order.
func (b *Broker) fanOut(m *broker.Message) {
	targets := b.targets[:0]
	b.subMu.RLock()
	for _, t := range m.Topics {
		for s := range b.exact[t] {
			targets = appendOnce(targets, s, m.ID)
		}
	}
	for p, subs := range b.patterns {
		for _, t := range m.Topics {
			if topic.Match(p, t) {
				for s := range subs {
					targets = appendOnce(targets, s, m.ID)
				}
				break
			}
		}
	}
	b.subMu.RUnlock()
	for _, s := range targets {
		s.sink.Deliver(m)
	}
	clear(targets)
	b.targets = targets[:0]
}

// appendOnce adds s to targets unless it already has message id.
func appendOnce(targets []*memSubscriber, s *memSubscriber, id eventid.ID) []*memSubscriber {
	if s.marked == id {
		return targets
	}
	s.marked = id
	return append(targets, s)
}

// Replay implements broker.Broker.
func (b *Broker) Replay(ctx context.Context, sel broker.Selection, lastEventID string) (broker.Replay, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return broker.Replay{}, broker.ErrClosed
	}
	head := b.gen.Last()
	after, err := eventid.Parse(lastEventID)
	switch {
	case err != nil || head.Less(after):
		return transport.ResetReplay(transport.ResetUnknownID, lastEventID, head), nil
	case after.Less(b.origin):
		return transport.ResetReplay(transport.ResetHistoryLost, lastEventID, head), nil
	}
	// A resume point within the TTL is newer than anything a swept record
	// held (sweep drops only records whose every event aged out), so only
	// an older one can have lost events with a record.
	horizon := uint64(b.now().Add(-b.ttl).UnixMilli())
	mayHaveSwept := after.Time < horizon
	var msgs []*broker.Message
	collect := func(h *topicHistory) bool {
		if after.Less(h.trimmed) || (mayHaveSwept && after.Less(h.since)) {
			return false
		}
		i, _ := slices.BinarySearchFunc(h.msgs, after, func(m *broker.Message, id eventid.ID) int {
			return m.ID.Compare(id)
		})
		for _, m := range h.msgs[i:] {
			if m.ID != after {
				msgs = append(msgs, m)
			}
		}
		return true
	}
	for _, t := range sel.Topics {
		h := b.history[t]
		if h == nil {
			if mayHaveSwept {
				return transport.ResetReplay(transport.ResetExpired, lastEventID, head), nil
			}
			continue
		}
		if !collect(h) {
			return transport.ResetReplay(transport.ResetExpired, lastEventID, head), nil
		}
	}
	if len(sel.Patterns) > 0 {
		if mayHaveSwept { // a swept topic may have matched
			return transport.ResetReplay(transport.ResetExpired, lastEventID, head), nil
		}
		for t, h := range b.history {
			if slices.Contains(sel.Topics, t) || !topic.MatchedByAny(sel.Patterns, t) {
				continue
			}
			if !collect(h) {
				return transport.ResetReplay(transport.ResetExpired, lastEventID, head), nil
			}
		}
	}
	return broker.Replay{Messages: transport.InIDOrder(msgs), Head: head}, ctx.Err()
}

// Ping implements broker.Broker: the embedded broker is always reachable
// until closed.
func (b *Broker) Ping(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return broker.ErrClosed
	}
	return nil
}

// Close implements broker.Broker. Later publishes and replays fail.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// NewSubscriber implements broker.Broker.
func (b *Broker) NewSubscriber(sink broker.Sink) (broker.Subscriber, error) {
	return &memSubscriber{b: b, sink: sink}, nil
}

// memSubscriber is one shard's subscription. Its methods run on the shard
// loop; marked is guarded by the broker's fanMu (it is only used in fan-out).
type memSubscriber struct {
	b      *Broker
	sink   broker.Sink
	marked eventid.ID
}

// Subscribe implements broker.Subscriber; the subscription is active at once.
func (s *memSubscriber) Subscribe(t string) (bool, error) {
	s.set(s.b.exact, t, true)
	return true, nil
}

// Unsubscribe implements broker.Subscriber.
func (s *memSubscriber) Unsubscribe(t string) { s.set(s.b.exact, t, false) }

// PSubscribe implements broker.Subscriber; the subscription is active at once.
func (s *memSubscriber) PSubscribe(p string) (bool, error) {
	s.set(s.b.patterns, p, true)
	return true, nil
}

// PUnsubscribe implements broker.Subscriber.
func (s *memSubscriber) PUnsubscribe(p string) { s.set(s.b.patterns, p, false) }

// set adds or removes s under name. Once it returns, every later publish
// sees the change: a fan-out reads the index under subMu once its
// publish has put its events in history.
func (s *memSubscriber) set(index map[string]map[*memSubscriber]struct{}, name string, on bool) {
	s.b.subMu.Lock()
	defer s.b.subMu.Unlock()
	subs := index[name]
	if on {
		if subs == nil {
			subs = make(map[*memSubscriber]struct{}, 1)
			index[name] = subs
		}
		subs[s] = struct{}{}
		return
	}
	delete(subs, s)
	if len(subs) == 0 {
		delete(index, name)
	}
}

// Close implements broker.Subscriber.
func (s *memSubscriber) Close() {
	s.b.subMu.Lock()
	defer s.b.subMu.Unlock()
	for _, index := range []map[string]map[*memSubscriber]struct{}{s.b.exact, s.b.patterns} {
		for name, subs := range index {
			delete(subs, s)
			if len(subs) == 0 {
				delete(index, name)
			}
		}
	}
}

var _ broker.Broker = (*Broker)(nil)
