package membroker

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ssehub/ssehub/hub/broker"
)

// presence is the embedded broker's presence: one hub, whose tracker writes
// straight into the counts. Shards update it once per tick each, and
// queries read it, so a mutex is enough: it is on no hot path.
type presence struct {
	mu sync.Mutex
	// reported is what each shard last said of each topic and user: an
	// update applies the difference, which makes it idempotent.
	reported map[shardKey]int
	topics   map[string]*topicPresence
	batches  atomic.Uint64
	// events says which topics have join and leave events (nil: none);
	// set by TrackPresence. queued holds the events not yet published, in
	// the order of the changes; wake tells the tracker's publisher.
	events func(topic string) bool
	queued []broker.Publication
	wake   chan struct{} // capacity 1
}

// shardKey names one shard's count of one user on one topic.
type shardKey struct {
	shard       int
	topic, user string
}

// topicPresence is the hub's counts for one topic or pattern.
type topicPresence struct {
	streams int64
	users   map[string]int64 // subject -> streams; anonymous streams are not here
}

func newPresence() *presence {
	return &presence{reported: make(map[shardKey]int), topics: make(map[string]*topicPresence), wake: make(chan struct{}, 1)}
}

// TrackPresence implements broker.PresenceStore. The embedded broker serves
// one hub: cfg.TTL has nothing to expire, as the records die with the
// process.
//
// With cfg.Events, join and leave events are published by a goroutine of
// the tracker's, in order: Update runs on a shard loop, and publishing
// there could wait for that very shard's mailbox.
func (b *Broker) TrackPresence(cfg broker.PresenceConfig) broker.PresenceTracker {
	t := &presenceTracker{p: b.presence, b: b, stop: make(chan struct{}), done: make(chan struct{})}
	b.presence.mu.Lock()
	b.presence.events = cfg.Events
	b.presence.mu.Unlock()
	if cfg.Events == nil {
		close(t.done)
		return t
	}
	go t.publishEvents()
	return t
}

// presenceTracker is the hub's view of presence: updates, and a Close that
// forgets everything. Its publisher runs in its own goroutine from
// TrackPresence (with events) until Close.
type presenceTracker struct {
	p    *presence
	b    *Broker
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the publisher has returned
	once sync.Once
}

// publishEvents publishes the queued join and leave events, in order,
// until Close.
func (t *presenceTracker) publishEvents() {
	defer close(t.done)
	for {
		select {
		case <-t.stop:
			return
		case <-t.p.wake:
		}
		t.p.mu.Lock()
		pubs := t.p.queued
		t.p.queued = nil
		t.p.mu.Unlock()
		if len(pubs) > 0 {
			// Only a closed broker fails: there is no one to tell then.
			_, _ = t.b.Publish(context.Background(), pubs, broker.Idempotency{})
		}
	}
}

