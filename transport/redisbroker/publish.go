package redisbroker

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/transport"
)

// historyLua is the Lua library of every script that publishes events
// (publishScript and the presence scripts): the fleet's one sequence of
// ids and the topics' streams. A script calls history.open, then, per
// event, history.next for its id and history.append for each of its
// topics, and history.close once at the end.
//
// What does not depend on the event is done once per script: reading and
// writing the sequence, and trimming, expiring and indexing each stream
// the script appended to, however many events it appended. An event costs
// an XADD and a PUBLISH per topic; that is what makes a batch cheap
// (BENCHMARKS.md, "Fleet mode: publish throughput through Redis").
//
// The streams are named by the stream prefix and the topic; callers
// declare them in KEYS too, for Redis Cluster, which routes and checks a
// script by its keys (they all share the prefix's hash slot).
const historyLua = `
local history = {}

-- history.open prepares a script's publishing: the keys of the newest id,
-- the history's first id and the topic index (topic -> ms of its newest
-- event), the stream and channel prefixes, the events kept per topic
-- (0: none) and how long, in ms. It does not touch Redis: a script that
-- ends up publishing nothing costs nothing here.
function history.open(last, origin, index, sp, cp, maxlen, ttl)
  history.keys = {last = last, origin = origin, index = index}
  history.sp, history.cp, history.maxlen, history.ttl = sp, cp, maxlen, ttl
  history.touched = {}
  history.publish = 'PUBLISH'
end

-- history.next returns the next id: Redis time in ms, or the newest id's
-- ms with the next sequence number while the clock has not moved past it
-- (or went back).
function history.next()
  if not history.ms then
    local t = redis.call('TIME')
    history.now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    history.ms, history.seq = history.now, -1
    local last = redis.call('GET', history.keys.last)
    if last then
      local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
      lms, lseq = tonumber(lms), tonumber(lseq)
      if lms >= history.now then history.ms, history.seq = lms, lseq end
    end
  end
  history.seq = history.seq + 1
  history.last = string.format('%.0f-%.0f', history.ms, history.seq)
  history.first = history.first or history.last
  return history.last
end

-- history.append adds the event id (the last history.next gave) to topic
-- name's stream and publishes its envelope on the topic's channel. meta
-- is a Mercure update's metadata (field m), '' for other events.
function history.append(name, event, data, topics, envelope, meta)
  local key, id = history.sp .. name, history.last
  -- NOMKSTREAM: one command for the usual case, a stream that exists. A
  -- Mercure update's metadata is one more field, written only when there
  -- is one, so that a native entry runs the very XADD it did before
  -- Mercure (BENCHMARKS.md, "Mercure updates in the publish script").
  local added = history.maxlen == 0
  if not added and meta == '' then
    added = redis.call('XADD', key, 'NOMKSTREAM', id, 'e', event, 'd', data, 't', topics)
  elseif not added then
    added = redis.call('XADD', key, 'NOMKSTREAM', id, 'e', event, 'd', data, 't', topics, 'm', meta)
  end
  if not added then
    -- A stream that is gone although the topic index says the topic had
    -- an event within the TTL was evicted (maxmemory): the new one
    -- records that everything before this event is lost, so that a
    -- resume from before it gets a reset rather than a gap.
    local prev = redis.call('ZSCORE', history.keys.index, name)
    if meta == '' then
      redis.call('XADD', key, id, 'e', event, 'd', data, 't', topics)
    else
      redis.call('XADD', key, id, 'e', event, 'd', data, 't', topics, 'm', meta)
    end
    if prev and tonumber(prev) >= history.now - history.ttl then
      local before = string.format('%.0f-18446744073709551615', history.ms - 1)
      if history.seq > 0 then before = string.format('%.0f-%.0f', history.ms, history.seq - 1) end
      redis.call('XSETID', key, id, 'MAXDELETEDID', before)
    end
  end
  history.touched[name] = true
  redis.call(history.publish, history.cp .. name, envelope)
  -- Hubs that listen on classic channels while their fleet moves to
  -- partitions on a Cluster hear shard channels' events there too.
  if history.classic then redis.call('PUBLISH', history.classic .. name, envelope) end
end

-- history.close trims, expires and indexes each stream appended to, and
-- records the newest id. Trimming records the newest id it drops as the
-- stream's max-deleted-entry-id (XSETID), which XINFO STREAM reports to
-- replays: plain trimming leaves it unset. Trims drop the oldest entries
-- first, so the recorded id only grows.
function history.close()
  if not history.first then return end
  local now, ttl, maxlen, newest = history.now, history.ttl, history.maxlen, history.last
  local minid = string.format('%.0f-0', now - ttl)
  local slack = math.max(1, math.floor(maxlen / 10))
  local scores = {}
  for name in pairs(history.touched) do
    local key = history.sp .. name
    if maxlen == 0 then
      -- No history: a stream left from when there was would answer
      -- resumes without the events since. Without one, a resume finds
      -- the topic's newest event in the index and gets a reset.
      redis.call('UNLINK', key)
    else
      local len = redis.call('XLEN', key)
      if len > maxlen + slack then
        local old = redis.call('XRANGE', key, '-', '+', 'COUNT', len - maxlen)
        redis.call('XTRIM', key, 'MAXLEN', maxlen)
        redis.call('XSETID', key, newest, 'MAXDELETEDID', old[#old][1])
      end
      -- XRANGE from the start is cheap; XREVRANGE ending at minid scans
      -- the stream (~75 us at 1,000 entries), so it runs only when an
      -- entry aged out.
      if #redis.call('XRANGE', key, '-', '(' .. minid, 'COUNT', 1) > 0 then
        local stale = redis.call('XREVRANGE', key, '(' .. minid, '-', 'COUNT', 1)
        redis.call('XTRIM', key, 'MINID', minid)
        redis.call('XSETID', key, newest, 'MAXDELETEDID', stale[1][1])
      end
      redis.call('PEXPIRE', key, ttl)
    end
    scores[#scores + 1] = history.ms
    scores[#scores + 1] = name
    -- One ZADD for many topics; unpack's arguments stay well within
    -- Lua's stack.
    if #scores >= 2000 then
      redis.call('ZADD', history.keys.index, unpack(scores))
      scores = {}
    end
  end
  if #scores > 0 then redis.call('ZADD', history.keys.index, unpack(scores)) end
  redis.call('SET', history.keys.last, newest)
  redis.call('SET', history.keys.origin, history.first, 'NX')
  -- The topic index has no TTL, so that no volatile-* eviction policy
  -- can take it (resumes by pattern and the eviction check above read
  -- it); this bounds it instead.
  redis.call('ZREMRANGEBYSCORE', history.keys.index, '-inf', now - ttl)
end
`

