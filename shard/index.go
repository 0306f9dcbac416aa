package shard

import "time"

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
	c.lastWrite = neverWritten
	for _, t := range c.sel.Topics {
		if !s.add(s.exact, t, false, c) {
			return
		}
	}
	for _, p := range c.sel.Patterns {
		if !s.add(s.patterns, p, true, c) {
			return
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

// add indexes c under name, subscribing on first use. On failure it removes c.
func (s *Shard) add(index map[string]*subscription, name string, pattern bool, c *client) bool {
	sub, ok := index[name]
	if !ok {
		subscribe := s.sub.Subscribe
		if pattern {
			subscribe = s.sub.PSubscribe
		}
		active, err := subscribe(name)
		if err != nil {
			s.remove(c, ReasonSubscribeFailed)
			return false
		}
		sub = &subscription{clients: make(map[*client]struct{}, 1), active: active}
		index[name] = sub
		s.subscriptions.Add(1)
	}
	if _, in := sub.clients[c]; !in && s.presenceDirty != nil {
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
	index := s.exact
	if m.pattern {
		index = s.patterns
	}
	sub := index[m.name]
	if sub == nil || sub.active {
		return // unsubscribed meanwhile, or a repeated confirmation
	}
	sub.active = true
	for c := range sub.clients {
		if c.pending--; c.pending == 0 {
			s.open(c)
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

// drop unindexes c from name, unsubscribing after the last local subscriber.
func (s *Shard) drop(index map[string]*subscription, name string, c *client, unsubscribe func(string)) {
	sub, ok := index[name]
	if !ok {
		return
	}
	if _, in := sub.clients[c]; in && s.presenceDirty != nil {
		// Not in: a join that failed before it reached name.
		s.countPresence(sub, name, c, -1)
	}
	delete(sub.clients, c)
	if len(sub.clients) == 0 {
		delete(index, name)
		unsubscribe(name)
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
	delete(s.waiting, c)
	for _, t := range c.sel.Topics {
		s.drop(s.exact, t, c, s.sub.Unsubscribe)
	}
	for _, p := range c.sel.Patterns {
		s.drop(s.patterns, p, c, s.sub.PUnsubscribe)
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
