// Package redisbroker runs the hub on Redis: ids and history in Redis
// Streams, delivery over pub/sub, so that any number of hub processes act as
// one (docs/protocol.md#delivery-semantics). It works on a standalone Redis,
// Sentinel and Cluster.
package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/transport"
)

// Config configures the Redis broker. Zero fields take the
// documented defaults.
type Config struct {
	// Client reaches Redis: standalone, Sentinel or Cluster. The broker does
	// not close it.
	Client redis.UniversalClient
	// Prefix namespaces every key and channel, so several hubs can share
	// one Redis. Zero means "ssehub". It must pass ValidatePrefix.
	Prefix string
	// HistorySize is how many events each topic keeps for resume; a topic
	// may hold up to 10% more between trims. Zero means 1000; negative
	// keeps none.
	HistorySize int
	// HistoryTTL is how long an event is kept for resume. Zero means 1h.
	HistoryTTL time.Duration
	// ReplayPageBytes is about how many bytes of history one page of a
	// resume (or of a gap fill) reads, over all its topics: what a resume
	// costs the hub in memory, whatever the history holds. A page holds
	// at least one event of each topic still being read, and may exceed
	// it once when events grow larger than any the resume has seen
	// (maxPageCount). Zero means DefaultReplayPageBytes (512 KiB).
	ReplayPageBytes int
	// PubSubConns is how many pub/sub connections the broker's subscribers
	// (one per shard) share, dealt round robin. Zero gives each subscriber
	// its own. Redis sends a message once per connection subscribed to its
	// channel, so fewer connections cut Redis's work per broadcast; the
	// shards on one connection wait for each other when one's mailbox is
	// full (docs/capacity.md).
	PubSubConns int
	// ProbeInterval is how long a shard's pub/sub connection may stay
	// silent before the broker checks it end to end with a probe message.
	// Zero means 5s.
	ProbeInterval time.Duration
	// CongestionPoll is how often a hub tells the fleet whether it is
	// congested and hears whether another hub is (ShareCongestion), besides
	// at once when its own state changes. Zero means 100ms.
	CongestionPoll time.Duration
	// Logger receives reconnects and probe failures; nil means slog.Default().
	Logger *slog.Logger
	// Tracer traces publishes (a producer span each), and makes their
	// envelopes carry the trace to the shards of every process. Nil traces
	// nothing.
	Tracer *telemetry.Tracer
}

// Broker is the Redis broker. Create it with New.
//
// All keys of one prefix share a Redis Cluster hash slot ({prefix}), so one
// Lua script can assign an id, append it to every topic's stream and
// publish it atomically. Channels are not slot-bound: classic PUBLISH
// reaches subscribers on every cluster node.
type Broker struct {
	cfg     Config
	client  redis.UniversalClient
	keys    keyspace
	log     *slog.Logger
	stats   counters
	replays *replayCoalescer
	// reconnecting counts subscribers re-establishing their pub/sub
	// connection; the hub is not ready meanwhile.
	reconnecting atomic.Int64

	// connsMu guards conns and taps: the shared pub/sub connections
	// (Config.PubSubConns), created as subscribers come, and how many
	// subscribers were dealt so far.
	connsMu sync.Mutex
	conns   []*subscriber
	taps    int

	closed     chan struct{} // closed by Close
	closeOnce  sync.Once
	background sync.WaitGroup // the congestion loop, if shared
}

// keyspace names the broker's keys and channels.
type keyspace struct {
	last    string // the newest id assigned
	origin  string // the first id of this history; gone if Redis lost its data
	topics  string // sorted set: topic -> ms of its newest event
	stream  string // prefix of a topic's stream key
	channel string // prefix of a topic's channel
	probe   string // prefix of the probe channels
	// idem prefixes the records of a publish under an idempotency key:
	// "<idem><key>:<index in the batch of the chunk's first event>".
	idem string
	// congested is the sorted set of the hubs that are congested, scored
	// by when their record expires (congestion.go).
	congested string
	// presence prefixes the presence keys (presence.go); presenceHubs
	// and presenceStreams are two of them.
	presence, presenceHubs, presenceStreams string
}