// publishScript publishes a chunk of a batch in one partition, at most
// publishChunk events, all or nothing: each event gets the next id of the
// partition's sequence, is appended to each of its topics' streams and
// published on each of their channels (historyLua). It returns the ids,
// joined by ",".
//
// It first looks the chunk up by its idempotency record: one published
// already returns its ids and does nothing else, so a pipeline that
// go-redis re-sends after a read timeout, while the first copy is still
// queued in a stalled Redis, or a client's retry, publishes nothing twice.
// The record holds "<digest> <ids>"; the batch's first chunk's record is
// checked by every chunk, so a key reused for another body is refused
// even for events the first request did not have.
//
// KEYS: last, origin, topic index, record of the batch's first chunk,
// record of this chunk, the partition's pattern flag, the fleet's layout
// record (partition 0's; in another partition, a key never read), stream
// of each topic (declared for Cluster).
// ARGV: maxlen, history ttl ms, stream prefix, channel prefix,
// traceparent (empty when the publish is not traced; see parseEnvelope),
// digest, record ttl ms, the publish command (PUBLISH, or SPUBLISH for
// shard channels), the partition's firehose (sharded pub/sub: every event
// goes there too while the pattern flag holds a word not expired; empty
// otherwise), the
// partition's mark on the id in envelopes ("@<index>" when partitioned),
// the layout record the publish needs (empty: any; unless the chunk was
// published already, it fails with LAYOUT otherwise), the classic channel
// prefix to publish on too (shard channels of a fleet that moved to
// partitions, until the move is finished; empty otherwise), how many
// ARGV each event has (4, or 6 in a chunk with a Mercure update), then per
// event: event, data, its topics in this partition joined by ",", all its
// topics joined by "," when it has some in other partitions too (empty
// otherwise), and in a chunk of 6, a Mercure update's metadata
// (transport.EncodeMercure; empty for native events) and the key that
// maps its publisher's id to its id (empty when it has none; declared in
// KEYS too). Native chunks thus cost Redis what they did before Mercure.
var publishScript = redis.NewScript(historyLua + `
local mark = ARGV[6] .. ' '
local stride = tonumber(ARGV[13])
local first = redis.call('GET', KEYS[4])
if first and string.sub(first, 1, #mark) ~= mark then
  return redis.error_reply('IDEMPOTENCY key reused for another request')
end
local done = first
if KEYS[5] ~= KEYS[4] then done = redis.call('GET', KEYS[5]) end
-- Nothing is published in a layout the fleet left: a chunk refused for it
-- is published anew as the fleet now does, and one published before is
-- answered from its record, here or then (singleSlotRecords).
if ARGV[11] ~= '' and not done then
  local rec = redis.call('GET', KEYS[7])
  if rec and rec ~= ARGV[11] then return redis.error_reply('LAYOUT the fleet records ' .. rec .. ' partitions') end
end
local ids = {}
if done then
  if string.sub(done, 1, #mark) ~= mark then return redis.error_reply('IDEMPOTENCY key reused for another request') end
  for id in string.gmatch(string.sub(done, #mark + 1), '[^,]+') do ids[#ids + 1] = id end
  if 13 + stride * #ids >= #ARGV then return table.concat(ids, ',') end
end
history.open(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[4], tonumber(ARGV[1]), tonumber(ARGV[2]))
history.publish = ARGV[8]
if ARGV[12] ~= '' then history.classic = ARGV[12] end
local firehose = false
if ARGV[9] ~= '' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  firehose = #redis.call('ZRANGEBYSCORE', KEYS[6], '(' .. string.format('%.0f', now), '+inf', 'LIMIT', 0, 1) > 0
end
local trace = ''
if ARGV[5] ~= '' then trace = 'traceparent=' .. ARGV[5] .. '\n' end
-- A record may hold the ids of the chunk's first events only (written by
-- a version that kept one per event): those are not published again.
for e = 14 + stride * #ids, #ARGV, stride do
  local event, data, here, all, meta, mid = ARGV[e], ARGV[e + 1], ARGV[e + 2], ARGV[e + 3], '', ''
  if stride == 6 then meta, mid = ARGV[e + 4], ARGV[e + 5] end
  if all == '' then all = here end
  local id = history.next()
  ids[#ids + 1] = id
  local head = trace
  if meta ~= '' then head = head .. 'mercure=' .. meta .. '\n' end
  local envelope = head .. id .. ARGV[10] .. '\n' .. all .. '\n' .. event .. '\n' .. data
  for name in string.gmatch(here, '[^,]+') do
    history.append(name, event, data, all, envelope, meta)
  end
  if mid ~= '' then redis.call('SET', mid, id, 'PX', ARGV[2]) end
  if firehose then redis.call('SPUBLISH', ARGV[9], envelope) end
end
history.close()
local list = table.concat(ids, ',')
redis.call('SET', KEYS[5], mark .. list, 'PX', ARGV[7])
return list
`)

