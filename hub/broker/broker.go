// Package broker defines the contract between the hub's shards and the
// message brokers they run on (the embedded in-memory broker, and Redis).
//
// A broker assigns event ids, keeps history, and delivers each event to the
// shards that subscribed to one of its topics or to a pattern matching one.
// The shards never see a broker's types beyond this package.
package broker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
)

// ErrClosed is returned by a broker that has been closed.
var ErrClosed = errors.New("broker: closed")

// ErrIdempotencyMismatch is returned by Publish when its Idempotency key
// was used before for another request (another Digest): nothing of it was
// published.
var ErrIdempotencyMismatch = errors.New("broker: idempotency key reused for another request")

// Idempotency makes a publish safe to repeat: a publish with the Key of an
// earlier one, within TTL of it, publishes nothing and returns the earlier
// ids. Each event is remembered on its own, as Key and its index in the
// batch, so a repeat of a batch that was applied in part publishes just
// the rest.
//
// The zero value asks for no idempotency across calls; a broker that can
// send one publish twice by itself (Redis, whose client re-sends a
// pipeline after a read timeout while the first copy may still be queued)
// makes up a key of its own for each call.
type Idempotency struct {
	// Key names the publish: the same for every attempt of one logical
	// publish, unique otherwise. It must be safe in a Redis key (the
	// HTTP API uses a hex hash); empty means none.
	Key string
	// Digest fingerprints the request. A repeat with the same Key but
	// another Digest fails with ErrIdempotencyMismatch.
	Digest string
	// TTL is how long the events are remembered, from when they were
	// published. Zero means DefaultIdempotencyTTL.
	TTL time.Duration
}

// DefaultIdempotencyTTL is how long a publish is remembered when
// Idempotency.TTL is zero.
const DefaultIdempotencyTTL = 24 * time.Hour

// Publication is one event a publisher asks the hub to deliver. The broker
// assigns its id, encodes it once, and delivers it to every subscriber of any
// of its topics, at most once per connection even when several topics match.
type Publication struct {
	// Topics are exact topic names (never patterns), at least one.
	Topics []string
	// Event is the SSE event name. Empty means "message", which the wire omits.
	Event string
	// Data is the payload. Line breaks (CRLF, CR, LF) become separate data
	// lines on the wire, so subscribers see them as LF.
	Data []byte
	// Mercure is set on an update published through the Mercure front
	// door, whose Topics are then the mapped names of its topics
	// (hub/topic/mercuremap). Nil on native events.
	Mercure *Mercure
}

// Mercure is what an update published through the Mercure front door
// carries besides its frame (docs/mercure-design.md): its topics as the
// publisher wrote them, for matching and private checks in the shards,
// and the publisher's id. Brokers keep it with the event, live and in
// history, so that a replay on another hub or after a restart has it
// too. Immutable once published.
type Mercure struct {
	// Topics are the update's topics as published, in publish order, the
	// first canonical.
	Topics []string
	// ID is the id the publisher chose, the SSE id of the update; empty
	// when it chose none, and the hub's own id is sent as "#<id>".
	ID string
	// Private updates reach only streams granted one of Topics.
	Private bool
	// Retry is the reconnection time the update asks for, in
	// milliseconds; 0 for none.
	Retry int
}

// Message is a published event as the shards see it. It is immutable once a
// broker hands it out: every shard and every connection shares the same
// value and the same Frame bytes.
type Message struct {
	ID     eventid.ID
	Topics []string
	// Frame is the complete SSE frame (id, event, data lines, blank line),
	// encoded once for all recipients.
	Frame []byte
	// Trace is the W3C traceparent of the publish that produced the
	// message, if that was traced and sampled: each shard that delivers
	// the message records the delivery as a child span. Empty otherwise.
	Trace string
	// Mercure is set on an update of the Mercure front door, whose Frame
	// then has the update's SSE id (Mercure.ID, or "#" and ID). Nil on
	// native events: native streams never take a message that has it.
	Mercure *Mercure

	// The fields below matter only on a broker of several partitions
	// (Partitioned; docs/fleet-design.md), where ids are positions within
	// a partition and a stream's id is a cursor over all of them.

	// Partition is the partition the message came from: 0 on a broker of
	// one partition.
	Partition int
	// Cursor is the id of Frame: the position of the stream in every
	// partition once it has this message. A broker's live message has
	// none, and its Frame no id line: each shard writes its own cursor
	// into a copy of the frame. Replayed messages, and the shards' copies,
	// have one.
	Cursor eventid.Cursor
	// Body is the frame without its id line, on a message that has a
	// Cursor, so that a stream can be sent it under another cursor.
	Body []byte
	// Spread, for an event whose topics are in several partitions (so
	// published in each), is the partition of each of Topics. A stream
	// takes the copy from the lowest partition among the topics it
	// follows or matches. Nil for other events.
	Spread []int
}

