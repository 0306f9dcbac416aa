package redisbroker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/transport"
)

// span is what a replay reads of one partition: its events after after,
// up to head.
type span struct {
	part  *partition
	after eventid.ID
	head  eventid.ID
}

// readReplay reads the heads first and history up to them, so events
// after a head come only live and events up to it only from here.
func (b *Broker) readReplay(ctx context.Context, sel broker.Selection, lastEventID string) (broker.Replay, error) {
	if len(b.parts) > 1 {
		return b.readReplayAt(ctx, sel, lastEventID)
	}
	heads, origins, err := b.headsAndOrigins(ctx)
	if err != nil {
		return broker.Replay{}, err
	}
	head, origin := heads[0], origins[0]
	after, err := eventid.Parse(lastEventID)
	switch {
	case err != nil:
		return b.reset(transport.ResetUnknownID, lastEventID, head), nil
	case origin.IsZero() || after.Less(origin.Prev()):
		// No origin: Redis lost its data (or nothing was ever published,
		// in which case no client can hold an id of ours). Just before
		// the origin is a position still: all history, from its first
		// event, which a Mercure resume reads to see that event.
		return b.reset(transport.ResetHistoryLost, lastEventID, head), nil
	case head.Less(after):
		return b.reset(transport.ResetUnknownID, lastEventID, head), nil
	}
	return b.readSince(ctx, sel, []span{{part: &b.parts[0], after: after, head: head}}, nil, lastEventID, false)
}

// readReplayAt is readReplay on a partitioned broker: the resume point is
// a cursor, or an id of the single-slot layout, which is a position in
// partition 0 from before any other partition had an event
// (docs/fleet-design.md#resume).
func (b *Broker) readReplayAt(ctx context.Context, sel broker.Selection, lastEventID string) (broker.Replay, error) {
	heads, origins, err := b.headsAndOrigins(ctx)
	if err != nil {
		return broker.Replay{}, err
	}
	// A reset leaves the stream at the heads of what it selects.
	stand := selected(sel, heads)
	from, legacy, err := b.parseResumePoint(lastEventID)
	if err != nil {
		return b.resetAt(transport.ResetUnknownID, lastEventID, stand), nil
	}
	var spans []span
	var lost []int // partitions that cannot serve the resume
	reason := ""
	single := legacy || b.layoutNow().readsSingleSlot(b.cfg.HistoryTTL)
	for k := range b.parts {
		// A single-slot id (or any resume while the fleet moves to
		// partitions, or soon after) also reads partition 0 for topics
		// now elsewhere: their events of the single slot are in its
		// streams (readSince's single).
		if !selects(sel, k, len(b.parts)) && !(single && k == 0) {
			continue
		}
		after, head, origin := from[k], heads[k], origins[k]
		switch {
		case legacy && k > 0, !legacy && after.IsZero():
			// Nothing of this partition was seen: all of it, or, for a
			// cursor, what came after the cursor's time. While the fleet
			// moves to partitions (and a history TTL after), moving hubs
			// take no heads of partitions other than 0, and all their
			// events are from after the switch: all of those then too.
			if origin.IsZero() {
				continue
			}
			if after.IsZero() && !(single && k > 0) {
				after = eventid.ID{Time: cursorTime(from), Seq: math.MaxUint64}
			}
			if after.Less(origin) {
				after = origin.Prev()
			}
			if !after.Less(head) {
				continue
			}
		case origin.IsZero() || after.Less(origin):
			lost, reason = append(lost, k), cmp.Or(reason, transport.ResetHistoryLost)
			continue
		case head.Less(after):
			lost, reason = append(lost, k), cmp.Or(reason, transport.ResetUnknownID)
			continue
		}
		spans = append(spans, span{part: &b.parts[k], after: after, head: head})
	}
	switch {
	case len(lost) == 0:
		return b.readSince(ctx, sel, spans, from, lastEventID, legacy)
	case len(spans) == 0 || legacy:
		return b.resetAt(reason, lastEventID, stand), nil
	}
	// Only some partitions lost what the stream missed: a reset for
	// their topics, at their heads, then the others' events as usual
	// (docs/fleet-design.md#lost-history-failover-clock-skew).
	at := slices.Clone(from)
	for _, k := range lost {
		at[k] = heads[k]
	}
	r, err := b.readSince(ctx, sel, spans, at, lastEventID, false)
	if err != nil || r.Reset != nil {
		return r, err
	}
	var topics []string
	for _, t := range sel.Topics {
		if slices.Contains(lost, PartitionOf(t, len(b.parts))) {
			topics = append(topics, t)
		}
	}
	b.stats.resets.Add(1)
	r.Reset = transport.PartialReset(reason, lastEventID, at, topics, sel.Patterns)
	return r, nil
}

