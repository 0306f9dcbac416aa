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
	// HistoryBudget bounds the bytes all retained events take (their
	// encoded frames and topic names, plus a fixed overhead each); beyond
	// it the oldest events go first, whatever their topic. Zero means
	// DefaultHistoryBudget.
	HistoryBudget int
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
	ttl    time.Duration
	now    func() time.Time
	tracer *telemetry.Tracer

	// mu serialises publishing (id order, history) and replay reads,
	// which is what makes replay and live delivery gap-free: an event is
	// in history before its fan-out begins, so a replay sees every event
	// whose fan-out could have missed a subscriber that was already active.
	mu      sync.Mutex
	gen     eventid.Generator
	origin  eventid.ID // ids older than this are from a lost history
	history history
	closed  bool
	records idemRecords

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

	presence *presence   // who follows what (presence.go)
	msubs    mercureSubs // active Mercure subscriptions (mercuresubs.go)
}

// New returns an embedded broker.
func New(cfg Config) *Broker {
	cfg.HistorySize, cfg.HistoryTTL = transport.Retention(cfg.HistorySize, cfg.HistoryTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Broker{
		ttl:      cfg.HistoryTTL,
		now:      cfg.Now,
		tracer:   cfg.Tracer,
		history:  newHistory(cfg.HistorySize, cfg.HistoryTTL, cmp.Or(cfg.HistoryBudget, DefaultHistoryBudget)),
		records:  newIdemRecords(cmp.Or(cfg.MaxIdempotencyRecords, 100_000)),
		exact:    make(map[string]map[*memSubscriber]struct{}),
		patterns: make(map[string]map[*memSubscriber]struct{}),
		presence: newPresence(),
	}
	// Every id this history will hold is newer than origin; an id before
	// it comes from an earlier process whose history is gone.
	b.origin = eventid.ID{Time: uint64(b.now().UnixMilli())}
	b.gen.Observe(b.origin)
	return b
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
	b.history.sweep(now)
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
		var m *broker.Message
		if p.Mercure == nil {
			m = transport.NewMessage(b.gen.Next(now), p.Event, slices.Clone(p.Topics), p.Data)
		} else {
			m = transport.NewMercureMessage(b.gen.Next(now), p.Event, slices.Clone(p.Topics), p.Data, cloneMercure(p.Mercure))
		}
		m.Trace = trace
		ids[i] = m.ID
		b.history.retain(m, now)
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

// cloneMercure copies a publication's metadata: a message is immutable,
// and the publisher may reuse its slices.
func cloneMercure(meta *broker.Mercure) *broker.Mercure {
	c := *meta
	c.Topics = slices.Clone(meta.Topics)
	return &c
}

// LookupPublisherID implements broker.PublisherIDs from the events
// history holds: a publisher id is forgotten with its event.
func (b *Broker) LookupPublisherID(_ context.Context, pid string) (eventid.ID, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return eventid.ID{}, false, broker.ErrClosed
	}
	e, ok := b.history.publisherIDs[pid]
	if !ok {
		return eventid.ID{}, false, nil
	}
	return e.msg.ID, true, nil
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

// Replay implements broker.Broker. Topics named in the selection are read
// from their own histories under the lock; patterns are matched against
// the events published since the resume point, read from a snapshot of the
// log without it, so a resume by pattern neither holds publishers up nor
// costs more for every topic that exists.
func (b *Broker) Replay(ctx context.Context, sel broker.Selection, lastEventID string) (broker.Replay, error) {
	return b.replay(ctx, sel, lastEventID, false)
}

// ReplayRetained implements broker.RetainedReplayer.
func (b *Broker) ReplayRetained(ctx context.Context, sel broker.Selection) (broker.Replay, error) {
	return b.replay(ctx, sel, "", true)
}

// replay is Replay from lastEventID, or, when retained, from before
// everything history holds, with every check that would answer a reset
// left out.
func (b *Broker) replay(ctx context.Context, sel broker.Selection, lastEventID string, retained bool) (broker.Replay, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return broker.Replay{}, broker.ErrClosed
	}
	head := b.gen.Last()
	var after eventid.ID
	var err error
	if !retained {
		after, err = eventid.Parse(lastEventID)
	}
	reset := ""
	switch {
	case retained:
	case err != nil || head.Less(after):
		reset = transport.ResetUnknownID
	case after.Less(b.origin):
		reset = transport.ResetHistoryLost
	}
	// A resume point within the TTL is newer than anything a swept record
	// held (sweep drops only records whose every event aged out), so only
	// an older one can have lost events with a record.
	horizon := uint64(b.now().Add(-b.ttl).UnixMilli())
	mayHaveSwept := after.Time < horizon
	var msgs []*broker.Message
	for _, t := range sel.Topics {
		if reset != "" {
			break
		}
		th := b.history.topics[t]
		ok := !mayHaveSwept
		switch {
		case th == nil:
		case retained:
			for _, e := range th.entries {
				msgs = append(msgs, e.msg)
			}
			ok = true
		default:
			msgs, ok = th.after(msgs, after, mayHaveSwept)
		}
		if !ok && !retained {
			reset = transport.ResetExpired
		}
	}
	var since []*entry
	if reset == "" && len(sel.Patterns) > 0 {
		// A swept topic, or one the budget emptied, may have matched, and
		// nothing of it is left to tell.
		if !retained && (mayHaveSwept || after.Less(b.history.dropped)) {
			reset = transport.ResetExpired
		} else {
			since = b.history.snapshot(after)
		}
	}
	b.mu.Unlock()
	if reset == "" && since != nil {
		msgs, reset, err = b.matchSince(ctx, msgs, since, sel, after, retained)
		if err != nil {
			return broker.Replay{}, err
		}
	}
	if reset != "" {
		return transport.ResetReplay(reset, lastEventID, head), nil
	}
	return broker.Replay{Messages: transport.InIDOrder(msgs), Head: head}, ctx.Err()
}

// matchSince appends to msgs the events of since (a snapshot of the log)
// that match one of sel's patterns and none of its topics (those were
// read already), without the lock. It then checks, taking the lock for a
// moment per batch of topics, that retention has not dropped events of a
// matching topic after the resume point: if it has, the answer is a reset
// (reason expired). A topic trimmed after the snapshot was taken makes
// that answer a reset too, although the snapshot held its events; that
// takes a resume point at the edge of retention anyway.
func (b *Broker) matchSince(ctx context.Context, msgs []*broker.Message, since []*entry, sel broker.Selection, after eventid.ID,
	retained bool) ([]*broker.Message, string, error) {
	matched := make(map[string]struct{})
	for i, e := range since {
		if i%4096 == 4095 && ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		hit := false
		for _, t := range e.msg.Topics {
			if topic.MatchedByAny(sel.Patterns, t) {
				matched[t] = struct{}{}
				hit = true
			}
		}
		// An event of a selected topic was read with it; its matching
		// topics are checked below all the same, since their history
		// may have lost other events.
		if hit && !hasAny(e.msg.Topics, sel.Topics) {
			msgs = append(msgs, e.msg)
		}
	}
	if retained {
		// What history holds is all a retained replay asks for, and the
		// snapshot's events that a topic dropped meanwhile were in it.
		return msgs, "", nil
	}
	const topicsPerLock = 1024
	checked := 0
	b.mu.Lock()
	defer b.mu.Unlock()
	// A topic that was trimmed after the resume point and then swept away
	// while the snapshot was read has no mark left to check.
	if after.Less(b.history.swept) {
		return nil, transport.ResetExpired, nil
	}
	for t := range matched {
		if checked++; checked%topicsPerLock == 0 {
			b.mu.Unlock() // let publishers in between batches
			b.mu.Lock()
		}
		if th := b.history.topics[t]; th != nil && after.Less(th.trimmed) {
			return nil, transport.ResetExpired, nil
		}
	}
	return msgs, "", nil
}

// hasAny reports whether topics and selected share a topic.
func hasAny(topics, selected []string) bool {
	for _, t := range topics {
		if slices.Contains(selected, t) {
			return true
		}
	}
	return false
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

// HistoryStats implements broker.HistoryReporter.
func (b *Broker) HistoryStats() broker.HistoryStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := &b.history
	return broker.HistoryStats{Events: h.liveCount, Bytes: h.liveBytes, Budget: h.budget, BudgetDrops: h.drops}
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

var (
	_ broker.Broker          = (*Broker)(nil)
	_ broker.HistoryReporter = (*Broker)(nil)
)
