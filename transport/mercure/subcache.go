package mercure

import (
	"sync"

	"github.com/ssehub/ssehub/shard"
)

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
	subs map[string]cachedSubscription // guarded by mu
}

// cachedSubscription is a query's parse, and the MercureStream of its
// anonymous streams (no grants), which they share: the shard does not
// modify it.
type cachedSubscription struct {
	sub       Subscription
	anonymous *shard.MercureStream
}

// parse is ParseSubscription(string(query), string(lastEventID), limits),
// from the cache when it can be, and, when the answer is the cache's, the
// MercureStream its anonymous streams share (else nil). A door's limits
// never change, so they are not part of the key. cacheable is false for
// a query that the answer must not be kept for, such as one with a token
// (the authorization parameter).
func (c *subscriptionCache) parse(query, lastEventID []byte, limits SubscribeOptions, cacheable bool) (Subscription, *shard.MercureStream, error) {
	cacheable = cacheable && len(lastEventID) == 0
	if cacheable {
		c.mu.RLock()
		e, ok := c.subs[string(query)]
		c.mu.RUnlock()
		if ok {
			return e.sub, e.anonymous, nil
		}
	}
	sub, err := ParseSubscription(string(query), string(lastEventID), limits)
	if err != nil || !cacheable || sub.LastEventID != "" {
		// A resume point in the query is one reconnection's.
		return sub, nil, err
	}
	e := cachedSubscription{sub: sub, anonymous: &shard.MercureStream{Selectors: sub.Selectors, Head: resumeHead{}}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs == nil || len(c.subs) >= maxCachedSubscriptions {
		c.subs = make(map[string]cachedSubscription)
	}
	c.subs[string(query)] = e
	return e.sub, e.anonymous, nil
}
