package mercure

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
)

// The registry of a hub's active subscriptions (docs/mercure-design.md,
// "Active subscriptions"). Streams hand it their subscriptions as they
// open and end (shard.Stream.OnOpen and OnEnd, on the shard loops); its
// one goroutine, every tick, applies what arrived, writes the changes to
// the fleet's store (broker.MercureSubscriptionStore), reaps a dead hub's
// records, and publishes one private update per subscription created or
// ended through the hub's publish path, so that subscription events get
// ids, history, fan-out to the fleet and resumes as any update does.

const (
	// registryTick is how often the registry writes and publishes: a
	// reconnect storm costs the store and the broker a few exchanges per
	// tick, not one per stream.
	registryTick = 250 * time.Millisecond
	// maxPendingOpens bounds the subscriptions of streams opened and not
	// taken by the loop yet (while the store or the broker stalls, the
	// loop falls behind). A stream that opens beyond it is not
	// registered: no record, no events, counted in Dropped. Ends are
	// never dropped (a registered subscription must not stay listed), and
	// they are bounded by the registered streams.
	maxPendingOpens = 1 << 16
	// maxQueuedEvents bounds the subscription events not published yet
	// (the broker refuses or stalls): the oldest go first, counted in
	// Dropped.
	maxQueuedEvents = 1 << 16
	// maxPendingDeletes bounds the ended subscriptions waiting to be
	// deleted from the store while it does not answer; past it the hub
	// registers anew instead (registry.take).
	maxPendingDeletes = 1 << 16
	// eventBatch is how many events one publish carries.
	eventBatch = 64
	// reapBudget is about how many records of a dead hub one tick takes.
	reapBudget = 1000
)

// SubscriptionStats counts a registry's work. Safe to read from any
// goroutine.
type SubscriptionStats struct {
	// Active is how many distinct subscriptions this hub has.
	Active int64
	// Events counts the subscription events published.
	Events uint64
	// Dropped counts subscriptions not registered and events not
	// published because their queue was full (maxPendingOpens,
	// maxQueuedEvents).
	Dropped uint64
	// Errors counts the store writes, reaps and publishes that failed;
	// each is retried at the next tick.
	Errors uint64
}

// streamSubs is one stream's subscriptions. state is guarded by
// registry.mu.
type streamSubs struct {
	recs  []broker.MercureSubscription
	state uint8 // 0 new, 1 opened (registered), 2 dropped or ended
}

// change is a stream opened (end false) or ended.
type change struct {
	s   *streamSubs
	end bool
}

// liveSub is a subscription this hub has: streams of one subscriber with
// one selector share it (their id is the same), and it ends with the last.
type liveSub struct {
	doc  []byte
	refs int
}

type registry struct {
	hub     *hub.Hub
	tracker broker.MercureSubscriptionTracker
	ttl     time.Duration
	base    *urlpattern.Base // the hub's URL, for the events' routing
	log     *slog.Logger

	// mu guards pending, pendingOpens and closed: the shard loops append,
	// the loop takes. Held for an append or a swap, never across I/O.
	mu           sync.Mutex
	pending      []change
	pendingOpens int
	closed       bool

	stop chan struct{} // closed by close
	done chan struct{} // closed when the loop has returned

	// Owned by the loop goroutine (run, and close once it has returned).
	live       map[string]*liveSub
	toSet      map[string]struct{} // ids whose records the store lacks
	toDel      map[string]struct{} // ids the store must drop
	events     []broker.Publication
	registered bool
	lastWrite  time.Time
	lastErrLog time.Time

	active                   atomic.Int64
	published, dropped, errs atomic.Uint64
}

// newRegistry starts the registry of h's subscriptions in store, whose
// records of a hub that dies outlive it by ttl.
func newRegistry(h *hub.Hub, store broker.MercureSubscriptionStore, ttl time.Duration, base *urlpattern.Base, log *slog.Logger) *registry {
	if ttl <= 0 {
		ttl = broker.DefaultPresenceTTL
	}
	r := &registry{hub: h, tracker: store.TrackMercureSubscriptions(ttl), ttl: ttl, base: base, log: log,
		stop: make(chan struct{}), done: make(chan struct{}),
		live: make(map[string]*liveSub), toSet: make(map[string]struct{}), toDel: make(map[string]struct{})}
	go r.run()
	return r
}

// opened registers s's subscriptions. It runs on a shard loop: it takes
// a lock for an append and never blocks on I/O.
func (r *registry) opened(s *streamSubs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || s.state != 0 {
		return
	}
	if r.pendingOpens+len(s.recs) > maxPendingOpens {
		s.state = 2
		r.dropped.Add(uint64(len(s.recs)))
		return
	}
	s.state = 1
	r.pendingOpens += len(s.recs)
	r.pending = append(r.pending, change{s: s})
}

// ended ends s's subscriptions, if they were registered. It runs on a
// shard loop, as opened does.
func (r *registry) ended(s *streamSubs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || s.state != 1 {
		s.state = 2
		return
	}
	s.state = 2
	r.pending = append(r.pending, change{s: s, end: true})
}

// stats returns the registry's counters.
func (r *registry) stats() SubscriptionStats {
	return SubscriptionStats{Active: r.active.Load(), Events: r.published.Load(), Dropped: r.dropped.Load(), Errors: r.errs.Load()}
}

func (r *registry) run() {
	defer close(r.done)
	t := time.NewTicker(min(registryTick, r.ttl/10))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.flush()
		}
	}
}

// flush applies what arrived, writes it, then reaps and publishes: the
// store has a subscription before its event is out, so that a client that
// lists the subscriptions and then follows the events from the list's
// last event id misses none.
func (r *registry) flush() {
	r.take()
	if !r.write() {
		return
	}
	r.reap()
	r.publish(context.Background())
}

