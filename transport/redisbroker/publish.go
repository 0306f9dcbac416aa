package redisbroker

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/telemetry"
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
-- name's stream and publishes its envelope on the topic's channel.
function history.append(name, event, data, topics, envelope)
  local key, id = history.sp .. name, history.last
  -- NOMKSTREAM: one command for the usual case, a stream that exists.
  if history.maxlen > 0 and not redis.call('XADD', key, 'NOMKSTREAM', id, 'e', event, 'd', data, 't', topics) then
    -- A stream that is gone although the topic index says the topic had
    -- an event within the TTL was evicted (maxmemory): the new one
    -- records that everything before this event is lost, so that a
    -- resume from before it gets a reset rather than a gap.
    local prev = redis.call('ZSCORE', history.keys.index, name)
    redis.call('XADD', key, id, 'e', event, 'd', data, 't', topics)
    if prev and tonumber(prev) >= history.now - history.ttl then
      local before = string.format('%.0f-18446744073709551615', history.ms - 1)
      if history.seq > 0 then before = string.format('%.0f-%.0f', history.ms, history.seq - 1) end
      redis.call('XSETID', key, id, 'MAXDELETEDID', before)
    end
  end
  history.touched[name] = true
  redis.call('PUBLISH', history.cp .. name, envelope)
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

// publishScript publishes a chunk of a batch, at most publishChunk events,
// all or nothing: each event gets the next id of the fleet's sequence, is
// appended to each of its topics' streams and published on each of their
// channels (historyLua). It returns the ids, joined by ",".
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
// record of this chunk, stream of each topic (declared for Cluster).
// ARGV: maxlen, history ttl ms, stream prefix, channel prefix,
// traceparent (empty when the publish is not traced; see decodeEnvelope),
// digest, record ttl ms, then three per event: event, data, topics joined
// by ",".
var publishScript = redis.NewScript(historyLua + `
local mark = ARGV[6] .. ' '
local first = redis.call('GET', KEYS[4])
if first and string.sub(first, 1, #mark) ~= mark then
  return redis.error_reply('IDEMPOTENCY key reused for another request')
end
local done = first
if KEYS[5] ~= KEYS[4] then done = redis.call('GET', KEYS[5]) end
local ids = {}
if done then
  if string.sub(done, 1, #mark) ~= mark then return redis.error_reply('IDEMPOTENCY key reused for another request') end
  for id in string.gmatch(string.sub(done, #mark + 1), '[^,]+') do ids[#ids + 1] = id end
  if 7 + 3 * #ids >= #ARGV then return table.concat(ids, ',') end
end
history.open(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[4], tonumber(ARGV[1]), tonumber(ARGV[2]))
local trace = ''
if ARGV[5] ~= '' then trace = 'traceparent=' .. ARGV[5] .. '\n' end
-- A record may hold the ids of the chunk's first events only (written by
-- a version that kept one per event): those are not published again.
for e = 8 + 3 * #ids, #ARGV, 3 do
  local event, data, topics = ARGV[e], ARGV[e + 1], ARGV[e + 2]
  local id = history.next()
  ids[#ids + 1] = id
  local envelope = trace .. id .. '\n' .. topics .. '\n' .. event .. '\n' .. data
  for name in string.gmatch(topics, '[^,]+') do
    history.append(name, event, data, topics, envelope)
  end
end
history.close()
local list = table.concat(ids, ',')
redis.call('SET', KEYS[5], mark .. list, 'PX', ARGV[7])
return list
`)

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

// Publish implements broker.Broker. A batch runs as one pipeline of
// scripts of at most publishChunk events each, which Redis executes in
// order. Without an idempotency key it makes one up, so that go-redis
// re-sending the pipeline cannot publish an event twice.
func (b *Broker) Publish(ctx context.Context, pubs []broker.Publication, idem broker.Idempotency) (ids []eventid.ID, err error) {
	ctx, span, trace := b.cfg.Tracer.StartPublish(ctx, "redis", len(pubs))
	defer func() { telemetry.End(span, err) }()
	if idem.Key == "" {
		idem = broker.Idempotency{Key: rand.Text(), TTL: ownKeyTTL}
	}
	idemTTL := cmp.Or(idem.TTL, broker.DefaultIdempotencyTTL).Milliseconds()
	record := b.keys.idem + idem.Key + ":"
	calls := make([]scriptCall, 0, (len(pubs)+publishChunk-1)/publishChunk)
	for start := 0; start < len(pubs); start += publishChunk {
		chunk := pubs[start:min(start+publishChunk, len(pubs))]
		keys := []string{b.keys.last, b.keys.origin, b.keys.topics, record + "0", record + strconv.Itoa(start)}
		seen := make(map[string]bool, len(chunk))
		args := make([]any, 0, 7+3*len(chunk))
		args = append(args, b.cfg.HistorySize, b.cfg.HistoryTTL.Milliseconds(), b.keys.stream, b.keys.channel, trace, idem.Digest, idemTTL)
		for _, pub := range chunk {
			for _, t := range pub.Topics {
				if !seen[t] {
					seen[t] = true
					keys = append(keys, b.keys.stream+t)
				}
			}
			args = append(args, pub.Event, pub.Data, strings.Join(pub.Topics, ","))
		}
		calls = append(calls, scriptCall{keys: keys, args: args})
	}
	cmds, err := runScripts(ctx, b.client, publishScript, calls)
	if err != nil && redis.HasErrorPrefix(err, idemMismatchPrefix) {
		return nil, fmt.Errorf("redis publish: %w", broker.ErrIdempotencyMismatch)
	}
	if err != nil {
		return nil, fmt.Errorf("redis publish: %w", err)
	}
	ids = make([]eventid.ID, 0, len(pubs))
	for i, c := range cmds {
		s, err := c.(*redis.Cmd).Text()
		if err != nil {
			return ids, fmt.Errorf("redis publish: %w", err)
		}
		chunk := strings.Split(s, ",")
		if want := min(publishChunk, len(pubs)-i*publishChunk); len(chunk) != want {
			return ids, fmt.Errorf("redis publish: got %d ids for %d events", len(chunk), want)
		}
		for _, one := range chunk {
			id, err := eventid.Parse(one)
			if err != nil {
				return ids, fmt.Errorf("redis publish returned id %q: %w", one, err)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}
