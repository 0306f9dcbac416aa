package shard

import (
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/topic"
)

// DefaultPresenceFlush is Config.PresenceFlush when it is zero.
const DefaultPresenceFlush = 250 * time.Millisecond

// presenceKey names one user's streams on one exact topic or pattern; a
// pattern has a '*', which no exact topic has, so they cannot be confused.
type presenceKey struct {
	name, user string
}

// countPresence adds delta to c's user's count under name (sub is name's
// entry in the index) and marks it for the next flush. Runs on the shard
// loop, only when presence is on: a connect costs one map update per topic
// of the stream, and nothing is sent until the tick (flushPresence), so a
// connect storm costs the store one batch per tick, not a write per
// stream.
func (s *Shard) countPresence(sub *subscription, name string, c *client, delta int32) {
	if sub.users == nil {
		sub.users = make(map[string]int32, 1)
	}
	n := sub.users[c.user] + delta
	if n <= 0 {
		delete(sub.users, c.user)
	} else {
		sub.users[c.user] = n
	}
	s.presenceDirty[presenceKey{name, c.user}] = struct{}{}
}

// presenceCount is the shard's count of user's streams on name now.
func (s *Shard) presenceCount(k presenceKey) int {
	index := s.exact
	if topic.IsPattern(k.name) {
		index = s.patterns
	}
	if sub := index[k.name]; sub != nil {
		return int(sub.users[k.user])
	}
	return 0
}

// flushPresence hands the counts that changed since the last flush to the
// tracker. A tracker whose queue is full takes nothing; the marks stay, and
// the next tick offers the counts of then: counts are absolute, so nothing
// is lost by waiting.
func (s *Shard) flushPresence() {
	if len(s.presenceDirty) == 0 {
		return
	}
	entries := make([]broker.PresenceEntry, 0, len(s.presenceDirty))
	for k := range s.presenceDirty {
		entries = append(entries, broker.PresenceEntry{Topic: k.name, User: k.user, Streams: s.presenceCount(k)})
	}
	if s.cfg.Presence.Update(s.cfg.PresenceShard, entries) {
		clear(s.presenceDirty)
		s.presenceFlushes.Add(1)
	} else {
		s.presenceDeferred.Add(1)
	}
}
