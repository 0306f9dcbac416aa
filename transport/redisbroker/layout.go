package redisbroker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fleet's layout record, in partition 0's slot, says how many
// partitions the fleet publishes in (docs/fleet-design.md
// #moving-a-running-fleet-to-partitions):
//
//	N                    a fleet that started with N partitions
//	N SWITCHED           one that switched from the single slot to N at
//	                     SWITCHED (ms); its publishes also go to classic
//	                     channels, for the hubs that started moving
//	N SWITCHED finished  and that no longer needs those copies
//
// Hubs of the versions before the record wrote none; their fleet is one of
// the single slot, which its partition 0 keys show.
const layoutKeySuffix = ":layout"

// classicHubsSuffix names the sorted set of the hubs that listen on
// classic channels on a Cluster (they started while their fleet moved),
// scored by when their word expires: the move cannot be finished while one
// is there.
const classicHubsSuffix = ":layout:classic"

// finishedWord ends the record of a finished move.
const finishedWord = "finished"

// layoutPoll is how often a hub reads its fleet's layout record: a hub of
// a fleet that is moving to partitions publishes partitioned from the
// next read after the switch (or at once, when a publish is refused for
// the switch), and one whose fleet's count changed under it stops being
// ready.
const layoutPoll = time.Second

// classicHubTTL is how long a hub's word that it listens on classic
// channels lasts; it renews it each layoutPoll.
const classicHubTTL = 30 * time.Second

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
	// nothing, has ended its streams and is not ready.
	layoutRefused
)

// layoutRecord is a layout record, parsed.
type layoutRecord struct {
	partitions int
	switched   int64 // ms; zero if the fleet never switched
	finished   bool
}

// String is the record's text.
func (r layoutRecord) String() string {
	s := strconv.Itoa(r.partitions)
	if r.switched > 0 {
		s += " " + strconv.FormatInt(r.switched, 10)
		if r.finished {
			s += " " + finishedWord
		}
	}
	return s
}

// parseLayoutRecord reads a layout record.
func parseLayoutRecord(s string) (layoutRecord, error) {
	f := strings.Split(s, " ")
	var r layoutRecord
	n, err := strconv.Atoi(f[0])
	switch {
	case err != nil, n < 1 || n > MaxPartitions, len(f) > 3, len(f) == 3 && f[2] != finishedWord:
		return layoutRecord{}, fmt.Errorf("redis layout record %q: not N, \"N SWITCHED\" or \"N SWITCHED %s\" with N from 1 to %d",
			s, finishedWord, MaxPartitions)
	case len(f) >= 2:
		if r.switched, err = strconv.ParseInt(f[1], 10, 64); err != nil || r.switched <= 0 {
			return layoutRecord{}, fmt.Errorf("redis layout record %q: switch time %q", s, f[1])
		}
	}
	r.partitions, r.finished = n, len(f) == 3
	return r, nil
}

// layoutState is a hub's phase and what it knows of the fleet's record.
type layoutState struct {
	phase  layoutPhase
	err    error        // why refused
	record layoutRecord // as last read, once agreed
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
	// Finished: the move is over, and publishes no longer copy their
	// events to classic channels.
	Finished bool
}

func layoutOf(r layoutRecord) Layout {
	l := Layout{Partitions: r.partitions, Recorded: true, Finished: r.finished}
	if r.switched > 0 {
		l.Switched = time.UnixMilli(r.switched)
	}
	return l
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
	r, err := parseLayoutRecord(rec)
	if err != nil {
		return Layout{}, err
	}
	return layoutOf(r), nil
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
// names that count already. A fleet with no record, whose hubs never
// counted partitions, or with another count, is refused. It returns the
// record.
//
// The millisecond is partition 0's newest id's, or Redis's time if that
// is later: every event of the single slot has an id at or before it,
// even one whose id ran ahead of the clock (history.next); and partition
// 0's sequence moves on to the next millisecond, so that every event
// after the switch has an id after it. Pagers tell the two apart by the
// millisecond alone (pager.precedes).
//
// KEYS: the layout record, partition 0's last id.
var switchScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if not rec then
  return redis.error_reply('LAYOUT no hub has recorded the fleet\'s partitions yet: start the hubs with the new count first')
end
local n = string.match(rec, '^(%d+)')
if rec ~= '1' then
  if n == ARGV[1] then return rec end
  return redis.error_reply('LAYOUT the fleet records ' .. n .. ' partitions, not the single slot')
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = redis.call('GET', KEYS[2])
if last then ms = math.max(ms, tonumber(string.match(last, '^(%d+)'))) end
rec = ARGV[1] .. ' ' .. string.format('%.0f', ms)
redis.call('SET', KEYS[1], rec)
redis.call('SET', KEYS[2], string.format('%.0f-0', ms + 1))
return rec
`)

// wordScript records a word that lasts ARGV[2] ms (a hub's that it
// listens on classic channels, or that a connection follows patterns),
// as member ARGV[1] of the sorted set KEYS[1] scored by when it expires,
// and drops the words expired: by Redis's clock, which every reader of
// the words uses, whatever the hubs' clocks say.
var wordScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
return 1
`)