// publisherIDKey names a Mercure publisher's id in a Redis key: a hash,
// since the id is any string of any length.
func publisherIDKey(pid string) string {
	sum := sha256.Sum256([]byte(pid))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:20])
}

// LookupPublisherID implements broker.PublisherIDs: the publish script
// maps each publisher id to its event's id in the partition of the
// event's first topic, for as long as history keeps events
// (--history-ttl).
func (b *Broker) LookupPublisherID(ctx context.Context, pid string) (eventid.ID, bool, error) {
	// Which partition holds it is not known from the id alone: the first
	// that has it. Mercure runs at one partition (docs/mercure-design.md).
	for _, part := range b.parts {
		s, err := b.client.Get(ctx, part.publisherIDs+publisherIDKey(pid)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return eventid.ID{}, false, fmt.Errorf("redis publisher id lookup: %w", err)
		}
		id, err := eventid.Parse(s)
		if err != nil {
			return eventid.ID{}, false, fmt.Errorf("redis publisher id lookup: %s: %w", clip.Quote(s), err)
		}
		return id, true, nil
	}
	return eventid.ID{}, false, nil
}

// publishChunk is the most events one run of publishScript publishes. A
// batch of up to --max-batch events runs as several, pipelined: a script
// blocks Redis while it runs, and 100 events take it well under a
// millisecond, while the per-script costs are already spread thin.
const publishChunk = 100

