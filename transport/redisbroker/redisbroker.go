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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/sse"
)

// defaultPrefix is Config.Prefix's default.
const defaultPrefix = "ssehub"

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
	// Partitions is how many partitions the fleet's topics are spread
	// over, each with its own sequence of ids and its own Cluster hash
	// slot (docs/fleet-design.md). Every hub of a fleet must have the
	// same. Zero means 1: the single-slot layout, with scalar ids.
	Partitions int
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

	// parts are the fleet's partitions (Config.Partitions).
	parts []partition
	// cluster: Redis is a Cluster, where partitioned events travel on
	// shard channels (SPUBLISH; docs/fleet-design.md).
	cluster bool
	// sharded: this hub listens on shard channels, one connection per
	// partition: it has several on a Cluster, and did not start while
	// its fleet was moving to partitions. classic: it has several on a
	// Cluster and did, so it listens on classic channels for as long as
	// it runs, on partition 0's master (pinned). Set by New.
	sharded, classic bool
	pinned           atomic.Pointer[redis.Client]

	// layoutMu guards layout: where the hub stands towards its fleet's
	// layout record (layout.go). layoutReads is held across each read of
	// the record and its verdict, so that they apply in order; it is taken
	// before layoutMu.
	layoutMu    sync.Mutex
	layout      layoutState
	layoutReads sync.Mutex
	// refused mirrors layout.phase == layoutRefused, for Down.
	refused atomic.Bool

	// connsMu guards conns and taps: the shared pub/sub connections
	// (Config.PubSubConns), created as subscribers come, and how many
	// subscribers were dealt so far.
	connsMu sync.Mutex
	conns   []*subscriber
	taps    int
	// allConns are the pub/sub connections opened and not yet found
	// closed (allConnsOpen), for the layout's changes.
	allConns []*subscriber

	closed     chan struct{} // closed by Close
	closeOnce  sync.Once
	background sync.WaitGroup // the congestion loop, if shared
}

// keyspace names the broker's keys and channels.
// The keys of ids and history are a partition's (partition.go).
type keyspace struct {
	channel string // prefix of a topic's channel
	probe   string // prefix of the probe channels
	// congested is the sorted set of the hubs that are congested, scored
	// by when their record expires (congestion.go).
	congested string
	// presence prefixes the presence keys (presence.go); presenceHubs
	// and presenceStreams are two of them.
	presence, presenceHubs, presenceStreams string
	// msubs prefixes the keys of active Mercure subscriptions
	// (mercuresubs.go).
	msubs string
}

// newKeyspace names the keys and channels of prefix. ValidatePrefix keeps
// them apart from those of any other prefix: keys start "{prefix}:", where
// the first '}' ends the prefix, and channels start "prefix:", where the
// first ':' does.
func newKeyspace(prefix string) keyspace {
	tag := "{" + prefix + "}"
	return keyspace{
		channel: prefix + ":c:",
		probe:   prefix + ":probe:",
		// In the slot of the other keys, so a Cluster can run its
		// script like theirs.
		congested:       tag + ":congested",
		presence:        tag + ":p:",
		presenceHubs:    tag + ":p:hubs",
		presenceStreams: tag + ":p:n",
		msubs:           tag + ":ms:",
	}
}

