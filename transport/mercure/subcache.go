package mercure

import "sync"

// maxCachedSubscriptions bounds a door's subscriptionCache: past it the
// cache starts over, so it holds at most this many queries and their
// selectors, a few hundred bytes each.
const maxCachedSubscriptions = 1024

// subscriptionCache is a door's parsed subscriptions by query string, so
// that the streams of one query share its selectors, parsed once, rather
// than each leaving their parse behind as garbage (BENCHMARKS.md, "A
// Mercure stream next to a native one"). It holds only what a query alone
// decides: no resume point and no token. Safe for concurrent use; a
// Subscription it returns is shared and must not be modified (its
// Selectors are immutable).
type subscriptionCache struct {
	mu   sync.RWMutex
	subs map[string]Subscription // guarded by mu
}

// parse is ParseSubscription(string(query), string(lastEventID), limits),
// from the cache when it can be. A door's limits never change, so they
// are not part of the key. cacheable is false for a query that the
// answer must not be kept for, such as one with a token (the
// authorization parameter).
func (c *subscriptionCache) parse(query, lastEventID []byte, limits SubscribeLimits, cacheable bool) (Subscription, error) {
	cacheable = cacheable && len(lastEventID) == 0
	if cacheable {
		c.mu.RLock()
		sub, ok := c.subs[string(query)]
		c.mu.RUnlock()
		if ok {
			return sub, nil
		}
	}
	sub, err := ParseSubscription(string(query), string(lastEventID), limits)
	if err != nil || !cacheable || sub.LastEventID != "" {
		// A resume point in the query is one reconnection's.
		return sub, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs == nil || len(c.subs) >= maxCachedSubscriptions {
		c.subs = make(map[string]Subscription)
	}
	c.subs[string(query)] = sub
	return sub, nil
}