// ownKeyTTL is how long the records of a publish without an idempotency
// key are kept. They guard only against go-redis sending the publish's
// pipeline again while an earlier copy is still queued in Redis (after a
// read timeout or a dropped connection); the copies are all sent within the
// publish's deadline and run back to back once Redis answers again, so a
// minute is ample, and keeps them cheap.
const ownKeyTTL = time.Minute

// idemMismatchPrefix starts the error the publish script returns for a
// key reused for another request.
const idemMismatchPrefix = "IDEMPOTENCY"

// Publish implements broker.Broker. Each partition's share of the batch
// runs as scripts of at most publishChunk events each, all in one
// pipeline, which Redis executes in order (a Cluster client sends each to
// its partition's master). Without an idempotency key it makes one up, so
// that go-redis re-sending the pipeline cannot publish an event twice.
//
// An event to topics in several partitions is published in each, with
// that partition's id there (docs/fleet-design.md); the id returned for it
// is the one from the partition of its first topic.
func (b *Broker) Publish(ctx context.Context, pubs []broker.Publication, idem broker.Idempotency) (ids []eventid.ID, err error) {
	ctx, span, trace := b.cfg.Tracer.StartPublish(ctx, "redis", len(pubs))
	defer func() { telemetry.End(span, err) }()
	// A hub whose partition count is not its fleet's would publish where
	// the others' streams do not listen (checked once, then kept current
	// by watchLayout).
	if err := b.checkLayout(ctx); err != nil {
		return nil, fmt.Errorf("redis publish: %w", err)
	}
	if len(b.parts) > 1 && slices.ContainsFunc(pubs, func(p broker.Publication) bool { return p.Mercure != nil }) {
		return nil, errMercurePartitioned
	}
	own := idem.Key == ""
	if own {
		idem = broker.Idempotency{Key: rand.Text(), TTL: ownKeyTTL}
	}
	idemTTL := cmp.Or(idem.TTL, broker.DefaultIdempotencyTTL)
	if !own && len(b.parts) > 1 {
		if err := b.claimIdempotencyKey(ctx, idem, idemTTL); err != nil {
			return nil, err
		}
	}
	ids, err = b.publishIn(ctx, b.layoutNow(), pubs, trace, idem, idemTTL)
	if err != nil && redis.HasErrorPrefix(err, layoutRefusedPrefix) {
		// The fleet switched to partitions since this hub last looked:
		// Redis refused the chunks that would have published in the
		// single slot (those it ran before the switch have their
		// records), so publish again as the fleet now does, or not at
		// all if it switched to another count.
		if err := b.readLayout(ctx); err != nil {
			return nil, fmt.Errorf("redis publish: %w", err)
		}
		ids, err = b.publishIn(ctx, b.layoutNow(), pubs, trace, idem, idemTTL)
	}
	if err != nil && redis.HasErrorPrefix(err, idemMismatchPrefix) {
		return nil, fmt.Errorf("redis publish: %w", broker.ErrIdempotencyMismatch)
	}
	if err != nil {
		return nil, fmt.Errorf("redis publish: %w", err)
	}
	return ids, nil
}

// layoutRefusedPrefix starts the error the publish script returns when
// the fleet's layout record is not the one the publish needs.
const layoutRefusedPrefix = "LAYOUT"

// publishIn publishes pubs as the fleet's layout says: in the single slot
// while it moves to partitions, partitioned otherwise. Partitioned, soon
// after a switch, the events a publish with the same key recorded in the
// single slot before it are answered from those records, so that a retry
// across the switch publishes nothing twice.
func (b *Broker) publishIn(ctx context.Context, layout layoutState, pubs []broker.Publication, trace string,
	idem broker.Idempotency, idemTTL time.Duration) ([]eventid.ID, error) {
	if len(b.parts) == 1 || layout.phase == layoutMoving {
		return b.publishShares(ctx, layout, false, b.partitionShares(pubs, 1), len(pubs), trace, idem, idemTTL)
	}
	if layout.record.switched == 0 || time.Now().UnixMilli() >= layout.record.switched+idemTTL.Milliseconds() {
		return b.publishShares(ctx, layout, true, b.partitionShares(pubs, len(b.parts)), len(pubs), trace, idem, idemTTL)
	}
	ids, err := b.singleSlotRecords(ctx, pubs, idem)
	if err != nil {
		return nil, err
	}
	var rest []broker.Publication
	var at []int // the index in pubs of each of rest
	for i, id := range ids {
		if id.IsZero() {
			rest, at = append(rest, pubs[i]), append(at, i)
		}
	}
	if len(rest) == 0 {
		return ids, nil
	}
	got, err := b.publishShares(ctx, layout, true, b.partitionShares(rest, len(b.parts)), len(rest), trace, idem, idemTTL)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		ids[i] = got[j]
	}
	return ids, nil
}

