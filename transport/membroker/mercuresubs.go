package membroker

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
)

// mercureSubs is the embedded broker's store of active Mercure
// subscriptions: one map per tracker (a process may run several hubs on
// one broker, as tests do), read across all of them. Its zero value is
// ready; mu guards everything, on no hot path (a registry writes once per
// tick).
type mercureSubs struct {
	mu   sync.Mutex
	hubs map[*mercureSubsTracker]map[string][]byte // tracker -> id -> document
}

// mercureSubsTracker is one hub's share of the store. The records die with
// the process, so there is no lease to expire and nothing to reap.
type mercureSubsTracker struct{ s *mercureSubs }

// TrackMercureSubscriptions implements broker.MercureSubscriptionStore;
// ttl is unused: nothing outlives the process.
func (b *Broker) TrackMercureSubscriptions(time.Duration) broker.MercureSubscriptionTracker {
	t := &mercureSubsTracker{s: &b.msubs}
	b.msubs.mu.Lock()
	defer b.msubs.mu.Unlock()
	if b.msubs.hubs == nil {
		b.msubs.hubs = make(map[*mercureSubsTracker]map[string][]byte)
	}
	b.msubs.hubs[t] = make(map[string][]byte)
	return t
}

// MercureSubscriptions implements broker.MercureSubscriptionStore.
func (b *Broker) MercureSubscriptions(_ context.Context, prefix string, limit int) ([]broker.MercureSubscription, error) {
	b.msubs.mu.Lock()
	defer b.msubs.mu.Unlock()
	var out []broker.MercureSubscription
	for _, recs := range b.msubs.hubs {
		for id, doc := range recs {
			if len(out) >= limit {
				return out, nil
			}
			if strings.HasPrefix(id, prefix) {
				out = append(out, broker.MercureSubscription{ID: id, Doc: doc})
			}
		}
	}
	return out, nil
}

// MercureSubscription implements broker.MercureSubscriptionStore.
func (b *Broker) MercureSubscription(_ context.Context, id string) (broker.MercureSubscription, bool, error) {
	b.msubs.mu.Lock()
	defer b.msubs.mu.Unlock()
	for _, recs := range b.msubs.hubs {
		if doc, ok := recs[id]; ok {
			return broker.MercureSubscription{ID: id, Doc: doc}, true, nil
		}
	}
	return broker.MercureSubscription{}, false, nil
}

// Write implements broker.MercureSubscriptionTracker.
func (t *mercureSubsTracker) Write(_ context.Context, register bool, set []broker.MercureSubscription, removed []string) error {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	recs, ok := t.s.hubs[t]
	if !ok {
		return broker.ErrNotRegistered // closed
	}
	if register {
		clear(recs)
	}
	for _, r := range set {
		recs[r.ID] = r.Doc
	}
	for _, id := range removed {
		delete(recs, id)
	}
	return nil
}

// Reap implements broker.MercureSubscriptionTracker: in one process no hub
// dies without its tracker.
func (t *mercureSubsTracker) Reap(context.Context, int) ([]broker.MercureSubscription, error) {
	return nil, nil
}

// Close implements broker.MercureSubscriptionTracker.
func (t *mercureSubsTracker) Close(context.Context) error {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	delete(t.s.hubs, t)
	return nil
}

// Head implements broker.MercureSubscriptionStore.
func (b *Broker) Head(context.Context) (eventid.ID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return eventid.ID{}, broker.ErrClosed
	}
	if last := b.gen.Last(); b.origin.Less(last) {
		return last, nil
	}
	return eventid.ID{}, nil
}

var _ broker.MercureSubscriptionStore = (*Broker)(nil)