// newKeyspace names the keys and channels of prefix. ValidatePrefix keeps
// them apart from those of any other prefix: keys start "{prefix}:", where
// the first '}' ends the prefix, and channels start "prefix:", where the
// first ':' does.
func newKeyspace(prefix string) keyspace {
	tag := "{" + prefix + "}"
	return keyspace{
		last:    tag + ":last",
		origin:  tag + ":origin",
		topics:  tag + ":topics",
		stream:  tag + ":t:",
		channel: prefix + ":c:",
		probe:   prefix + ":probe:",
		idem:    tag + ":idem:",
		// In the slot of the other keys, so a Cluster can run its
		// script like theirs.
		congested:       tag + ":congested",
		presence:        tag + ":p:",
		presenceHubs:    tag + ":p:hubs",
		presenceStreams: tag + ":p:n",
	}
}

// New returns a broker on cfg.Client. It checks the connection, but a Redis
// that does not answer yet is only logged: the broker is not ready (Ping)
// until it does.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.Client == nil {
		return nil, errors.New("redis broker: no client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "ssehub"
	}
	if err := ValidatePrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("redis broker prefix: %w", err)
	}
	cfg.HistorySize, cfg.HistoryTTL = transport.Retention(cfg.HistorySize, cfg.HistoryTTL)
	if cfg.ReplayPageBytes <= 0 {
		cfg.ReplayPageBytes = DefaultReplayPageBytes
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = 5 * time.Second
	}
	if cfg.CongestionPoll <= 0 {
		cfg.CongestionPoll = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Broker{cfg: cfg, client: cfg.Client, keys: newKeyspace(cfg.Prefix), log: cfg.Logger,
		replays: newReplayCoalescer(2 * time.Millisecond), closed: make(chan struct{})}
	if err := b.Ping(ctx); err != nil {
		// Redis may come later: a hub that exited here would crash-loop
		// under an orchestrator until it did. It starts, reports not
		// ready (Ping), and its shards' pub/sub connections subscribe
		// once Redis answers.
		b.log.Warn("redis unreachable at start; not ready until it answers", "err", err)
	} else {
		b.checkMemoryPolicy(ctx)
	}
	return b, nil
}

// ValidatePrefix reports whether p can be a Config.Prefix: a valid exact
// topic (topic.ValidateTopic) without ':'.
//
// ':' ends the prefix in every channel name ("prefix:c:<topic>"), and
// topics may contain ':'. A prefix with one could thus name another's
// channels: prefix "t1:c:x" publishes topic "news" on "t1:c:x:c:news",
// which is topic "x:c:news" of prefix "t1", and "t1"'s pattern "*"
// (PSUBSCRIBE "t1:c:*") would receive it, with ids from another sequence
// that make it drop its own events as duplicates.
func ValidatePrefix(p string) error {
	if err := topic.ValidateTopic(p); err != nil {
		return fmt.Errorf("must be a valid topic without ':': %w", err)
	}
	if i := strings.IndexByte(p, ':'); i >= 0 {
		return fmt.Errorf("must not contain ':', got %q (offset %d): "+
			"':' ends the prefix in Redis channel names, so such a prefix could overlap another's", p, i)
	}
	return nil
}

// Replay implements broker.Broker. It reads history in pages of about
// Config.ReplayPageBytes (Replay.Next). Identical requests arriving within
// 2ms share one read when it fits in one page (see replayCoalescer).
func (b *Broker) Replay(ctx context.Context, sel broker.Selection, lastEventID string) (broker.Replay, error) {
	return b.replays.do(sel, lastEventID, func() (broker.Replay, error) {
		return b.readReplay(ctx, sel, lastEventID)
	})
}

// readReplay reads the head first and history up to the head, so events
// after the head come only live and events up to it only from here.
func (b *Broker) readReplay(ctx context.Context, sel broker.Selection, lastEventID string) (broker.Replay, error) {
	head, origin, err := b.headAndOrigin(ctx)
	if err != nil {
		return broker.Replay{}, err
	}
	after, err := eventid.Parse(lastEventID)
	switch {
	case err != nil:
		return b.reset(transport.ResetUnknownID, lastEventID, head), nil
	case origin.IsZero() || after.Less(origin):
		// No origin: Redis lost its data (or nothing was ever published,
		// in which case no client can hold an id of ours).
		return b.reset(transport.ResetHistoryLost, lastEventID, head), nil
	case head.Less(after):
		return b.reset(transport.ResetUnknownID, lastEventID, head), nil
	}
	return b.readSince(ctx, sel, after, head, lastEventID)
}