// Partitioned is implemented by brokers whose ids are positions within
// one of several partitions (the Redis broker with more than one). A
// shard asks its broker for it when it is made: a broker that wraps
// another must implement it too, or the shard would order messages of
// different partitions by id as if they shared one sequence.
type Partitioned interface {
	// Partitions is how many there are: the length of every Cursor.
	Partitions() int
}

// Selection is what one connection follows: exact topics and '*' patterns.
type Selection struct {
	Topics   []string
	Patterns []string
}

// Takes reports whether a stream following sel takes m: every message but
// a copy of an event published in several partitions (Message.Spread), of
// which it takes the one from the lowest partition among the event's
// topics it follows or matches, so that it gets the event once.
func (sel Selection) Takes(m *Message) bool {
	if m.Spread == nil {
		return true
	}
	lowest := -1
	for i, t := range m.Topics {
		if (lowest < 0 || m.Spread[i] < lowest) && (slices.Contains(sel.Topics, t) || topic.MatchedByAny(sel.Patterns, t)) {
			lowest = m.Spread[i]
		}
	}
	return lowest == m.Partition
}

// Replay is the answer to a resume request. A broker may hand a long
// history out in pages, so that a resume costs the hub a page of memory
// rather than the whole history (issue 16, item 5): Messages is the first
// page and Next reads the others.
type Replay struct {
	// Messages are the retained events after the resume point that match the
	// selection, in id order, each once: all of them when Next is nil, the
	// first page otherwise. Empty when Reset is set.
	Messages []*Message
	// Next, when non-nil, returns the page after the last one returned:
	// events in id order, each newer than every event of the pages
	// before, so that across the pages each event comes once. An empty
	// page means the replay is complete; Next is not called again then.
	//
	// The caller calls Next only once it has written the page before, and
	// from one goroutine at a time: holding no more than one page is what
	// bounds a resume's memory (a broker's page is about a MiB; see its
	// documentation). An error ends the replay with the events written so
	// far, which are a prefix of it in id order: the client resumes from
	// the last of them and gets the rest, or a reset. Next holds no
	// resources between calls, so a caller may stop calling it at any
	// time. Nil when Messages holds everything or Reset is set.
	Next func(ctx context.Context) ([]*Message, error)
	// Reset, when non-nil, is an encoded "ssehub.reset" event to send instead
	// of Messages: the resume point cannot be served (older than retention,
	// from a lost history, or not an id this hub issued). On a partitioned
	// broker it may come with Messages, to send after it: it then covers
	// only the partitions that cannot serve the resume, and names their
	// topics (docs/fleet-design.md).
	Reset *Message
	// Head is the newest id the broker had assigned when the replay was
	// taken. Live messages with ids up to Head are covered by the replay (or
	// by the reset) and must be skipped, so nothing arrives twice. No page
	// holds an event newer than Head: those come live.
	Head eventid.ID
	// HeadCursor is Head on a partitioned broker: each partition's
	// newest id, where live messages are skipped up to their partition's.
	// Head is zero then.
	HeadCursor eventid.Cursor
}

// Sink receives a shard's messages. The shard implements it.
type Sink interface {
	// Deliver hands over one message. Brokers call it from one goroutine per
	// subscriber, in id order, and it may block while the shard's mailbox is
	// full: that is the broker's backpressure, never a drop. A partitioned
	// broker whose subscribers hold a connection per partition calls it
	// from one goroutine per partition, in id order within each.
	Deliver(m *Message)
	// Subscribed reports that a subscription that Subscribe or PSubscribe
	// left pending is now active. Called from a goroutine that calls
	// Deliver (on a partitioned broker, after Observed of the
	// subscription's partitions).
	Subscribed(name string, pattern bool)
	// Observed reports, on a partitioned broker, that every message of
	// partition up to head that the subscriber follows has been
	// delivered: the shard's cursor may stand at head there. Called from
	// the same goroutine as Deliver of that partition, after those
	// messages, and before Subscribed of the subscription that asked.
	Observed(partition int, head eventid.ID)
	// Lost reports that messages may have been lost and history cannot
	// fill the gap (it expired meanwhile). The shard ends every stream, so
	// that each resumes on its own and gets what it missed or a reset:
	// never a silent skip.
	Lost()
}