// parseResumePoint reads a partitioned broker's resume point: a cursor of
// as many partitions, or an id of the single-slot layout (legacy).
//
// A plain id is also what a cursor that observed partition 0 alone is
// sent as (eventid.Cursor.AppendStreamID): it is read as one of the
// single slot (the other partitions from their origin) when it is from
// the single slot's time, while the fleet moves or up to its switch, and
// otherwise as that cursor (the other partitions after its time, as a
// cursor's unobserved positions are).
func (b *Broker) parseResumePoint(s string) (from eventid.Cursor, legacy bool, err error) {
	if id, err := eventid.Parse(s); err == nil {
		from = make(eventid.Cursor, len(b.parts))
		from[0] = id
		l := b.layoutNow()
		return from, l.phase == layoutMoving || (l.record.switched > 0 && id.Time <= uint64(l.record.switched)), nil
	}
	from, err = eventid.ParseCursor(s)
	if err == nil && len(from) != len(b.parts) {
		err = fmt.Errorf("a cursor of %d partitions, and the fleet has %d", len(from), len(b.parts))
	}
	return from, false, err
}

// cursorTime is the millisecond of a cursor's newest position.
func cursorTime(c eventid.Cursor) uint64 {
	var t uint64
	for _, id := range c {
		t = max(t, id.Time)
	}
	return t
}

// selects reports whether sel may follow a topic of partition k of n.
func selects(sel broker.Selection, k, n int) bool {
	if len(sel.Patterns) > 0 {
		return true
	}
	for _, t := range sel.Topics {
		if PartitionOf(t, n) == k {
			return true
		}
	}
	return false
}

// selected is c with positions only in the partitions sel selects.
func selected(sel broker.Selection, c eventid.Cursor) eventid.Cursor {
	out := make(eventid.Cursor, len(c))
	for k := range c {
		if selects(sel, k, len(c)) {
			out[k] = c[k]
		}
	}
	return out
}

// headsAndOrigins reads each partition's newest id and the first id of its
// current history; zero where Redis holds none.
func (b *Broker) headsAndOrigins(ctx context.Context) (heads, origins eventid.Cursor, err error) {
	cmds := make([]*redis.StringCmd, 0, 2*len(b.parts))
	_, err = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, part := range b.parts {
			cmds = append(cmds, p.Get(ctx, part.last), p.Get(ctx, part.origin))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("redis replay: %w", err)
	}
	heads, origins = make(eventid.Cursor, len(b.parts)), make(eventid.Cursor, len(b.parts))
	for k := range b.parts {
		heads[k], _ = eventid.Parse(cmds[2*k].Val())
		origins[k], _ = eventid.Parse(cmds[2*k+1].Val())
	}
	return heads, origins, nil
}