// finishScript ends a fleet's move to partitions: the record says so, and
// publishes no longer copy their events to classic channels. It is refused
// while a hub still listens there (the hubs that started moving, on a
// Cluster, until they are restarted).
//
// KEYS: the layout record, the classic hubs.
var finishScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if not rec or not string.match(rec, '^%d+ %d+') then
  return redis.error_reply('LAYOUT the fleet has not switched from the single slot: nothing to finish')
end
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)))
local left = redis.call('ZCARD', KEYS[2])
if left > 0 then
  return redis.error_reply('LAYOUT ' .. left .. ' hubs still listen on classic channels (they started while the fleet moved): restart them first')
end
if not string.match(rec, ' ` + finishedWord + `$') then
  rec = rec .. ' ` + finishedWord + `'
  redis.call('SET', KEYS[1], rec)
end
return rec
`)

// SwitchLayout switches the fleet of prefix ("ssehub" when empty) from
// the single slot to n partitions: its hubs, all started with n, publish
// partitioned from then on. A fleet that has switched to n already is
// left as it is; one that records another count, or none, is an error
// wrapping ErrLayoutMismatch.
func SwitchLayout(ctx context.Context, client redis.UniversalClient, prefix string, n int) (Layout, error) {
	if n < 2 || n > MaxPartitions {
		return Layout{}, fmt.Errorf("redis layout: switch to %d partitions; want 2 to %d", n, MaxPartitions)
	}
	part0 := newPartitions(prefixOr(prefix), 1)[0]
	return runLayoutScript(ctx, client, switchScript, []string{part0.tag + layoutKeySuffix, part0.last}, n)
}

// FinishLayout ends the move of the fleet of prefix ("ssehub" when
// empty) to partitions: once every hub that started while it moved has
// been restarted, publishes stop copying their events to the classic
// channels those hubs listened on (on a Cluster; elsewhere there are no
// copies, and it only marks the record). It is an error wrapping
// ErrLayoutMismatch while such a hub still runs, or before the switch.
func FinishLayout(ctx context.Context, client redis.UniversalClient, prefix string) (Layout, error) {
	part0 := newPartitions(prefixOr(prefix), 1)[0]
	return runLayoutScript(ctx, client, finishScript, []string{part0.tag + layoutKeySuffix, part0.tag + classicHubsSuffix})
}

// runLayoutScript runs a script that changes the layout record and
// returns the record.
func runLayoutScript(ctx context.Context, client redis.UniversalClient, s *redis.Script, keys []string, args ...any) (Layout, error) {
	rec, err := s.Run(ctx, client, keys, args...).Text()
	if err != nil {
		if redis.HasErrorPrefix(err, layoutRefusedPrefix) {
			return Layout{}, fmt.Errorf("%w: %v", ErrLayoutMismatch, err)
		}
		return Layout{}, fmt.Errorf("redis layout: %w", err)
	}
	r, err := parseLayoutRecord(rec)
	if err != nil {
		return Layout{}, err
	}
	return layoutOf(r), nil
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
	if l := b.layoutNow(); l.phase != layoutUnknown {
		return l.err
	}
	key := b.parts[0].tag + layoutKeySuffix
	propose := strconv.Itoa(len(b.parts))
	if len(b.parts) > 1 {
		// A fleet of a version before the record has events in the
		// single slot, and no record: it is moving, not new. And a fleet
		// that is moving and lost its data (Redis restarted empty) has
		// neither until its hubs write their record again, within a
		// layoutPoll: look twice before founding a fleet of partitions.
		// (Not holding layoutMu, which the receive goroutines take.)
		for look := 0; look < 2; look++ {
			if look > 0 {
				select {
				case <-time.After(layoutPoll + layoutPoll/2):
				case <-ctx.Done():
					return fmt.Errorf("redis layout: %w", ctx.Err())
				}
			}
			n, err := b.client.Exists(ctx, b.parts[0].last, key).Result()
			if err != nil {
				return fmt.Errorf("redis layout: %w", err) // checked again next time
			}
			if n > 0 {
				propose = "1"
				break
			}
		}
	}
	b.layoutReads.Lock()
	defer b.layoutReads.Unlock()
	if l := b.layoutNow(); l.phase != layoutUnknown {
		return l.err // learnt meanwhile
	}
	rec, err := b.client.SetArgs(ctx, key, propose, redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		rec = propose // recorded now
	case err != nil:
		return fmt.Errorf("redis layout: %w", err)
	}
	b.layoutMu.Lock()
	defer b.layoutMu.Unlock()
	b.applyLayoutLocked(rec)
	return b.layout.err
}

// readLayout reads the fleet's record again, after the first time. A
// record gone (Redis lost its data, or someone deleted it) is written
// again as this hub knew it, unless another hub did first; a refused hub
// only reads it. A hub refused from now on ends its streams.
func (b *Broker) readLayout(ctx context.Context) error {
	// One read and its verdict at a time: an older read applied after a
	// newer one would take the hub back (to refused, from a record read
	// just before the switch).
	b.layoutReads.Lock()
	defer b.layoutReads.Unlock()
	key, known := b.parts[0].tag+layoutKeySuffix, b.layoutNow()
	var rec string
	var err error
	if known.phase == layoutRefused {
		rec, err = b.client.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return known.err
		}
	} else {
		mine := known.record.String()
		if known.phase == layoutMoving {
			mine = "1"
		}
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
	now, err := b.layout.phase, b.layout.err
	b.layoutMu.Unlock()
	if was != layoutRefused && now == layoutRefused {
		b.endStreams()
	}
	if was == layoutMoving && now == layoutAgreed {
		b.observeAllPartitions()
	}
	return err
}

// endStreams ends every stream of the hub, whose fleet's layout changed
// under it: it no longer hears all that they follow. They resume on
// another hub, which the load balancer picks since this one is not ready
// (Ping), and get what they missed there; this one turns new streams away
// (Down).
func (b *Broker) endStreams() {
	for _, t := range b.allTaps() {
		t.sink.Lost()
	}
}

// observeAllPartitions has every connection take the heads of the
// partitions other than 0, once the fleet switched: while it moved, its
// subscriptions took partition 0's only (confirm), so their positions
// elsewhere are not observed, and a gap fill starts from a partition's
// observed position.
func (b *Broker) observeAllPartitions() {
	parts := make([]int, 0, len(b.parts)-1)
	for k := 1; k < len(b.parts); k++ {
		parts = append(parts, k)
	}
	for _, c := range b.allConnsOpen() {
		c.afterHeads(parts, func() {})
	}
}

// allConnsOpen returns the broker's pub/sub connections not closed.
func (b *Broker) allConnsOpen() []*subscriber {
	b.connsMu.Lock()
	defer b.connsMu.Unlock()
	b.allConns = slices.DeleteFunc(b.allConns, (*subscriber).closed)
	return slices.Clone(b.allConns)
}

// allTaps returns the taps of the broker's connections.
func (b *Broker) allTaps() []*tap {
	taps := make(map[*tap]bool)
	for _, c := range b.allConnsOpen() {
		c.mu.Lock()
		for t := range c.taps {
			taps[t] = true
		}
		c.mu.Unlock()
	}
	out := make([]*tap, 0, len(taps))
	for t := range taps {
		out = append(out, t)
	}
	return out
}

// applyLayoutLocked sets the hub's phase from the fleet's record rec.
// b.layoutMu must be held.
func (b *Broker) applyLayoutLocked(rec string) {
	r, err := parseLayoutRecord(rec)
	was := b.layout.phase
	key := b.parts[0].tag + layoutKeySuffix
	refuse := func(format string, args ...any) {
		b.layout = layoutState{phase: layoutRefused, err: fmt.Errorf("%w: "+format, append([]any{ErrLayoutMismatch}, args...)...)}
	}
	switch n := r.partitions; {
	case was == layoutRefused && b.classic:
		// It ended its streams and the copies it heard stopped: only a
		// restart brings it back.
		return
	case err != nil:
		refuse("%v", err)
	case n == len(b.parts) && b.classic && (r.switched == 0 || r.finished):
		// It hears classic channels only, and the fleet no longer
		// publishes there (the move was finished, or Redis lost the
		// record and another hub founded the fleet anew).
		refuse("this hub started while the fleet of prefix %q moved to partitions and listens on classic channels, "+
			"where the fleet (record %q in %s) no longer publishes; restart it", b.cfg.Prefix, rec, key)
	case n == len(b.parts):
		b.layout = layoutState{phase: layoutAgreed, record: r}
	case n == 1 && was == layoutUnknown && b.sharded:
		// Its pub/sub connections, opened before Redis answered, listen
		// on shard channels, where the single slot publishes nothing.
		refuse("the fleet of prefix %q is moving from the single slot to partitions, and this hub started before "+
			"Redis answered; restart it (docs/fleet-design.md#moving-a-running-fleet-to-partitions)", b.cfg.Prefix)
	case n == 1 && (was == layoutUnknown || was == layoutMoving):
		b.layout = layoutState{phase: layoutMoving}
	default:
		refuse("Redis records %q partitions for prefix %q (key %s) and this hub has %d; "+
			"every hub of a fleet needs the same --redis-partitions "+
			"(to change it: docs/fleet-design.md#moving-a-running-fleet-to-partitions)",
			strconv.Itoa(n), b.cfg.Prefix, key, len(b.parts))
	}
	b.refused.Store(b.layout.phase == layoutRefused)
	if now := b.layout.phase; now != was {
		switch now {
		case layoutMoving:
			b.log.Info("redis layout: the fleet publishes in the single slot; publishing there until it switches",
				"partitions", len(b.parts))
		case layoutAgreed:
			if was == layoutMoving {
				b.log.Info("redis layout: the fleet switched to partitions; publishing partitioned", "partitions", r.partitions)
			}
		case layoutRefused:
			b.log.Error("redis layout", "err", b.layout.err)
		}
	}
}

// readsSingleSlot reports whether a replay also reads partition 0's
// streams of topics in other partitions, where the single slot kept
// them: while the fleet moves, and for a history TTL after it switched.
func (l layoutState) readsSingleSlot(ttl time.Duration) bool {
	return l.phase == layoutMoving || (l.record.switched > 0 && time.Now().UnixMilli() < l.record.switched+ttl.Milliseconds())
}

// copiesToClassic reports whether a publish on a Cluster also sends its
// events to classic channels: the fleet switched from the single slot,
// and the hubs that started while it moved, which listen there, may still
// run.
func (l layoutState) copiesToClassic() bool {
	return l.record.switched > 0 && !l.record.finished
}

// watchLayout is the layout goroutine: every layoutPoll it reads the
// fleet's record, and renews the word of a hub that listens on classic
// channels (classicHubsSuffix), which it takes back when the broker
// closes.
func (b *Broker) watchLayout() {
	defer b.background.Done()
	classicHubs := b.parts[0].tag + classicHubsSuffix
	self := rand.Text()
	defer func() {
		if b.classic {
			ctx, cancel := context.WithTimeout(context.Background(), layoutPoll)
			b.client.ZRem(ctx, classicHubs, self)
			cancel()
		}
	}()
	for tick := time.NewTicker(layoutPoll); ; {
		ctx, cancel := context.WithTimeout(context.Background(), layoutPoll)
		if b.classic {
			if err := wordScript.Run(ctx, b.client, []string{classicHubs}, self, classicHubTTL.Milliseconds()).Err(); err != nil {
				b.log.Warn("redis layout: classic listener's word", "err", err)
			}
		}
		if b.classic && b.repin(ctx) {
			for _, c := range b.allConnsOpen() {
				c.resyncSoon()
			}
		}
		if b.layoutNow().phase == layoutUnknown {
			// Longer than a poll: checkLayout may look twice, 1.5 polls
			// apart, before it records a count.
			first, cancel := context.WithTimeout(context.Background(), 3*layoutPoll)
			_ = b.checkLayout(first) // logs its verdict
			cancel()
		} else if err := b.readLayout(ctx); err != nil && !errors.Is(err, ErrLayoutMismatch) {
			b.log.Warn("redis layout", "err", err)
		}
		cancel()
		select {
		case <-b.closed:
			tick.Stop()
			return
		case <-tick.C:
		}
	}
}

// repin looks up partition 0's master, where a hub that listens on
// classic channels on a Cluster has its pub/sub connections: that master
// sends it the single slot's events as it publishes them, before any
// partitioned event that follows the switch, which come over the
// Cluster's bus. On another node, the bus could bring a topic's last
// event of the single slot after its first one in its partition. It
// reports whether the master changed since the last look (a failover, or
// none found before), after which the connections move there
// (resyncSoon).
func (b *Broker) repin(ctx context.Context) bool {
	cc, ok := b.client.(*redis.ClusterClient)
	if !ok {
		return false
	}
	node, err := cc.MasterForKey(ctx, b.parts[0].last)
	if err != nil {
		b.log.Warn("redis layout: partition 0's master not found", "err", err)
		return false
	}
	old := b.pinned.Load()
	if old != nil && old.Options().Addr == node.Options().Addr {
		return false
	}
	b.pinned.Store(node)
	return true // New ignores it; later, connections opened elsewhere move
}