// take applies the pending changes to live, in order, and queues their
// events: one per subscription that a stream created or ended.
func (r *registry) take() {
	r.mu.Lock()
	changes := r.pending
	r.pending, r.pendingOpens = nil, 0
	r.mu.Unlock()
	for _, c := range changes {
		for _, rec := range c.s.recs {
			l := r.live[rec.ID]
			switch {
			case !c.end && l == nil:
				r.live[rec.ID] = &liveSub{doc: rec.Doc, refs: 1}
				r.toSet[rec.ID] = struct{}{}
				delete(r.toDel, rec.ID)
				r.queue(rec.ID, rec.Doc)
			case !c.end:
				l.refs++
			case l == nil: // cannot happen: an end follows its open
			case l.refs > 1:
				l.refs--
			default:
				delete(r.live, rec.ID)
				delete(r.toSet, rec.ID)
				if r.registered {
					// Unregistered, the next write rewrites the whole
					// hash from live: nothing to delete.
					r.toDel[rec.ID] = struct{}{}
				}
				r.queue(rec.ID, endedDoc(l.doc))
			}
		}
	}
	if len(r.toDel) > maxPendingDeletes {
		// The store has been down while many streams ended (each
		// anonymous one with its own subscriber id): rather than keep
		// every id, register again, which rewrites the hash from live.
		r.registered = false
		clear(r.toDel)
	}
	r.active.Store(int64(len(r.live)))
}

// queue adds the event of the subscription id, whose document is now doc,
// dropping the oldest queued event when the queue is full.
func (r *registry) queue(id string, doc []byte) {
	p, err := subscriptionEvent(id, doc, r.base)
	if err != nil {
		// A selector near the topic length limit makes an id over it: the
		// subscription is listed, but has no events.
		r.dropped.Add(1)
		r.log.Debug("mercure subscription event not published", "id", id, "err", err)
		return
	}
	if len(r.events) >= maxQueuedEvents {
		r.events = r.events[1:]
		r.dropped.Add(1)
	}
	r.events = append(r.events, p)
}

// write sends the store what changed, or all of this hub's records when
// it is not registered; with nothing to send it renews the lease every
// third of the TTL. It reports whether the store is up to date.
func (r *registry) write() bool {
	if len(r.toSet) == 0 && len(r.toDel) == 0 && r.registered && time.Since(r.lastWrite) < r.ttl/3 {
		return true
	}
	register := !r.registered
	set := make([]broker.MercureSubscription, 0, len(r.toSet))
	if register {
		for id, l := range r.live {
			set = append(set, broker.MercureSubscription{ID: id, Doc: l.doc})
		}
	} else {
		for id := range r.toSet {
			set = append(set, broker.MercureSubscription{ID: id, Doc: r.live[id].doc})
		}
	}
	var del []string
	if !register {
		for id := range r.toDel {
			del = append(del, id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.ttl/3)
	defer cancel()
	err := r.tracker.Write(ctx, register, set, del)
	if errors.Is(err, broker.ErrNotRegistered) && !register {
		// Taken for dead while cut off (and its subscriptions announced
		// as ended by the hub that reaped them), or the store lost its
		// data: register again, and announce every subscription anew.
		r.registered = false
		for id, l := range r.live {
			r.queue(id, l.doc)
		}
		r.fail("write", err)
		return false
	}
	if err != nil {
		r.fail("write", err)
		return false
	}
	r.registered, r.lastWrite = true, time.Now()
	clear(r.toSet)
	clear(r.toDel)
	return true
}

// reap takes a dead hub's records out of the store, if there is one, and
// queues their end.
func (r *registry) reap() {
	ctx, cancel := context.WithTimeout(context.Background(), r.ttl/3)
	defer cancel()
	recs, err := r.tracker.Reap(ctx, reapBudget)
	if err != nil {
		r.fail("reap", err)
		return
	}
	for _, rec := range recs {
		r.queue(rec.ID, endedDoc(rec.Doc))
	}
}

// publish publishes the queued events, in order, a batch at a time; what
// the hub refuses stays queued for the next tick.
func (r *registry) publish(ctx context.Context) {
	for len(r.events) > 0 {
		n := min(len(r.events), eventBatch)
		pctx, cancel := context.WithTimeout(ctx, max(r.ttl/3, time.Second))
		_, err := r.hub.Publish(pctx, r.events[:n], broker.Idempotency{})
		cancel()
		if err != nil {
			r.fail("publish", err)
			return
		}
		r.published.Add(uint64(n))
		r.events = r.events[n:]
	}
	r.events = nil // release the array
}

// close stops the loop and ends this hub's subscriptions at once: their
// events (active false) are published and the records removed, so that a
// hub that stops cleanly leaves nothing behind. Streams that end after it
// change nothing. Call it before the hub shuts down (it publishes through
// it).
func (r *registry) close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	r.take()
	for id, l := range r.live {
		r.queue(id, endedDoc(l.doc))
	}
	clear(r.live)
	r.active.Store(0)
	r.publish(ctx)
	err := r.tracker.Close(ctx)
	if len(r.events) > 0 {
		err = errors.Join(err, errors.New("mercure: some subscription events were not published"))
	}
	return err
}

// fail counts and, at most every 10s, logs a failed exchange.
func (r *registry) fail(what string, err error) {
	r.errs.Add(1)
	if time.Since(r.lastErrLog) >= 10*time.Second {
		r.lastErrLog = time.Now()
		r.log.Warn("mercure subscriptions: "+what+" failed; retrying at the next tick", "err", err)
	}
}