// gapFill returns what a subscriber whose newest delivered positions are
// last (one per partition) has missed for sel, in pages like a resume, or
// ok false when history cannot tell (it expired). Its messages are live
// ones: the shard gives them its cursor.
//
// classic: the subscriber is a classic connection, which carries every
// partition; one of a hub that started while its fleet moved has taken no
// heads of the partitions other than 0 (subscriber.confirm), and reads one
// it has not observed from its origin within a history TTL of the switch.
// A sharded connection carries one partition and knows nothing of the
// others, which their own connections fill.
func (b *Broker) gapFill(ctx context.Context, sel broker.Selection, last eventid.Cursor, classic bool) (r broker.Replay, ok bool, err error) {
	heads, origins, err := b.headsAndOrigins(ctx)
	if err != nil {
		return r, false, err
	}
	var spans []span
	single := b.layoutNow().readsSingleSlot(b.cfg.HistoryTTL)
	for k := range b.parts {
		after, head, origin := last[k], heads[k], origins[k]
		switch {
		case !(selects(sel, k, len(b.parts)) || (k == 0 && single)):
			continue
		case after.IsZero() && classic && single && k > 0 && !origin.IsZero():
			// Not observed on a hub that started while the fleet moved
			// (it took no heads there: subscriber.confirm): every event
			// of the partition came after its subscriptions.
			after = origin.Prev()
		case after.IsZero():
			continue // nothing delivered from it yet: nothing to continue from
		case origin.IsZero():
			continue // Redis restarted empty and nothing was published since
		case after.Less(origin):
			// Redis lost the history after last: everything published
			// since is in the new one, from its origin on.
			after = origin.Prev()
		}
		spans = append(spans, span{part: &b.parts[k], after: after, head: head})
	}
	r, err = b.readSince(ctx, sel, spans, nil, "", false)
	if err != nil || r.Reset != nil {
		return broker.Replay{}, false, err
	}
	return r, true, nil
}

// readSince reads the events of each span for sel, or a reset when
// retention dropped some of them. It decides the reset from every
// candidate stream's XINFO before it reads any event, then reads the first
// page; the replay's Next reads the others. With from (a resume on a
// partitioned broker) the messages carry the stream's cursor, from from
// on; otherwise they are as live delivery makes them. legacy: the resume
// point is an id of the single-slot layout. Then, and while the fleet
// moves to partitions and a history TTL after, partition 0's span also
// reads the single slot's streams of the selection's topics that are now
// elsewhere.
func (b *Broker) readSince(ctx context.Context, sel broker.Selection, spans []span, from eventid.Cursor, lastEventID string, legacy bool) (broker.Replay, error) {
	return b.readHistory(ctx, sel, spans, from, lastEventID, legacy, false)
}

// ReplayRetained implements broker.RetainedReplayer at one partition: a
// Mercure stream's "earliest" (a partitioned broker refuses Mercure).
func (b *Broker) ReplayRetained(ctx context.Context, sel broker.Selection) (broker.Replay, error) {
	if len(b.parts) > 1 {
		return broker.Replay{}, errMercurePartitioned
	}
	heads, _, err := b.headsAndOrigins(ctx)
	if err != nil {
		return broker.Replay{}, err
	}
	return b.readHistory(ctx, sel, []span{{part: &b.parts[0], head: heads[0]}}, nil, "", false, true)
}