// headAndOrigin reads the newest id and the first id of the current
// history; zero values when Redis holds none.
func (b *Broker) headAndOrigin(ctx context.Context) (head, origin eventid.ID, err error) {
	var headCmd, originCmd *redis.StringCmd
	_, err = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		headCmd = p.Get(ctx, b.keys.last)
		originCmd = p.Get(ctx, b.keys.origin)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return head, origin, fmt.Errorf("redis replay: %w", err)
	}
	head, _ = eventid.Parse(headCmd.Val())
	origin, _ = eventid.Parse(originCmd.Val())
	return head, origin, nil
}

// gapFill returns what a subscriber that last delivered last has missed
// for sel, in pages like a resume, or ok false when history cannot tell
// (it expired).
func (b *Broker) gapFill(ctx context.Context, sel broker.Selection, last eventid.ID) (r broker.Replay, ok bool, err error) {
	head, origin, err := b.headAndOrigin(ctx)
	switch {
	case err != nil:
		return r, false, err
	case origin.IsZero():
		return r, true, nil // Redis restarted empty and nothing was published since
	case last.Less(origin):
		// Redis lost the history after last: everything published since
		// is in the new one, from its origin on.
		last = origin.Prev()
	}
	r, err = b.readSince(ctx, sel, last, head, last.String())
	if err != nil || r.Reset != nil {
		return broker.Replay{}, false, err
	}
	return r, true, nil
}

// readSince reads the events after after and up to head for sel, or a
// reset when retention dropped some of them. It decides the reset from
// every candidate stream's XINFO before it reads any event, then reads the
// first page; the replay's Next reads the others.
func (b *Broker) readSince(ctx context.Context, sel broker.Selection, after, head eventid.ID, lastEventID string) (broker.Replay, error) {
	horizon := uint64(time.Now().Add(-b.cfg.HistoryTTL).UnixMilli())
	mayHaveExpired := after.Time < horizon
	if mayHaveExpired && len(sel.Patterns) > 0 {
		return b.reset(transport.ResetExpired, lastEventID, head), nil
	}
	// Candidates: the selected exact topics, and the topics matching a
	// pattern that had an event since the resume point.
	candidates := slices.Clone(sel.Topics)
	if len(sel.Patterns) > 0 {
		recent, err := b.client.ZRangeByScore(ctx, b.keys.topics, &redis.ZRangeBy{
			Min: strconv.FormatUint(after.Time, 10), Max: "+inf"}).Result()
		if err != nil {
			return broker.Replay{}, fmt.Errorf("redis replay: %w", err)
		}
		for _, t := range recent {
			if !slices.Contains(candidates, t) && topic.MatchedByAny(sel.Patterns, t) {
				candidates = append(candidates, t)
			}
		}
	}
	infos := make([]*redis.XInfoStreamCmd, len(candidates))
	newest := make([]*redis.FloatCmd, len(candidates))
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range candidates {
			infos[i] = p.XInfoStream(ctx, b.keys.stream+t)
			newest[i] = p.ZScore(ctx, b.keys.topics, t)
		}
		return nil
	})
	if errors.Is(err, redis.Nil) {
		err = nil // a topic with no recent event: ZSCORE's nil answer
	}
	if err != nil && !isNoSuchKey(err) {
		return broker.Replay{}, fmt.Errorf("redis replay: %w", err)
	}
	p := &pager{b: b, head: head, last: after}
	for i, t := range candidates {
		info, err := infos[i].Result()
		if err != nil {
			if mayHaveExpired && isNoSuchKey(err) {
				return b.reset(transport.ResetExpired, lastEventID, head), nil // it may have expired whole
			}
			// The topic index says when the topic last had an event. One
			// since the resume point (or in its millisecond) whose stream
			// is gone within the TTL was evicted by Redis (maxmemory):
			// its history is lost, and saying nothing would skip it.
			if ms, zerr := newest[i].Result(); isNoSuchKey(err) && zerr == nil && uint64(ms) >= after.Time {
				return b.reset(transport.ResetExpired, lastEventID, head), nil
			}
			continue
		}
		deleted, _ := eventid.Parse(info.MaxDeletedEntryID)
		first, _ := eventid.Parse(info.FirstEntry.ID)
		if after.Less(deleted) || (mayHaveExpired && after.Less(first)) {
			return b.reset(transport.ResetExpired, lastEventID, head), nil
		}
		if newest, _ := eventid.Parse(info.LastEntry.ID); after.Less(newest) {
			p.streams = append(p.streams, &streamCursor{key: b.keys.stream + t, after: after})
			// The first page's COUNT is sized from these, the only
			// entries seen yet.
			p.largest = max(p.largest, entrySize(info.FirstEntry), entrySize(info.LastEntry))
		}
	}
	msgs, err := p.next(ctx)
	if err != nil {
		return broker.Replay{}, err
	}
	b.stats.replays.Add(1)
	r := broker.Replay{Messages: msgs, Head: head}
	if !p.finished() {
		r.Next = p.next
	}
	return r, nil
}