// singleSlotRecords returns, for each of pubs, the id that a publish with
// idem's key recorded for it in the single slot, or a zero ID. Chunks of
// the single slot and of the partitions have records of their own
// (publishCalls), so these are only ever a single-slot publish's.
func (b *Broker) singleSlotRecords(ctx context.Context, pubs []broker.Publication, idem broker.Idempotency) ([]eventid.ID, error) {
	var keys []string
	for start := 0; start < len(pubs); start += publishChunk {
		keys = append(keys, b.parts[0].idem+idem.Key+":"+strconv.Itoa(start))
	}
	vals, err := b.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	ids := make([]eventid.ID, len(pubs))
	for c, v := range vals {
		rec, ok := v.(string)
		if !ok {
			continue
		}
		digest, list, _ := strings.Cut(rec, " ")
		if digest != idem.Digest {
			return nil, broker.ErrIdempotencyMismatch
		}
		for i, one := range strings.Split(list, ",") {
			if k := c*publishChunk + i; k < len(pubs) && i < publishChunk {
				if ids[k], err = eventid.Parse(one); err != nil {
					return nil, fmt.Errorf("idempotency record %s: %w", keys[c], err)
				}
			}
		}
	}
	return ids, nil
}

// publishShares runs the publish scripts of shares, n events in all,
// partitioned or in the single slot, and returns each event's id.
func (b *Broker) publishShares(ctx context.Context, layout layoutState, partitioned bool, shares []share, n int, trace string,
	idem broker.Idempotency, idemTTL time.Duration) ([]eventid.ID, error) {
	var calls []scriptCall
	for _, sh := range shares {
		calls = append(calls, b.publishCalls(sh, partitioned, layout, trace, idem, idemTTL.Milliseconds())...)
	}
	cmds, err := runScripts(ctx, b.client, publishScript, calls)
	if err != nil {
		return nil, err
	}
	ids := make([]eventid.ID, n)
	for _, sh := range shares {
		for start := 0; start < len(sh.events); start += publishChunk {
			chunk := sh.events[start:min(start+publishChunk, len(sh.events))]
			s, err := cmds[0].(*redis.Cmd).Text()
			cmds = cmds[1:]
			if err != nil {
				return nil, err
			}
			got := strings.Split(s, ",")
			if len(got) != len(chunk) {
				return nil, fmt.Errorf("got %d ids for %d events", len(got), len(chunk))
			}
			for i, one := range got {
				id, err := eventid.Parse(one)
				if err != nil {
					return nil, fmt.Errorf("returned id %q: %w", one, err)
				}
				if e := chunk[i]; e.home {
					ids[e.index] = id
				}
			}
		}
	}
	return ids, nil
}

// share is one partition's part of a publish: the events with topics in
// it, in request order.
type share struct {
	part   *partition
	events []shareEvent
}

// shareEvent is an event, or one partition's copy of it.
type shareEvent struct {
	pub   *broker.Publication
	index int      // in the request
	here  []string // its topics in the share's partition
	all   string   // all its topics joined by ",", when some are elsewhere
	home  bool     // the partition of its first topic: its id is this copy's
}