// New returns a broker on cfg.Client. It checks the connection, but a Redis
// that does not answer yet is only logged: the broker is not ready (Ping)
// until it does.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.Client == nil {
		return nil, errors.New("redis broker: no client")
	}
	cfg.Prefix = prefixOr(cfg.Prefix)
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
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	if cfg.Partitions < 1 || cfg.Partitions > MaxPartitions {
		return nil, fmt.Errorf("redis broker: %d partitions; want 1 to %d", cfg.Partitions, MaxPartitions)
	}
	// Shard channels on a Cluster with partitions; otherwise classic
	// channels, which a partition's messages also reach a hub through in
	// order, but over the Cluster's bus to every node.
	_, cluster := cfg.Client.(*redis.ClusterClient)
	b := &Broker{cfg: cfg, client: cfg.Client, keys: newKeyspace(cfg.Prefix), log: cfg.Logger,
		parts: newPartitions(cfg.Prefix, cfg.Partitions), cluster: cluster,
		replays: newReplayCoalescer(2 * time.Millisecond), closed: make(chan struct{})}
	if len(b.parts) > 1 {
		for _, p := range b.parts {
			b.log.Info("redis partition", "partition", p.index, "tag", p.tag, "slot", p.slot)
		}
	}
	if err := b.client.Ping(ctx).Err(); err != nil {
		// Redis may come later: a hub that exited here would crash-loop
		// under an orchestrator until it did. It starts, reports not
		// ready (Ping), and its shards' pub/sub connections subscribe
		// once Redis answers.
		b.log.Warn("redis unreachable at start; not ready until it answers", "err", err)
	} else {
		b.checkMemoryPolicy(ctx)
		if err := b.checkLayout(ctx); errors.Is(err, ErrLayoutMismatch) {
			return nil, err
		}
	}
	// A hub that starts while its fleet moves to partitions listens on
	// classic channels, where the single slot publishes, for as long as it
	// runs (docs/fleet-design.md#moving-a-running-fleet-to-partitions).
	b.classic = cluster && len(b.parts) > 1 && b.layoutNow().phase == layoutMoving
	b.sharded = cluster && len(b.parts) > 1 && !b.classic
	if b.classic {
		b.repin(ctx)
	}
	b.background.Add(1)
	go b.watchLayout()
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

func (b *Broker) reset(reason, lastEventID string, head eventid.ID) broker.Replay {
	b.stats.resets.Add(1)
	return transport.ResetReplay(reason, lastEventID, head)
}

// resetAt is reset for a partitioned broker: the reset's id is the heads'
// cursor, where the stream goes on from.
func (b *Broker) resetAt(reason, lastEventID string, heads eventid.Cursor) broker.Replay {
	b.stats.resets.Add(1)
	return transport.ResetReplayAt(reason, lastEventID, heads)
}

// newMessage encodes an event of partition part as the publish script
// stored or sent it: its topics joined by commas (a topic cannot contain
// one). On a partitioned broker it has no id line (the shard writes its
// cursor there), and Spread when its topics are in several partitions and
// it was published partitioned (spread), rather than once in the single
// slot by a hub of a fleet moving to partitions (docs/fleet-design.md
// #moving-a-running-fleet-to-partitions).
//
// meta is a Mercure update's metadata (transport.EncodeMercure), or empty.
func (b *Broker) newMessage(id eventid.ID, part int, event, topics, data, meta string, spread bool) (*broker.Message, error) {
	names := strings.Split(topics, ",")
	if meta != "" {
		if len(b.parts) > 1 {
			return nil, errMercurePartitioned
		}
		m, err := transport.DecodeMercure(meta)
		if err != nil {
			return nil, fmt.Errorf("redis broker: event %s: %w", id, err)
		}
		return transport.NewMercureMessage(id, event, names, []byte(data), m), nil
	}
	if len(b.parts) == 1 {
		return transport.NewMessage(id, event, names, []byte(data)), nil
	}
	m := &broker.Message{ID: id, Topics: names, Partition: part,
		Frame: sse.AppendEvent(make([]byte, 0, sse.EventSize("", event, []byte(data))), "", event, []byte(data))}
	if !spread {
		return m, nil
	}
	for i, t := range names {
		k := PartitionOf(t, len(b.parts))
		if k != part && m.Spread == nil {
			m.Spread = make([]int, len(names))
			for j := range i {
				m.Spread[j] = PartitionOf(names[j], len(b.parts))
			}
		}
		if m.Spread != nil {
			m.Spread[i] = k
		}
	}
	return m, nil
}

// errMercurePartitioned refuses a Mercure update on a partitioned broker:
// the Mercure front door runs at one partition (docs/mercure-design.md),
// and a shard would write its cursor where the update's id goes.
var errMercurePartitioned = errors.New("redis broker: a Mercure update on a partitioned fleet")

// mercurePrefix starts the envelope line of a Mercure update's metadata.
const mercurePrefix = "mercure="

// tracePrefix starts the line of a traced envelope that carries the
// publish's W3C traceparent.
const tracePrefix = "traceparent="

// envelope is what the publish script sends on a channel.
type envelope struct {
	trace, topics, event, data string
	// mercure is a Mercure update's metadata, as its line had it.
	mercure string
	id      eventid.ID
	// partition is the partition whose id id is, when partitioned: an
	// event published partitioned names it ("<id>@<partition>"); one
	// published in the single slot does not, and is partition 0's.
	partition   int
	partitioned bool
}

