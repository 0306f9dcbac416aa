package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fleet's layout record, in partition 0's slot, says how many
// partitions the fleet publishes in: "N", or "N SWITCHED" once a fleet of
// the single slot switched to N partitions, SWITCHED being Redis's time of
// the switch in ms (docs/fleet-design.md#moving-a-running-fleet-to-partitions).
// Hubs of the versions before the record wrote none; their fleet is one of
// the single slot, which its partition 0 keys show.
const layoutKeySuffix = ":layout"

// layoutPoll is how often a hub reads its fleet's layout record: a hub of
// a fleet that is moving to partitions publishes partitioned from the
// next read after the switch (or at once, when a publish is refused for
// the switch), and one whose fleet's count changed under it stops being
// ready.
const layoutPoll = time.Second

// classicFlagTTL is how long a hub's word lasts that it hears a moving
// fleet's events on classic channels (the partition's classic flag): it
// renews it each layoutPoll, and a hub stalled for longer loses it.
const classicFlagTTL = 30 * time.Second

// ErrLayoutMismatch is wrapped by the error of a broker whose partition
// count is not the one its fleet records in Redis.
var ErrLayoutMismatch = errors.New("redis broker: partitions differ from the fleet's")

// layoutPhase is where a hub stands towards its fleet's layout record.
type layoutPhase int

const (
	// layoutUnknown: Redis has not answered since the broker started.
	layoutUnknown layoutPhase = iota
	// layoutAgreed: the fleet publishes in as many partitions as the hub
	// has.
	layoutAgreed
	// layoutMoving: the fleet publishes in the single slot, and the hub
	// has more partitions: it publishes in the single slot too, until the
	// fleet switches, and hears both layouts meanwhile.
	layoutMoving
	// layoutRefused: the fleet records another count, or the hub cannot
	// take part in the move (layoutState.err says why). It publishes
	// nothing and is not ready.
	layoutRefused
)

// layoutState is a hub's phase and what it knows of the fleet's record.
type layoutState struct {
	phase layoutPhase
	err   error // why refused
	// switched is when the fleet switched from the single slot to
	// partitions, in Redis ms; zero if it never did.
	switched int64
}

// Layout is a fleet's layout record, as ReadLayout finds it.
type Layout struct {
	// Partitions is the count the fleet publishes in.
	Partitions int
	// Recorded: a hub of this version wrote the record. Without one, a
	// fleet with events is one of the single slot, of an older version.
	Recorded bool
	// Switched is when the fleet switched from the single slot to
	// Partitions; zero if it never did.
	Switched time.Time
}

// parseLayoutRecord reads a layout record: "N" or "N SWITCHED".
func parseLayoutRecord(s string) (n int, switched int64, err error) {
	count, at, moved := strings.Cut(s, " ")
	n, err = strconv.Atoi(count)
	if err == nil && (n < 1 || n > MaxPartitions) {
		err = fmt.Errorf("%d partitions", n)
	}
	if err == nil && moved {
		switched, err = strconv.ParseInt(at, 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("redis layout record %q: %w", s, err)
	}
	return n, switched, nil
}

// ReadLayout returns the layout record of the fleet of prefix ("ssehub"
// when empty).
func ReadLayout(ctx context.Context, client redis.UniversalClient, prefix string) (Layout, error) {
	part := newPartitions(prefixOr(prefix), 1)[0]
	rec, err := client.Get(ctx, part.tag+layoutKeySuffix).Result()
	if errors.Is(err, redis.Nil) {
		return Layout{Partitions: 1}, nil
	}
	if err != nil {
		return Layout{}, fmt.Errorf("redis layout: %w", err)
	}
	n, switched, err := parseLayoutRecord(rec)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Partitions: n, Recorded: true}
	if switched > 0 {
		l.Switched = time.UnixMilli(switched)
	}
	return l, nil
}

// prefixOr is prefix, or Config.Prefix's default when it is empty.
func prefixOr(prefix string) string {
	if prefix == "" {
		return defaultPrefix
	}
	return prefix
}