// Subscriber is one shard's subscription to a broker (for Redis: one pub/sub
// connection). Only the owning shard's goroutine calls its methods, and they
// never wait on the network: the shard loop must not stall. The shard
// reference-counts its clients, so each name is subscribed at most once at
// a time.
type Subscriber interface {
	// Subscribe starts delivery of events published to the exact topic. It
	// reports active when the subscription is already in force: every event
	// published from now on is delivered. Otherwise the broker calls
	// Sink.Subscribed once it is; events before that may be missed.
	Subscribe(topic string) (active bool, err error)
	// Unsubscribe stops delivery for the exact topic.
	Unsubscribe(topic string)
	// PSubscribe is Subscribe for a '*' pattern.
	PSubscribe(pattern string) (active bool, err error)
	// PUnsubscribe is Unsubscribe for a '*' pattern.
	PUnsubscribe(pattern string)
	// Close ends every subscription of this subscriber.
	Close()
}

// Broker is what the hub runs on.
type Broker interface {
	// Publish assigns ids to pubs in order, appends them to history and
	// delivers them. It returns the ids in request order. With an
	// Idempotency key, the events already published under it are not
	// published again: their first ids are returned.
	Publish(ctx context.Context, pubs []Publication, idem Idempotency) ([]eventid.ID, error)
	// NewSubscriber returns a subscription that delivers into sink.
	NewSubscriber(sink Sink) (Subscriber, error)
	// Replay answers a resume from lastEventID (as the client sent it,
	// untrusted) for the selection. A subscriber must already be subscribed
	// to the selection, so that replay and live delivery leave no gap. The
	// decision to reset comes before any event: a Replay with messages is
	// never followed by a reset in a later page.
	Replay(ctx context.Context, sel Selection, lastEventID string) (Replay, error)
	// Ping reports whether the broker can serve (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the broker's resources.
	Close() error
}

// PublisherIDs is implemented by brokers that remember the ids Mercure
// publishers chose (Mercure.ID), so that a stream may resume from one.
// Both brokers do.
type PublisherIDs interface {
	// LookupPublisherID returns the hub's id of the newest event published
	// with publisher id pid, while it is within history's age limit; ok
	// is false for an id the broker does not know (never used, or
	// forgotten with its event).
	LookupPublisherID(ctx context.Context, pid string) (id eventid.ID, ok bool, err error)
}

// RetainedReplayer is implemented by brokers that can replay all the
// history they still hold for a selection, whatever it lost before: what
// a Mercure subscriber asks for with "earliest" (draft-07 §7, draft-08
// §7). Both brokers do, at one partition.
type RetainedReplayer interface {
	// ReplayRetained returns the retained events that match sel, in id
	// order, as Replay does after a resume point older than them all, but
	// never a reset: whatever history dropped is simply not there.
	ReplayRetained(ctx context.Context, sel Selection) (Replay, error)
}

// Stats counts what a broker went through that the shards cannot see: a
// networked broker's reconnects, probes and gap fills, and its replays.
type Stats struct {
	Reconnects    uint64 // subscription connections re-established
	GapFills      uint64 // replays run after a reconnect
	GapMessages   uint64 // messages delivered by those replays
	GapLosses     uint64 // gaps history could not fill; the shard's streams were ended to resume
	ProbeFailures uint64 // silent connections found by a probe
	Replays       uint64 // resume replays served
	Resets        uint64 // resume requests answered with ssehub.reset
	// CongestionErrors counts failed exchanges of congestion with the
	// fleet (CongestionSharer).
	CongestionErrors uint64
	// OthersCongested: another hub of the fleet is congested now, so this
	// one holds publishes back too (CongestionSharer).
	OthersCongested bool
}

// StatsReporter is implemented by brokers that count their own work (the
// Redis broker), for metrics. Safe to call from any goroutine.
type StatsReporter interface {
	Stats() Stats
}

// HistoryStats describes what a broker that keeps history in the hub's
// own memory holds.
type HistoryStats struct {
	Events int // events retained
	Bytes  int // what they count against the budget
	Budget int // the most Bytes may reach
	// BudgetDrops counts events dropped early to stay within the budget.
	BudgetDrops uint64
}

// HistoryReporter is implemented by brokers that keep history in the
// hub's memory (the embedded broker), for metrics. Safe to call from any
// goroutine.
type HistoryReporter interface {
	HistoryStats() HistoryStats
}

// OutageReporter is implemented by brokers that know, without a round
// trip, that they cannot take new subscriptions now: the Redis broker while
// its pub/sub connections are being re-established (Redis down or
// unreachable). Down is safe to call from any goroutine and cheap.
type OutageReporter interface {
	Down() bool
}

// CongestionSharer is implemented by brokers that several hubs share (the
// Redis broker). A hub holds publishes back while one of its own shards is
// congested; through the broker it also does while another hub's is, since
// the events it accepts reach that hub's streams too.
type CongestionSharer interface {
	// ShareCongestion starts sharing. The broker calls others with true
	// when another hub of the fleet becomes congested and with false when
	// none is any more, from a goroutine of its own, until it is closed.
	// It returns self, which the hub calls with its own state on each
	// change; self does not block.
	ShareCongestion(others func(congested bool)) (self func(congested bool))
}