// isNoSuchKey reports Redis's answer to XINFO STREAM on a missing key.
func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

func (b *Broker) reset(reason, lastEventID string, head eventid.ID) broker.Replay {
	b.stats.resets.Add(1)
	return transport.ResetReplay(reason, lastEventID, head)
}

// newMessage encodes an event as the publish script stored or sent it:
// its topics joined by commas (a topic cannot contain one).
func newMessage(id eventid.ID, event, topics, data string) *broker.Message {
	return transport.NewMessage(id, event, strings.Split(topics, ","), []byte(data))
}

// tracePrefix starts the line of a traced envelope that carries the
// publish's W3C traceparent.
const tracePrefix = "traceparent="

// decodeEnvelope parses what the publish script sends on a channel:
// id, topics, event and data separated by newlines (id, topics and event
// cannot contain one), after a first line "traceparent=VALUE" if the
// publish was traced. An id starts with a digit, so the two cannot be
// confused.
//
// The trace line comes first and only when tracing, so a hub without
// tracing publishes exactly the envelopes of the versions before it: those
// read the envelopes of an untraced fleet in a rolling deploy, though not
// traced ones, which they log and drop.
func decodeEnvelope(payload string) (*broker.Message, error) {
	var trace string
	if rest, ok := strings.CutPrefix(payload, tracePrefix); ok {
		trace, payload, ok = strings.Cut(rest, "\n")
		if !ok {
			return nil, fmt.Errorf("redis broker: malformed envelope: a trace line alone")
		}
	}
	parts := strings.SplitN(payload, "\n", 4)
	if len(parts) != 4 {
		return nil, fmt.Errorf("redis broker: malformed envelope of %d bytes", len(payload))
	}
	id, err := eventid.Parse(parts[0])
	if err != nil {
		return nil, err
	}
	m := newMessage(id, parts[2], parts[1], parts[3])
	m.Trace = trace
	return m, nil
}

// Ping implements broker.Broker: Redis answers, and no shard's pub/sub
// connection is being re-established.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	if b.Down() {
		return fmt.Errorf("redis: %d pub/sub connections reconnecting", b.reconnecting.Load())
	}
	return nil
}

// Down implements broker.OutageReporter: a shard's pub/sub connection is
// being re-established, so a new stream's subscriptions would wait for it.
func (b *Broker) Down() bool { return b.reconnecting.Load() > 0 }

// Close implements broker.Broker: it stops sharing congestion, taking this
// hub's record out of Redis. The client stays open: it is the caller's.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	b.background.Wait()
	return nil
}

// Stats returns the broker's counters.
func (b *Broker) Stats() broker.Stats {
	return broker.Stats{
		Reconnects:    b.stats.reconnects.Load(),
		GapFills:      b.stats.gapFills.Load(),
		GapMessages:   b.stats.gapMessages.Load(),
		GapLosses:     b.stats.gapLosses.Load(),
		ProbeFailures: b.stats.probeFailures.Load(),
		Replays:       b.stats.replays.Load(),
		Resets:        b.stats.resets.Load(),
		// A state, not a count; Stats is where the metrics read it.
		CongestionErrors: b.stats.congestionErrors.Load(),
		OthersCongested:  b.stats.othersCongested.Load(),
	}
}

var (
	_ broker.Broker         = (*Broker)(nil)
	_ broker.StatsReporter  = (*Broker)(nil)
	_ broker.OutageReporter = (*Broker)(nil)
)
