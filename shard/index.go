package shard

import (
	"time"

	"github.com/ssehub/ssehub/hub/topic"
)

// subscription is one exact topic or pattern that local clients follow.
type subscription struct {
	clients map[*client]struct{}
	// active: the broker confirmed it. Until then its clients wait, since
	// events published meanwhile might not reach them.
	active bool
	// users counts the streams of each user subject ("" for anonymous)
	// among clients; nil while presence is off or nobody was counted.
	users map[string]int32
}

// subscribed is the broker's word that a pending subscription is active.
type subscribed struct {
	name    string
	pattern bool
}

// join adds c to the index, subscribing at the broker to names that had no
// local subscriber yet. The stream opens once all of them are active.
func (s *Shard) join(c *client) {
	s.clients.Add(1)
	s.registerWithRing(c)
	s.peers.watch(c)
	c.bucket = s.nextBucket
	s.nextBucket = (s.nextBucket + 1) % heartbeatBuckets
	s.buckets[c.bucket][c] = struct{}{}
	s.watchExpiry(c)
	c.lastWrite = neverWritten
	if c.joining != nil {
		if !s.joinMercure(c) {
			return
		}
	} else {
		for _, t := range c.sel.Topics {
			if !s.add(exactIndex, t, c) {
				return
			}
		}
		for _, p := range c.sel.Patterns {
			if !s.add(patternIndex, p, c) {
				return
			}
		}
	}
	if c.pending == 0 {
		s.open(c)
		return
	}
	c.joinedAt = time.Now()
	s.waiting[c] = struct{}{}
}

// open queues joinedMarker, from which the flusher writes the head and any
// replay: every subscription of c is active now.
func (s *Shard) open(c *client) {
	delete(s.waiting, c)
	c.queue <- joinedMarker // cannot block: nothing is queued before it
	s.wake(c)
	if c.onOpen != nil {
		c.onOpen()
	}
}

// indexKind names one of the shard's indexes of subscriptions.
type indexKind uint8

const (
	exactIndex   indexKind = iota // native streams' exact topics: s.exact
	patternIndex                  // native streams' patterns: s.patterns
	mercureIndex                  // Mercure streams' exact mapped topics: s.mexact
	// carrierIndex holds the carriers of Mercure streams' matchers and
	// mercuremap.RouteTopic (s.carriers): subscribed at the broker for
	// the streams that hold them, never walked by a dispatch.
	carrierIndex
)

// index returns the map of kind k.
func (s *Shard) index(k indexKind) map[string]*subscription {
	switch k {
	case exactIndex:
		return s.exact
	case patternIndex:
		return s.patterns
	case mercureIndex:
		return s.mexact
	}
	return s.carriers
}

// isPattern reports whether name is subscribed at the broker as a pattern
// in the index of kind k. Carriers always have a '*' (mercuremap.Carrier)
// and RouteTopic none.
func isPattern(k indexKind, name string) bool {
	return k == patternIndex || k == carrierIndex && topic.IsPattern(name)
}

// twin returns the subscription to name, as a pattern or not as in index
// k, that an index other than k holds, if any. Native and Mercure streams
// are indexed apart, so that a dispatch never offers a message of one
// kind to the other, but the broker knows one subscription per name:
// whichever index holds the name first subscribes it, and the last one to
// let it go unsubscribes.
func (s *Shard) twin(k indexKind, name string) *subscription {
	pattern := isPattern(k, name)
	for o := exactIndex; o <= carrierIndex; o++ {
		if o != k && isPattern(o, name) == pattern {
			if sub := s.index(o)[name]; sub != nil {
				return sub
			}
		}
	}
	return nil
}

// add indexes c under name in the index of kind k, subscribing on first
// use. On failure it removes c.
func (s *Shard) add(k indexKind, name string, c *client) bool {
	index := s.index(k)
	sub, ok := index[name]
	if !ok {
		var active bool
		if twin := s.twin(k, name); twin != nil {
			active = twin.active
		} else {
			subscribe := s.sub.Subscribe
			if isPattern(k, name) {
				subscribe = s.sub.PSubscribe
			}
			var err error
			if active, err = subscribe(name); err != nil {
				s.remove(c, ReasonSubscribeFailed)
				return false
			}
			s.subscriptions.Add(1)
		}
		sub = &subscription{clients: make(map[*client]struct{}, 1), active: active}
		index[name] = sub
	}
	// Presence counts native streams; Mercure's active subscriptions
	// are to be built on it separately (docs/mercure-design.md).
	if _, in := sub.clients[c]; !in && s.presenceDirty != nil && c.mercure == nil {
		s.countPresence(sub, name, c, 1)
	}
	sub.clients[c] = struct{}{}
	if !sub.active {
		c.pending++
	}
	return true
}

// activate marks a confirmed subscription active and opens the clients that
// waited only for it.
func (s *Shard) activate(m subscribed) {
	// Every index that holds the name shares the one subscription (twin).
	for k := exactIndex; k <= carrierIndex; k++ {
		sub := s.index(k)[m.name]
		if sub == nil || sub.active || isPattern(k, m.name) != m.pattern {
			continue // unsubscribed meanwhile, or a repeated confirmation
		}
		sub.active = true
		for c := range sub.clients {
			if c.pending--; c.pending == 0 {
				s.open(c)
			}
		}
	}
}

// expireWaiting drops streams whose subscriptions were not confirmed in time.
func (s *Shard) expireWaiting(now time.Time) {
	for c := range s.waiting {
		if now.Sub(c.joinedAt) > s.cfg.SubscribeTimeout {
			s.remove(c, ReasonSubscribeFailed)
		}
	}
}

// drop unindexes c from name in the index of kind k, unsubscribing after
// the last local subscriber of any index.
func (s *Shard) drop(k indexKind, name string, c *client) {
	index := s.index(k)
	sub, ok := index[name]
	if !ok {
		return
	}
	if _, in := sub.clients[c]; in && s.presenceDirty != nil && c.mercure == nil {
		// Not in: a join that failed before it reached name.
		s.countPresence(sub, name, c, -1)
	}
	delete(sub.clients, c)
	if len(sub.clients) == 0 {
		delete(index, name)
		if s.twin(k, name) != nil {
			return // still subscribed for another index
		}
		if isPattern(k, name) {
			s.sub.PUnsubscribe(name)
		} else {
			s.sub.Unsubscribe(name)
		}
		s.subscriptions.Add(-1)
	}
}

// remove ends c's stream: unindex it, close its queue so its flusher stops,
// and close its conn so a flusher blocked on a stuck peer returns at once.
func (s *Shard) remove(c *client, reason Reason) {
	if c.removed {
		return
	}
	c.removed = true
	delete(s.buckets[c.bucket], c)
	s.unwatchExpiry(c)
	delete(s.waiting, c)
	if c.mercure != nil {
		s.leaveMercure(c)
	} else {
		for _, t := range c.sel.Topics {
			s.drop(exactIndex, t, c)
		}
		for _, p := range c.sel.Patterns {
			s.drop(patternIndex, p, c)
		}
	}
	close(c.queue)
	s.unregisterFromRing(c)
	s.peers.unwatch(c) // before the close, which frees the descriptor for reuse
	_ = c.conn.Close()
	s.clients.Add(-1)
	s.ended[reason].Add(1)
	if c.onEnd != nil {
		c.onEnd(reason)
	}
}

// removeAll removes every client.
func (s *Shard) removeAll(reason Reason) {
	for _, b := range s.buckets {
		for c := range b {
			s.remove(c, reason)
		}
	}
}