// switchScript moves a fleet of the single slot to ARGV[1] partitions:
// it records the count and the switch's millisecond, unless the record
// names another count already. It returns the record.
//
// The millisecond is partition 0's newest id's, or Redis's time if that
// is later: every event of the single slot has an id at or before it,
// even one whose id ran ahead of the clock (history.next), which pagers
// need (pager.precedes).
//
// KEYS: the layout record, partition 0's last id.
var switchScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if rec and rec ~= '1' then
  if string.match(rec, '^(%d+)') == ARGV[1] then return rec end
  return redis.error_reply('LAYOUT the fleet records ' .. string.match(rec, '^(%d+)') .. ' partitions, not the single slot')
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = redis.call('GET', KEYS[2])
if last then ms = math.max(ms, tonumber(string.match(last, '^(%d+)'))) end
rec = ARGV[1] .. ' ' .. string.format('%.0f', ms)
redis.call('SET', KEYS[1], rec)
return rec
`)

// SwitchLayout switches the fleet of prefix ("ssehub" when empty) from
// the single slot to n partitions: its hubs, all started with n, publish
// partitioned from then on. A fleet that has switched to n already is
// left as it is; one that records another count is an error wrapping
// ErrLayoutMismatch.
func SwitchLayout(ctx context.Context, client redis.UniversalClient, prefix string, n int) (Layout, error) {
	if n < 2 || n > MaxPartitions {
		return Layout{}, fmt.Errorf("redis layout: switch to %d partitions; want 2 to %d", n, MaxPartitions)
	}
	part0 := newPartitions(prefixOr(prefix), 1)[0]
	rec, err := switchScript.Run(ctx, client, []string{part0.tag + layoutKeySuffix, part0.last}, n).Text()
	if err != nil {
		if redis.HasErrorPrefix(err, "LAYOUT") {
			return Layout{}, fmt.Errorf("%w: %v", ErrLayoutMismatch, err)
		}
		return Layout{}, fmt.Errorf("redis layout: %w", err)
	}
	got, switched, err := parseLayoutRecord(rec)
	if err != nil {
		return Layout{}, err
	}
	return Layout{Partitions: got, Recorded: true, Switched: time.UnixMilli(switched)}, nil
}

// layoutNow returns the hub's layout state.
func (b *Broker) layoutNow() layoutState {
	b.layoutMu.Lock()
	defer b.layoutMu.Unlock()
	return b.layout
}

// checkLayout learns the fleet's layout the first time Redis answers,
// recording this hub's count when the fleet has no record and no events,
// and returns why the hub is refused, if it is. Once known, it answers
// from memory: watchLayout and publishes that the fleet's switch refused
// keep it current.
func (b *Broker) checkLayout(ctx context.Context) error {
	b.layoutMu.Lock()
	defer b.layoutMu.Unlock()
	if b.layout.phase != layoutUnknown {
		return b.layout.err
	}
	propose := strconv.Itoa(len(b.parts))
	if len(b.parts) > 1 {
		// A fleet of a version before the record has events in the
		// single slot, and no record: it is moving, not new.
		n, err := b.client.Exists(ctx, b.parts[0].last).Result()
		if err != nil {
			return fmt.Errorf("redis layout: %w", err) // checked again next time
		}
		if n > 0 {
			propose = "1"
		}
	}
	key := b.parts[0].tag + layoutKeySuffix
	rec, err := b.client.SetArgs(ctx, key, propose, redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		rec = propose // recorded now
	case err != nil:
		return fmt.Errorf("redis layout: %w", err)
	}
	b.applyLayoutLocked(rec)
	return b.layout.err
}

// readLayout reads the fleet's record again, after the first time. A
// record gone (Redis lost its data, or someone deleted it) is written
// again as this hub knew it, unless another hub did first; a refused hub
// only reads it.
func (b *Broker) readLayout(ctx context.Context) error {
	key, known := b.parts[0].tag+layoutKeySuffix, b.layoutNow()
	var rec string
	var err error
	if known.phase == layoutRefused {
		rec, err = b.client.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return known.err
		}
	} else {
		mine := known.record(len(b.parts))
		rec, err = b.client.SetArgs(ctx, key, mine, redis.SetArgs{Mode: "NX", Get: true}).Result()
		if errors.Is(err, redis.Nil) {
			rec, err = mine, nil
		}
	}
	if err != nil {
		return fmt.Errorf("redis layout: %w", err)
	}
	b.layoutMu.Lock()
	was := b.layout.phase
	b.applyLayoutLocked(rec)
	err = b.layout.err
	b.layoutMu.Unlock()
	if was != layoutRefused && errors.Is(err, ErrLayoutMismatch) {
		b.endStreams()
	}
	return err
}

// endStreams ends every stream of the hub, whose fleet's layout changed
// under it: it no longer hears all that they follow. They resume on
// another hub, which the load balancer picks since this one is not ready
// (Ping), and get what they missed there; this one turns new streams away
// (Down).
func (b *Broker) endStreams() {
	b.connsMu.Lock()
	conns := slices.Clone(b.allConns)
	b.connsMu.Unlock()
	taps := make(map[*tap]bool)
	for _, c := range conns {
		c.mu.Lock()
		for t := range c.taps {
			taps[t] = true
		}
		c.mu.Unlock()
	}
	for t := range taps {
		t.sink.Lost()
	}
}

// applyLayoutLocked sets the hub's phase from the fleet's record rec.
// b.layoutMu must be held.
func (b *Broker) applyLayoutLocked(rec string) {
	n, switched, err := parseLayoutRecord(rec)
	was := b.layout.phase
	key := b.parts[0].tag + layoutKeySuffix
	switch {
	case err != nil:
		b.layout = layoutState{phase: layoutRefused, err: fmt.Errorf("%w: %v", ErrLayoutMismatch, err)}
	case n == len(b.parts):
		b.layout = layoutState{phase: layoutAgreed, switched: switched}
	case n == 1 && was == layoutUnknown && b.sharded:
		// Its pub/sub connections, opened before Redis answered, listen
		// on shard channels, where the single slot publishes nothing.
		b.layout = layoutState{phase: layoutRefused, err: fmt.Errorf("%w: the fleet of prefix %q is moving from the "+
			"single slot to partitions, and this hub started before Redis answered; restart it "+
			"(docs/fleet-design.md#moving-a-running-fleet-to-partitions)", ErrLayoutMismatch, b.cfg.Prefix)}
	case n == 1 && (was == layoutUnknown || was == layoutMoving):
		b.layout = layoutState{phase: layoutMoving}
	default:
		b.layout = layoutState{phase: layoutRefused, err: fmt.Errorf("%w: Redis records %q partitions for prefix %q (key %s) and this hub has %d; "+
			"every hub of a fleet needs the same --redis-partitions "+
			"(to change it: docs/fleet-design.md#moving-a-running-fleet-to-partitions)",
			ErrLayoutMismatch, strconv.Itoa(n), b.cfg.Prefix, key, len(b.parts))}
	}
	b.refused.Store(b.layout.phase == layoutRefused)
	if now := b.layout.phase; now != was {
		switch now {
		case layoutMoving:
			b.log.Info("redis layout: the fleet publishes in the single slot; publishing there until it switches",
				"partitions", len(b.parts))
		case layoutAgreed:
			if was == layoutMoving {
				b.log.Info("redis layout: the fleet switched to partitions; publishing partitioned", "partitions", n)
			}
		case layoutRefused:
			b.log.Error("redis layout", "err", b.layout.err)
		}
	}
}

// record is the layout record that says l, for a hub of n partitions
// that is moving or agreed.
func (l layoutState) record(n int) string {
	switch {
	case l.phase == layoutMoving:
		return "1"
	case l.switched > 0:
		return strconv.Itoa(n) + " " + strconv.FormatInt(l.switched, 10)
	}
	return strconv.Itoa(n)
}

// readsSingleSlot reports whether a replay also reads partition 0's
// streams of topics in other partitions, where the single slot kept
// them: while the fleet moves, and for a history TTL after it switched.
func (l layoutState) readsSingleSlot(ttl time.Duration) bool {
	return l.phase == layoutMoving || (l.switched > 0 && time.Now().UnixMilli() < l.switched+ttl.Milliseconds())
}

// hearsClassic reports whether b, on a Cluster with partitions, listens
// on classic channels: it started while its fleet was moving, and does
// for as long as it runs, keeping its classic flags set (watchLayout).
func (b *Broker) hearsClassic() bool {
	return b.cluster && len(b.parts) > 1 && !b.sharded
}

// watchLayout is the layout goroutine: every layoutPoll it reads the
// fleet's record, and, on a Cluster, keeps the classic flags of a hub
// that listens on classic channels (flagged: New set them).
func (b *Broker) watchLayout(flagged bool) {
	defer b.background.Done()
	tick := time.NewTicker(layoutPoll)
	defer tick.Stop()
	for {
		select {
		case <-b.closed:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), layoutPoll)
		if b.layoutNow().phase == layoutUnknown {
			_ = b.checkLayout(ctx) // logs its verdict
		} else if err := b.readLayout(ctx); err != nil && !errors.Is(err, ErrLayoutMismatch) {
			b.log.Warn("redis layout", "err", err)
		}
		if b.hearsClassic() {
			flagged = b.flagClassic(ctx, flagged)
		}
		cancel()
	}
}

// flagClassic sets (or renews) every partition's classic flag: the word
// of a hub that listens on classic channels that the publish script must
// publish there too. A flag found gone after the hub had set it was lost
// (a failover, a flush) and events may have gone without their classic
// copy meanwhile: the hub's connections fill the gap from history. It
// returns whether every flag is set.
func (b *Broker) flagClassic(ctx context.Context, flagged bool) bool {
	cmds := make([]*redis.StatusCmd, len(b.parts))
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, part := range b.parts {
			cmds[k] = p.SetArgs(ctx, part.tag+classicFlagSuffix, "1", redis.SetArgs{TTL: classicFlagTTL, Get: true})
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		b.log.Warn("redis classic flag", "err", err)
		return false
	}
	lost := false
	for _, c := range cmds {
		lost = lost || errors.Is(c.Err(), redis.Nil)
	}
	if lost && flagged {
		b.log.Warn("redis classic flag was lost; filling the gap from history")
		b.connsMu.Lock()
		conns := append([]*subscriber(nil), b.allConns...)
		b.connsMu.Unlock()
		for _, c := range conns {
			c.resyncSoon()
		}
	}
	return true
}

// classicFlagSuffix names a partition's classic flag (flagClassic).
const classicFlagSuffix = ":classic"