// parseEnvelope parses what the publish script sends on a channel:
// id, topics, event and data separated by newlines (id, topics and event
// cannot contain one), after a first line "traceparent=VALUE" if the
// publish was traced. An id starts with a digit, so the two cannot be
// confused. A Mercure update has a line "mercure=<JSON>" next, its
// metadata (transport.EncodeMercure). The id of an event published
// partitioned ends in "@<partition>", the index in decimal without
// leading zeros.
//
// The trace line comes first and only when tracing, so a hub without
// tracing publishes exactly the envelopes of the versions before it: those
// read the envelopes of an untraced fleet in a rolling deploy, though not
// traced ones, which they log and drop. Likewise a fleet of one partition
// names none. Versions before the Mercure line drop a Mercure update's
// envelopes as malformed, with a log line: the front door may be turned on
// once every hub of the fleet runs a version that has it.
func parseEnvelope(payload string) (e envelope, err error) {
	if rest, ok := strings.CutPrefix(payload, tracePrefix); ok {
		e.trace, payload, ok = strings.Cut(rest, "\n")
		if !ok {
			return e, fmt.Errorf("redis broker: malformed envelope: a trace line alone")
		}
	}
	if rest, ok := strings.CutPrefix(payload, mercurePrefix); ok {
		e.mercure, payload, ok = strings.Cut(rest, "\n")
		if !ok {
			return e, fmt.Errorf("redis broker: malformed envelope: a Mercure line alone")
		}
	}
	parts := strings.SplitN(payload, "\n", 4)
	if len(parts) != 4 {
		return e, fmt.Errorf("redis broker: malformed envelope of %d bytes", len(payload))
	}
	id, part, partitioned := strings.Cut(parts[0], "@")
	if partitioned {
		e.partition, e.partitioned = parsePartitionIndex(part)
		if !e.partitioned {
			return e, fmt.Errorf("redis broker: malformed envelope: partition %s", clip.Quote(part))
		}
	}
	e.id, err = eventid.Parse(id)
	e.topics, e.event, e.data = parts[1], parts[2], parts[3]
	return e, err
}

// parsePartitionIndex parses an envelope's partition: decimal, no sign,
// no leading zero, below MaxPartitions.
func parsePartitionIndex(s string) (int, bool) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	k := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + int(c-'0')
	}
	return k, k < MaxPartitions
}

// decode decodes an envelope that came on a channel of partition part,
// or, when part is -1, on a classic channel, which carries every
// partition's events: those name their partition, and an envelope that
// names none is partition 0's, published in the single slot.
func (b *Broker) decode(payload string, part int) (*broker.Message, error) {
	e, err := parseEnvelope(payload)
	if err != nil {
		return nil, err
	}
	switch {
	case e.partition >= len(b.parts):
		return nil, fmt.Errorf("redis broker: an envelope of partition %d, and the fleet has %d", e.partition, len(b.parts))
	case part >= 0 && e.partition != part:
		return nil, fmt.Errorf("redis broker: an envelope of partition %d on a channel of partition %d", e.partition, part)
	}
	m, err := b.newMessage(e.id, e.partition, e.event, e.topics, e.data, e.mercure, e.partitioned)
	if err != nil {
		return nil, err
	}
	m.Trace = e.trace
	return m, nil
}

// Ping implements broker.Broker: Redis answers, and no shard's pub/sub
// connection is being re-established.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	if err := b.checkLayout(ctx); err != nil {
		return err
	}
	if b.Down() {
		return fmt.Errorf("redis: %d pub/sub connections reconnecting", b.reconnecting.Load())
	}
	return nil
}

// Partitions implements broker.Partitioned.
func (b *Broker) Partitions() int { return len(b.parts) }

// Down implements broker.OutageReporter: a shard's pub/sub connection is
// being re-established, so a new stream's subscriptions would wait for it;
// or the fleet's layout refuses this hub, which would not hear all that
// the stream follows.
func (b *Broker) Down() bool { return b.reconnecting.Load() > 0 || b.refused.Load() }

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
	_ broker.Partitioned    = (*Broker)(nil)
)