// readHistory is readSince, or, when retained, the read of everything
// the spans' streams hold (their after is zero) with every check that
// would answer a reset left out.
func (b *Broker) readHistory(ctx context.Context, sel broker.Selection, spans []span, from eventid.Cursor, lastEventID string, legacy,
	retained bool) (broker.Replay, error) {
	// Where the stream stands once the replay is done: at each span's
	// head, and where it was in the other partitions it selects (none
	// where it selects nothing: a stream's frames need not carry a
	// position it will never advance, and a shard that never sees that
	// partition could never catch up with it: shard client.floor).
	heads := make(eventid.Cursor, len(b.parts))
	if from != nil {
		heads = selected(sel, from)
	}
	for _, sp := range spans {
		heads[sp.part.index] = sp.head
	}
	reset := func(reason string) broker.Replay {
		if from != nil {
			return b.resetAt(reason, lastEventID, heads)
		}
		return b.reset(reason, lastEventID, heads[0])
	}
	horizon := uint64(time.Now().Add(-b.cfg.HistoryTTL).UnixMilli())
	single := legacy || b.layoutNow().readsSingleSlot(b.cfg.HistoryTTL)
	// Candidates: the selected exact topics, and the topics matching a
	// pattern that had an event since the resume point, per span.
	type candidate struct {
		sp     *span
		topic  string
		legacy bool // its single-slot stream, in partition 0 (readSince's legacy)
	}
	var candidates []candidate
	recent := make([]*redis.StringSliceCmd, len(spans))
	if len(sel.Patterns) > 0 {
		for _, sp := range spans {
			if sp.after.Time < horizon && !retained {
				return reset(transport.ResetExpired), nil
			}
		}
		_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, sp := range spans {
				recent[i] = p.ZRangeByScore(ctx, sp.part.topics, &redis.ZRangeBy{
					Min: strconv.FormatUint(sp.after.Time, 10), Max: "+inf"})
			}
			return nil
		})
		if err != nil {
			return broker.Replay{}, fmt.Errorf("redis replay: %w", err)
		}
	}
	for i := range spans {
		sp := &spans[i]
		for _, t := range sel.Topics {
			switch k := PartitionOf(t, len(b.parts)); {
			case k == sp.part.index:
				candidates = append(candidates, candidate{sp: sp, topic: t})
			case single && sp.part.index == 0:
				candidates = append(candidates, candidate{sp: sp, topic: t, legacy: true})
			}
		}
		if recent[i] == nil {
			continue
		}
		for _, t := range recent[i].Val() {
			if !slices.Contains(sel.Topics, t) && topic.MatchedByAny(sel.Patterns, t) {
				// Partition 0's index also names the topics of the
				// single-slot layout that are elsewhere now.
				candidates = append(candidates, candidate{sp: sp, topic: t,
					legacy: PartitionOf(t, len(b.parts)) != sp.part.index})
			}
		}
	}
	infos := make([]*redis.XInfoStreamCmd, len(candidates))
	newest := make([]*redis.FloatCmd, len(candidates))
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range candidates {
			infos[i] = p.XInfoStream(ctx, c.sp.part.stream+c.topic)
			newest[i] = p.ZScore(ctx, c.sp.part.topics, c.topic)
		}
		return nil
	})
	if errors.Is(err, redis.Nil) {
		err = nil // a topic with no recent event: ZSCORE's nil answer
	}
	if err != nil && !isNoSuchKey(err) {
		return broker.Replay{}, fmt.Errorf("redis replay: %w", err)
	}
	p := &pager{b: b, sel: sel, last: make(eventid.Cursor, len(b.parts)), perStream: lastEventID != "" || retained,
		switched: uint64(b.layoutNow().record.switched)}
	if from != nil {
		p.cursor = slices.Clone(from)
		if legacy {
			p.cursor = make(eventid.Cursor, len(b.parts)) // goes on as a cursor
			p.cursor[0] = from[0]
		}
	}
	for _, sp := range spans {
		p.last[sp.part.index] = sp.after
	}
	for i, c := range candidates {
		after := c.sp.after
		mayHaveExpired := after.Time < horizon
		info, err := infos[i].Result()
		if err != nil && retained && isNoSuchKey(err) {
			continue // nothing held
		}
		if err != nil {
			if mayHaveExpired && isNoSuchKey(err) {
				return reset(transport.ResetExpired), nil // it may have expired whole
			}
			// The topic index says when the topic last had an event. One
			// since the resume point (or in its millisecond) whose stream
			// is gone within the TTL was evicted by Redis (maxmemory):
			// its history is lost, and saying nothing would skip it.
			if ms, zerr := newest[i].Result(); isNoSuchKey(err) && zerr == nil && uint64(ms) >= after.Time {
				return reset(transport.ResetExpired), nil
			}
			continue
		}
		deleted, _ := eventid.Parse(info.MaxDeletedEntryID)
		first, _ := eventid.Parse(info.FirstEntry.ID)
		if !retained && (after.Less(deleted) || (mayHaveExpired && after.Less(first))) {
			return reset(transport.ResetExpired), nil
		}
		if newest, _ := eventid.Parse(info.LastEntry.ID); after.Less(newest) {
			p.streams = append(p.streams, &streamCursor{key: c.sp.part.stream + c.topic, part: c.sp.part.index,
				after: after, head: c.sp.head.String(), legacy: c.legacy})
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
	r := broker.Replay{Messages: msgs, Head: heads[0]}
	if from != nil {
		r.Head, r.HeadCursor = eventid.ID{}, heads
	}
	if !p.finished() {
		r.Next = p.next
	}
	return r, nil
}

// isNoSuchKey reports Redis's answer to XINFO STREAM on a missing key.
func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}
