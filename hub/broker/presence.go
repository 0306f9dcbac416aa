package broker

import (
	"context"
	"errors"
	"time"
)

// Presence is who is connected to a topic, across every hub of a fleet
// (issue 18). The shards count their streams per exact topic (and per
// pattern, under the pattern's own name: a stream that follows "news/*"
// counts for "news/*", not for the topics it matches, which could only be
// found by scanning) and per user subject, and hand the counts that changed
// to a PresenceTracker at most once per tick; a PresenceStore answers
// queries over what every hub's tracker recorded.

// ErrBadCursor is returned by PresenceStore.PresenceMembers for a cursor
// that the store did not hand out.
var ErrBadCursor = errors.New("broker: bad presence cursor")

// PresenceEntry is one shard's count of one user's streams on one topic or
// pattern. Counts are absolute, not deltas, so that an entry written twice
// (a retry after a timeout) or late (after a newer one was lost) does no
// harm: the newest entry for a key wins.
type PresenceEntry struct {
	// Topic is an exact topic, or a pattern as its streams named it.
	Topic string
	// User is the stream's subject; empty for anonymous streams, which
	// count as streams but not as users.
	User string
	// Streams is how many of the user's streams on the shard follow Topic
	// now; zero means none any more.
	Streams int
}

// PresenceTracker takes a hub's counts to its PresenceStore. The hub
// creates one (PresenceStore.TrackPresence) and its shards call Update from
// their loops.
type PresenceTracker interface {
	// Update records the entries of shard (0 to the hub's shard count - 1)
	// and takes ownership of the slice. It never blocks: false means it
	// took nothing (its queue is full), and the shard offers the entries
	// again at its next tick.
	Update(shard int, entries []PresenceEntry) bool
	// Close removes what this hub recorded, so that a hub that stops
	// cleanly leaves presence at once, and stops the tracker's
	// goroutines. Call it once the shards have stopped.
	Close()
}

// PresenceConfig tunes a PresenceTracker.
type PresenceConfig struct {
	// TTL is how long a hub's records outlive it when it dies without
	// closing its tracker (kill -9, a lost network): a networked store
	// drops them within TTL of the last refresh, and refreshes them every
	// TTL/3. Zero means DefaultPresenceTTL.
	TTL time.Duration
	// Events, if not nil, says for which exact topics the store
	// publishes join and leave events: when a user's first stream on the
	// topic opens on any hub, an event named PresenceJoin, and when their
	// last one closes, PresenceLeave, each to the topic's companion
	// (PresencePrefix + topic), in the order of the changes, with data
	// {"topic":T,"user":U}. Every hub of a fleet must say the same.
	Events func(topic string) bool
}

// PresencePrefix starts the companion topic of a topic's join and leave
// events: "presence:room" for "room". A topic is at most 256 bytes, so a
// topic longer than 256 - len(PresencePrefix) has no events.
const PresencePrefix = "presence:"

// PresenceJoin and PresenceLeave are the SSE event names of join and leave
// events. The "ssehub." prefix is the hub's: no publisher may use it, so a
// client can trust that the hub sent them.
const (
	PresenceJoin  = "ssehub.join"
	PresenceLeave = "ssehub.leave"
)

// DefaultPresenceTTL is PresenceConfig.TTL when it is zero.
const DefaultPresenceTTL = 30 * time.Second

// TopicPresence counts who follows one topic or pattern.
type TopicPresence struct {
	Streams int64 // streams that follow it, anonymous ones included
	Users   int64 // distinct user subjects among them
}

// PresenceMember is one user following a topic.
type PresenceMember struct {
	User    string
	Streams int64
}

// PresencePage is one page of a topic's users.
type PresencePage struct {
	Members []PresenceMember
	// Cursor asks for the next page; empty when this page is the last.
	Cursor string
}

// PresenceStore is implemented by brokers that keep presence: the embedded
// broker in memory, Redis for a fleet. Safe to call from any goroutine.
type PresenceStore interface {
	// TrackPresence returns the tracker of this hub. A hub calls it once.
	TrackPresence(cfg PresenceConfig) PresenceTracker
	// TopicPresence counts the streams and users following topic (an
	// exact topic or a pattern) on every hub.
	TopicPresence(ctx context.Context, topic string) (TopicPresence, error)
	// MemberPresence returns how many streams of user follow topic on
	// every hub; zero when none.
	MemberPresence(ctx context.Context, topic, user string) (int64, error)
	// PresenceMembers lists the users following topic, about limit at a
	// time, from cursor (empty for the first page). A user may appear on
	// two pages while the topic's users change between them, never on
	// none if it follows the topic throughout.
	PresenceMembers(ctx context.Context, topic, cursor string, limit int) (PresencePage, error)
}

// PresenceStats counts a tracker's work, for metrics.
type PresenceStats struct {
	// Members is how many (shard, topic, user) counts this hub has in the
	// store (anonymous streams of a shard on a topic count as one).
	Members int64
	// Batches counts the writes to the store (a Redis pipeline each).
	Batches uint64
	// Errors counts writes and refreshes the store refused or did not
	// answer; they are retried at the next tick.
	Errors uint64
}

// PresenceReporter is implemented by trackers that count their work. Safe
// to call from any goroutine.
type PresenceReporter interface {
	PresenceStats() PresenceStats
}