// partitionShares splits pubs over the first n of b's partitions, in
// index order: n is 1 (the single slot) or all of them.
func (b *Broker) partitionShares(pubs []broker.Publication, n int) []share {
	if n == 1 {
		events := make([]shareEvent, len(pubs))
		for i, p := range pubs {
			events[i] = shareEvent{pub: &pubs[i], index: i, here: p.Topics, home: true}
		}
		return []share{{part: &b.parts[0], events: events}}
	}
	byPart := make([][]shareEvent, len(b.parts))
	for i, p := range pubs {
		home := PartitionOf(p.Topics[0], len(b.parts))
		var all string
		for _, t := range p.Topics[1:] {
			if PartitionOf(t, len(b.parts)) != home {
				all = strings.Join(p.Topics, ",")
				break
			}
		}
		for _, t := range p.Topics {
			k := PartitionOf(t, len(b.parts))
			evs := byPart[k]
			if n := len(evs); n > 0 && evs[n-1].index == i {
				evs[n-1].here = append(evs[n-1].here, t)
				continue
			}
			byPart[k] = append(evs, shareEvent{pub: &pubs[i], index: i, here: []string{t}, all: all, home: k == home})
		}
	}
	var shares []share
	for k, evs := range byPart {
		if len(evs) > 0 {
			shares = append(shares, share{part: &b.parts[k], events: evs})
		}
	}
	return shares
}

// publishCalls are the script runs of one partition's share, a chunk of
// at most publishChunk events each, for a publish over parts partitions
// under layout.
func (b *Broker) publishCalls(sh share, partitioned bool, layout layoutState, trace string, idem broker.Idempotency, idemTTL int64) []scriptCall {
	// The single slot's records and the partitions' have keys of their
	// own (singleSlotRecords).
	record := sh.part.idem + idem.Key + ":"
	channel, publish, firehose, mark, needs, classic := b.keys.channel, "PUBLISH", "", "", "", ""
	switch {
	case !partitioned:
		// Only while the fleet is of the single slot (or has no record,
		// deleted to change its count with a full stop).
		needs = "1"
	case b.cluster:
		channel, publish, firehose = sh.part.shardChannel, "SPUBLISH", sh.part.firehose
		if layout.copiesToClassic() {
			// For the hubs that started while the fleet moved.
			classic = b.keys.channel
		}
	}
	if partitioned {
		record += "p"
		mark = "@" + strconv.Itoa(sh.part.index)
	}
	calls := make([]scriptCall, 0, (len(sh.events)+publishChunk-1)/publishChunk)
	for start := 0; start < len(sh.events); start += publishChunk {
		chunk := sh.events[start:min(start+publishChunk, len(sh.events))]
		keys := []string{sh.part.last, sh.part.origin, sh.part.topics, record + "0", record + strconv.Itoa(start), sh.part.patterns,
			sh.part.tag + layoutKeySuffix}
		seen := make(map[string]bool, len(chunk))
		stride := 4
		if slices.ContainsFunc(chunk, func(e shareEvent) bool { return e.pub.Mercure != nil }) {
			stride = 6
		}
		args := make([]any, 0, 13+stride*len(chunk))
		args = append(args, b.cfg.HistorySize, b.cfg.HistoryTTL.Milliseconds(), sh.part.stream, channel, trace, idem.Digest, idemTTL, publish, firehose,
			mark, needs, classic, stride)
		for _, e := range chunk {
			for _, t := range e.here {
				if !seen[t] {
					seen[t] = true
					keys = append(keys, sh.part.stream+t)
				}
			}
			meta, mid := "", ""
			if m := e.pub.Mercure; m != nil {
				meta = transport.EncodeMercure(m)
				if m.ID != "" && e.home {
					mid = sh.part.publisherIDs + publisherIDKey(m.ID)
					keys = append(keys, mid)
				}
			}
			args = append(args, e.pub.Event, e.pub.Data, strings.Join(e.here, ","), e.all)
			if stride == 6 {
				args = append(args, meta, mid)
			}
		}
		calls = append(calls, scriptCall{keys: keys, args: args})
	}
	return calls
}

// claimIdempotencyKey records idem's digest under its key in partition 0,
// unless one is there already, which must be the same: with partitions, a
// request's records are in the partitions its events went to, and a body
// reused with events in other partitions only would find none of them.
func (b *Broker) claimIdempotencyKey(ctx context.Context, idem broker.Idempotency, ttl time.Duration) error {
	prev, err := b.client.SetArgs(ctx, b.parts[0].idem+idem.Key+":digest", idem.Digest,
		redis.SetArgs{Mode: "NX", Get: true, TTL: ttl}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil // claimed now
	case err != nil:
		return fmt.Errorf("redis publish: %w", err)
	case prev != idem.Digest:
		return fmt.Errorf("redis publish: %w", broker.ErrIdempotencyMismatch)
	}
	return nil
}