// queueEvent queues a join or leave of user on topic, if topic has events.
// Called with p.mu held.
func (p *presence) queueEvent(event, topic, user string) {
	if p.events == nil || len(broker.PresencePrefix)+len(topic) > 256 || !p.events(topic) {
		return
	}
	data, _ := json.Marshal(struct {
		Topic string `json:"topic"`
		User  string `json:"user"`
	}{topic, user})
	p.queued = append(p.queued, broker.Publication{Topics: []string{broker.PresencePrefix + topic}, Event: event, Data: data})
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Update implements broker.PresenceTracker. It never refuses.
func (t *presenceTracker) Update(shard int, entries []broker.PresenceEntry) bool {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range entries {
		k := shardKey{shard, e.Topic, e.User}
		delta := int64(e.Streams - p.reported[k])
		if delta == 0 {
			continue
		}
		if e.Streams == 0 {
			delete(p.reported, k)
		} else {
			p.reported[k] = e.Streams
		}
		tp := p.topics[e.Topic]
		if tp == nil {
			tp = &topicPresence{users: make(map[string]int64)}
			p.topics[e.Topic] = tp
		}
		tp.streams += delta
		if e.User != "" {
			was := tp.users[e.User]
			n := was + delta
			if n > 0 {
				tp.users[e.User] = n
			} else {
				delete(tp.users, e.User)
			}
			switch {
			case was <= 0 && n > 0:
				p.queueEvent(broker.PresenceJoin, e.Topic, e.User)
			case was > 0 && n <= 0:
				p.queueEvent(broker.PresenceLeave, e.Topic, e.User)
			}
		}
		if tp.streams <= 0 {
			delete(p.topics, e.Topic)
		}
	}
	p.batches.Add(1)
	return true
}

// Close implements broker.PresenceTracker: the hub's streams are gone.
// Events not yet published are dropped: no stream is left to get them.
func (t *presenceTracker) Close() {
	t.once.Do(func() { close(t.stop) })
	<-t.done
	t.p.mu.Lock()
	t.p.queued = nil
	defer t.p.mu.Unlock()
	clear(t.p.reported)
	clear(t.p.topics)
}

// PresenceStats implements broker.PresenceReporter.
func (t *presenceTracker) PresenceStats() broker.PresenceStats {
	t.p.mu.Lock()
	members := len(t.p.reported)
	t.p.mu.Unlock()
	return broker.PresenceStats{Members: int64(members), Batches: t.p.batches.Load()}
}

// TopicPresence implements broker.PresenceStore.
func (b *Broker) TopicPresence(_ context.Context, topic string) (broker.TopicPresence, error) {
	p := b.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	tp := p.topics[topic]
	if tp == nil {
		return broker.TopicPresence{}, nil
	}
	return broker.TopicPresence{Streams: tp.streams, Users: int64(len(tp.users))}, nil
}

// MemberPresence implements broker.PresenceStore.
func (b *Broker) MemberPresence(_ context.Context, topic, user string) (int64, error) {
	p := b.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	if tp := p.topics[topic]; tp != nil {
		return tp.users[user], nil
	}
	return 0, nil
}

// PresenceMembers implements broker.PresenceStore. Users come in order of
// their subjects; the cursor is the last one returned, so a page never
// skips a user that stayed. A page is one pass over the topic's users,
// keeping the limit+1 first after the cursor in a sorted slice (few users
// enter it when the map's order is random): a few ms for 100,000 users
// (BenchmarkPresenceQuery_100kMembers).
func (b *Broker) PresenceMembers(_ context.Context, topic, cursor string, limit int) (broker.PresencePage, error) {
	after, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return broker.PresencePage{}, broker.ErrBadCursor
	}
	limit = max(limit, 1)
	byUser := func(a, b broker.PresenceMember) int { return cmp.Compare(a.User, b.User) }
	// first holds the limit+1 smallest users after the cursor, in order:
	// one more than a page tells whether there is a next page.
	first := make([]broker.PresenceMember, 0, limit+1)
	p := b.presence
	p.mu.Lock()
	if tp := p.topics[topic]; tp != nil {
		for u, n := range tp.users {
			if cursor != "" && u <= string(after) || len(first) == limit+1 && u >= first[limit].User {
				continue
			}
			m := broker.PresenceMember{User: u, Streams: n}
			i, _ := slices.BinarySearchFunc(first, m, byUser)
			if len(first) == limit+1 {
				first = first[:limit]
			}
			first = slices.Insert(first, i, m)
		}
	}
	p.mu.Unlock()
	page := broker.PresencePage{Members: first}
	if len(first) > limit {
		page.Members = first[:limit:limit]
		page.Cursor = base64.RawURLEncoding.EncodeToString([]byte(page.Members[limit-1].User))
	}
	return page, nil
}

var (
	_ broker.PresenceStore    = (*Broker)(nil)
	_ broker.PresenceReporter = (*presenceTracker)(nil)
)
