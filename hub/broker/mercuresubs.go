package broker

import (
	"context"
	"errors"
	"time"

	"github.com/ssehub/ssehub/hub/eventid"
)

// Active Mercure subscriptions (draft-07 §8, draft-08 §8;
// docs/mercure-design.md, "Active subscriptions"). A hub's Mercure door
// records the subscriptions of its streams through a
// MercureSubscriptionTracker, and any hub's door reads the whole fleet's
// through the MercureSubscriptionStore. The store knows nothing of Mercure
// beyond this: a record is an id and an opaque document.

// ErrNotRegistered is returned by MercureSubscriptionTracker.Write when the
// store no longer knows the hub (it was taken for dead while cut off, or
// the store lost its data): the caller writes all its records again with
// register set.
var ErrNotRegistered = errors.New("broker: hub not registered in the subscription store")

// MercureSubscription is one active subscription's record.
type MercureSubscription struct {
	// ID is the subscription's id: the path of its subscription events'
	// topic, unique in the fleet, and what the API filters on by prefix.
	ID string
	// Doc is its JSON-LD document, as the API serves it.
	Doc []byte
}

// MercureSubscriptionStore is implemented by brokers that keep active
// Mercure subscriptions for a fleet. Safe to call from any goroutine.
type MercureSubscriptionStore interface {
	// TrackMercureSubscriptions returns the tracker of a hub; ttl is how
	// long its records outlive it when it dies without closing the
	// tracker (zero means DefaultPresenceTTL).
	TrackMercureSubscriptions(ttl time.Duration) MercureSubscriptionTracker
	// MercureSubscriptions returns at most limit records of live hubs
	// whose ID starts with prefix, in no particular order.
	MercureSubscriptions(ctx context.Context, prefix string, limit int) ([]MercureSubscription, error)
	// MercureSubscription returns the record of a live hub whose ID is id;
	// false when there is none.
	MercureSubscription(ctx context.Context, id string) (MercureSubscription, bool, error)
	// Head returns the newest id the broker has assigned, zero when it
	// has assigned none: the API's last event id (draft-07 §8.2
	// lastEventID, draft-08 §8.2 last_event_id).
	Head(ctx context.Context) (eventid.ID, error)
}

// MercureSubscriptionTracker writes one hub's records. It starts no
// goroutine: its owner calls it from one goroutine, at its own pace (the
// Mercure door's registry, once per tick), and Write must be called at
// least every ttl/3 to keep the hub alive.
type MercureSubscriptionTracker interface {
	// Write sets the records of set and removes those of the ids in
	// removed, and refreshes the hub's lease. With register, it first
	// drops whatever the store holds of the hub and (re)registers it: set
	// is then all its records. Writes are idempotent; after an error the
	// caller retries with the same changes (ErrNotRegistered: with
	// register and all its records).
	Write(ctx context.Context, register bool, set []MercureSubscription, removed []string) error
	// Reap takes up to about limit records of a hub whose lease expired
	// (killed, cut off) out of the store and returns them, so that the
	// caller can announce their end; none when no hub is dead. Records a
	// call did not take are left for the next.
	Reap(ctx context.Context, limit int) ([]MercureSubscription, error)
	// Close removes the hub's records and lease. The tracker is not used
	// after.
	Close(ctx context.Context) error
}
