package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
)

// Presence in Redis (issue 18). Every hub's shards hand their counts to the
// hub's tracker, whose loop writes them to Redis once per tick in one
// pipeline, so a connect storm costs Redis a few round trips per tick, not
// one per connect. The keys, all in the prefix's hash slot:
//
//	{p}:p:hubs              sorted set: hub id -> when its records expire (ms)
//	{p}:p:n                 hash: topic -> streams on every hub
//	{p}:p:u:<topic>         hash: user -> streams on every hub
//	{p}:p:h:<hub>:<topic>   hash: "<shard>:<user>" -> that shard's streams
//	{p}:p:t:<hub>           set: the topics the hub has counts in
//
// Queries read the totals ({p}:p:n, {p}:p:u:<topic>): a topic's counts
// cost two O(1) reads whatever its size. The per-hub hashes are what a hub
// added to the totals, so that its share can be taken out again: by itself
// when it closes, or, when it died, by any other hub once its entry in
// {p}:p:hubs has expired (reaping). A hub refreshes its entry every TTL/3;
// each write checks it first, and a hub that finds itself missing (it was
// reaped while cut off from Redis, or Redis lost its data) registers again
// and writes all its counts: they are absolute, so writing one twice does
// no harm.

// presenceEventLua defines append_event, which publishes a join or leave
// event as the publish script publishes one (historyLua, without the
// idempotency record: a script runs once, and its events with it), so that
// the event is in the companion topic's history and on its channel, with
// an id of the one sequence. It runs inside the presence scripts, so a
// user's events come in the order of the changes to the fleet's counts,
// whichever hubs made them. A script that may append calls history.open
// first and history.close last.
const presenceEventLua = historyLua + `
local function append_event(event, name, data)
  local id = history.next()
  history.append(name, event, data, name, id .. '\n' .. name .. '\n' .. event .. '\n' .. data, '')
end
-- Topics and subjects are A-Z a-z 0-9 _ - . : / @ only (a subject names
-- user/<sub>), so they need no JSON escaping; cjson would order the keys
-- at random and escape '/'.
local function event_data(topic, user)
  return '{"topic":"' .. topic .. '","user":"' .. user .. '"}'
end
`

// presenceUpdateScript checks that the hub is registered (or, with
// ARGV[4] = "1", registers it) and refreshes its entry, then sets the
// hub's counts: each entry is five ARGVs (shard, topic, user, streams,
// "1" if the topic has join and leave events), and the difference to what
// the hub had recorded goes to the totals. A user whose total goes from
// zero or to zero on a topic with events gets a join or leave event
// (presenceEventLua). It returns -1, having written nothing, when the hub
// is not registered.
//
// KEYS: hubs, totals of streams, the hub's topics, last, origin, topics
// (history). ARGV: key prefix ("{p}:p:"), hub id, TTL ms, register flag,
// stream key prefix, channel prefix, maxlen, history ttl ms, then the
// entries.
var presenceUpdateScript = redis.NewScript(presenceEventLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local p, hub, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
history.open(KEYS[4], KEYS[5], KEYS[6], ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]))
if ARGV[4] ~= '1' then
  local exp = redis.call('ZSCORE', KEYS[1], hub)
  if not exp or tonumber(exp) < now then return -1 end
end
redis.call('ZADD', KEYS[1], now + ttl, hub)
local function add(key, field, d)
  local n = redis.call('HINCRBY', key, field, d)
  if n <= 0 then redis.call('HDEL', key, field) end
  return n
end
for i = 9, #ARGV, 5 do
  local topic, user, n, events = ARGV[i+1], ARGV[i+2], tonumber(ARGV[i+3]), ARGV[i+4] == '1'
  local hk = p .. 'h:' .. hub .. ':' .. topic
  local f = ARGV[i] .. ':' .. user
  local d = n - tonumber(redis.call('HGET', hk, f) or '0')
  if d ~= 0 then
    if n == 0 then
      redis.call('HDEL', hk, f)
      if redis.call('EXISTS', hk) == 0 then
        redis.call('SREM', KEYS[3], topic)
        redis.call('SREM', KEYS[3] .. ':e', topic)
      end
    else
      redis.call('HSET', hk, f, n)
      redis.call('SADD', KEYS[3], topic)
      if events then redis.call('SADD', KEYS[3] .. ':e', topic) end
    end
    add(KEYS[2], topic, d)
    if user ~= '' then
      local total = add(p .. 'u:' .. topic, user, d)
      if events and total > 0 and total == d then
        append_event('ssehub.join', 'presence:' .. topic, event_data(topic, user))
      elseif events and total <= 0 and total > d then
        append_event('ssehub.leave', 'presence:' .. topic, event_data(topic, user))
      end
    end
  end
end
history.close()
return 0
`)

// presenceReapScript takes a hub's counts out of the totals: the hub
// ARGV[2], or, when that is empty, the first hub whose entry expired. A
// user who thereby leaves a topic with events gets a leave event. It
// stops after about ARGV[3] counts, so that one call never blocks Redis
// for long, and returns 0 when there was nothing to reap, 1 when the hub
// is gone, 2 when it has more to reap.
//
// KEYS: hubs, totals of streams, unused, last, origin, topics (history).
// ARGV: key prefix, hub id or "", budget, unused, stream key prefix,
// channel prefix, maxlen, history ttl ms.
var presenceReapScript = redis.NewScript(presenceEventLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local p, hub, budget = ARGV[1], ARGV[2], tonumber(ARGV[3])
history.open(KEYS[4], KEYS[5], KEYS[6], ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]))
if hub == '' then
  local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
  if #dead == 0 then return 0 end
  hub = dead[1]
end
local function add(key, field, d)
  local n = redis.call('HINCRBY', key, field, d)
  if n <= 0 then redis.call('HDEL', key, field) end
  return n
end
local tk = p .. 't:' .. hub
local result = 2
while budget > 0 do
  local topics = redis.call('SPOP', tk, 16)
  if #topics == 0 then
    redis.call('ZREM', KEYS[1], hub)
    redis.call('DEL', tk .. ':e')
    result = 1
    break
  end
  for _, topic in ipairs(topics) do
    local events = redis.call('SISMEMBER', tk .. ':e', topic) == 1
    local hk = p .. 'h:' .. hub .. ':' .. topic
    local f = redis.call('HGETALL', hk)
    for i = 1, #f, 2 do
      local n = tonumber(f[i+1])
      add(KEYS[2], topic, -n)
      local user = string.sub(f[i], string.find(f[i], ':', 1, true) + 1)
      if user ~= '' then
        local total = add(p .. 'u:' .. topic, user, -n)
        if events and total <= 0 and total > -n then
          append_event('ssehub.leave', 'presence:' .. topic, event_data(topic, user))
        end
      end
    end
    redis.call('DEL', hk)
    budget = budget - 1 - #f / 2
  end
end
history.close()
return result
`)

const (
	// presenceTick is how often the tracker writes what its shards
	// handed it, and looks for dead hubs to reap.
	presenceTick = 250 * time.Millisecond
	// presenceChunk is how many counts one script call sets, so that a
	// resync of a large hub does not block Redis for long.
	presenceChunk = 1000
	// presenceReapBudget is about how many counts one reap call removes.
	presenceReapBudget = 5000
	// presenceQueue is how many shard batches may wait for the loop; a
	// shard whose batch finds it full offers it again at its next tick.
	presenceQueue = 256
)

// presenceUpdate is one shard's batch.
type presenceUpdate struct {
	shard   int
	entries []broker.PresenceEntry
}

// presenceTracker is a hub's presence in Redis. Its loop runs in its own
// goroutine from TrackPresence until Close (or the broker's Close).
type presenceTracker struct {
	b      *Broker
	hub    string // this hub's id: random, so a restarted hub is a new one
	ttl    time.Duration
	events func(topic string) bool // topics with join and leave events; nil: none
	in     chan presenceUpdate
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed when the loop has returned

	// Owned by the loop.
	counts     map[shardCount]int      // every count this hub has, as Redis should hold it
	pending    map[shardCount]struct{} // counts not written yet
	registered bool                    // the hub's entry is in Redis, as far as it knows
	lastWrite  time.Time               // of a successful update, which refreshes the entry
	lastErrLog time.Time

	members, batches, errors atomic.Uint64
}

// shardCount names one shard's count of one user on one topic.
type shardCount struct {
	shard       int
	topic, user string
}

// TrackPresence implements broker.PresenceStore.
func (b *Broker) TrackPresence(cfg broker.PresenceConfig) broker.PresenceTracker {
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	t := &presenceTracker{
		b: b, hub: hex.EncodeToString(id[:]), ttl: cfg.TTL, events: cfg.Events,
		in: make(chan presenceUpdate, presenceQueue), stop: make(chan struct{}), done: make(chan struct{}),
		counts: make(map[shardCount]int), pending: make(map[shardCount]struct{}),
	}
	if t.ttl <= 0 {
		t.ttl = broker.DefaultPresenceTTL
	}
	b.background.Go(t.loop)
	return t
}

// Update implements broker.PresenceTracker.
func (t *presenceTracker) Update(shard int, entries []broker.PresenceEntry) bool {
	select {
	case t.in <- presenceUpdate{shard, entries}:
		return true
	default:
		return false
	}
}

// Close implements broker.PresenceTracker: it stops the loop, which takes
// this hub's counts out of Redis as it returns.
func (t *presenceTracker) Close() {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	<-t.done
}

// PresenceStats implements broker.PresenceReporter.
func (t *presenceTracker) PresenceStats() broker.PresenceStats {
	return broker.PresenceStats{Members: int64(t.members.Load()), Batches: t.batches.Load(), Errors: t.errors.Load()}
}

func (t *presenceTracker) loop() {
	defer close(t.done)
	tick := time.NewTicker(min(presenceTick, t.ttl/10))
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			t.leave()
			return
		case <-t.b.closed:
			t.leave()
			return
		case u := <-t.in:
			t.take(u)
		case <-tick.C:
			// Whatever else arrived goes in the same pipeline.
			for drained := false; !drained; {
				select {
				case u := <-t.in:
					t.take(u)
				default:
					drained = true
				}
			}
			t.write()
			t.reap()
		}
	}
}

// take records a shard's batch, to be written at the next tick.
func (t *presenceTracker) take(u presenceUpdate) {
	for _, e := range u.entries {
		k := shardCount{u.shard, e.Topic, e.User}
		t.counts[k] = e.Streams // zeros stay until written: Redis must hear of them
		t.pending[k] = struct{}{}
	}
}

// write sends the pending counts, or, with none pending, refreshes the
// hub's entry when a third of the TTL has passed since the last write.
func (t *presenceTracker) write() {
	if len(t.pending) == 0 && t.registered && time.Since(t.lastWrite) < t.ttl/3 {
		return
	}
	if !t.registered {
		// Redis may have none of this hub's counts: write them all.
		for k := range t.counts {
			t.pending[k] = struct{}{}
		}
	}
	calls := [][]any{t.args(!t.registered)}
	for k := range t.pending {
		last := calls[len(calls)-1]
		if len(last) >= 8+5*presenceChunk {
			last = t.args(false)
			calls = append(calls, last)
		}
		events := "0"
		if k.user != "" && t.hasEvents(k.topic) {
			events = "1"
		}
		calls[len(calls)-1] = append(last, k.shard, k.topic, k.user, t.counts[k], events)
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.ttl/3)
	defer cancel()
	keys := t.scriptKeys()
	runs := make([]scriptCall, len(calls))
	for i, args := range calls {
		runs[i] = scriptCall{keys: keys, args: args}
	}
	cmds, err := runScripts(ctx, t.b.client, presenceUpdateScript, runs)
	t.batches.Add(1)
	if err == nil {
		for _, c := range cmds {
			if n, _ := c.(*redis.Cmd).Int64(); n < 0 {
				err = errors.New("hub not registered: it was reaped, or Redis lost its data")
			}
		}
	}
	if err != nil {
		t.fail("write", err)
		t.registered = false // next time: register, and write every count
		return
	}
	t.registered, t.lastWrite = true, time.Now()
	for k := range t.pending {
		if t.counts[k] == 0 {
			delete(t.counts, k)
		}
	}
	clear(t.pending)
	t.members.Store(uint64(len(t.counts)))
}

// args starts the ARGVs of one update call.
func (t *presenceTracker) args(register bool) []any {
	flag := "0"
	if register {
		flag = "1"
	}
	return []any{t.b.keys.presence, t.hub, t.ttl.Milliseconds(), flag,
		t.b.parts[0].stream, t.b.keys.channel, t.b.cfg.HistorySize, t.b.cfg.HistoryTTL.Milliseconds()}
}

// scriptKeys are the KEYS of both presence scripts.
func (t *presenceTracker) scriptKeys() []string {
	k := t.b.keys
	p := t.b.parts[0]
	return []string{k.presenceHubs, k.presenceStreams, k.presence + "t:" + t.hub, p.last, p.origin, p.topics}
}

// hasEvents reports whether topic gets join and leave events.
func (t *presenceTracker) hasEvents(topic string) bool {
	return t.events != nil && len(broker.PresencePrefix)+len(topic) <= 256 && t.events(topic)
}

// reap takes out the counts of one dead hub, if there is one: every live
// hub does this each tick, so a dead hub is gone within a tick of its
// entry's expiry, whichever hubs survive.
func (t *presenceTracker) reap() {
	ctx, cancel := context.WithTimeout(context.Background(), t.ttl/3)
	defer cancel()
	if _, err := t.reapHub(ctx, ""); err != nil {
		t.fail("reap", err)
	}
}

// reapHub runs the reap script for hub ("" for any dead one) until it is
// gone or there was nothing to reap.
func (t *presenceTracker) reapHub(ctx context.Context, hub string) (int64, error) {
	for {
		k := t.b.keys
		n, err := presenceReapScript.Run(ctx, t.b.client, t.scriptKeys(), k.presence, hub, presenceReapBudget, "",
			t.b.parts[0].stream, k.channel, t.b.cfg.HistorySize, t.b.cfg.HistoryTTL.Milliseconds()).Int64()
		if err != nil || n != 2 {
			return n, err
		}
	}
}

// leave takes this hub's counts out of Redis as it stops cleanly.
func (t *presenceTracker) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := t.reapHub(ctx, t.hub); err != nil {
		// Its entry expires by itself: the fleet sees it gone within the TTL.
		t.b.log.Warn("redis: cannot remove this hub's presence; it expires within the TTL", "err", err, "ttl", t.ttl)
	}
}

// fail counts and, at most every 10s, logs a failed exchange. Nothing is
// lost: the counts stay pending and go with the next tick's write.
func (t *presenceTracker) fail(what string, err error) {
	t.errors.Add(1)
	if time.Since(t.lastErrLog) >= congestionErrorLogEvery {
		t.lastErrLog = time.Now()
		t.b.log.Warn("redis: presence "+what+" failed; retrying at the next tick", "err", err)
	}
}

// scriptCall is one run of a script: its keys and arguments.
type scriptCall struct {
	keys []string
	args []any
}

// runScripts runs script once per element of calls in one pipeline, which
// Redis executes in order. After NOSCRIPT (Redis restarted or flushed its
// script cache) nothing ran, since every command failed the same way: all
// of them are sent again once, with the script's source.
func runScripts(ctx context.Context, c redis.UniversalClient, script *redis.Script, calls []scriptCall) ([]redis.Cmder, error) {
	run := func(evalSha bool) ([]redis.Cmder, error) {
		return c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, call := range calls {
				if evalSha {
					script.EvalSha(ctx, p, call.keys, call.args...)
				} else {
					script.Eval(ctx, p, call.keys, call.args...)
				}
			}
			return nil
		})
	}
	cmds, err := run(true)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmds, err = run(false)
	}
	return cmds, err
}

// TopicPresence implements broker.PresenceStore: two O(1) reads.
func (b *Broker) TopicPresence(ctx context.Context, topic string) (broker.TopicPresence, error) {
	var streams *redis.StringCmd
	var users *redis.IntCmd
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		streams = p.HGet(ctx, b.keys.presenceStreams, topic)
		users = p.HLen(ctx, b.keys.presence+"u:"+topic)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return broker.TopicPresence{}, fmt.Errorf("redis presence topic=%q: %w", topic, err)
	}
	n, _ := streams.Int64() // redis.Nil: no streams
	return broker.TopicPresence{Streams: n, Users: users.Val()}, nil
}

// MemberPresence implements broker.PresenceStore.
func (b *Broker) MemberPresence(ctx context.Context, topic, user string) (int64, error) {
	n, err := b.client.HGet(ctx, b.keys.presence+"u:"+topic, user).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis presence topic=%q user=%q: %w", topic, user, err)
	}
	return n, nil
}

// PresenceMembers implements broker.PresenceStore with HSCAN: its cursor
// is Redis's, and limit is a hint, as HSCAN's COUNT is (a small hash comes
// whole).
func (b *Broker) PresenceMembers(ctx context.Context, topic, cursor string, limit int) (broker.PresencePage, error) {
	var from uint64
	if cursor != "" {
		var err error
		if from, err = strconv.ParseUint(cursor, 10, 64); err != nil || from == 0 {
			return broker.PresencePage{}, broker.ErrBadCursor
		}
	}
	kv, next, err := b.client.HScan(ctx, b.keys.presence+"u:"+topic, from, "", int64(max(limit, 1))).Result()
	if err != nil {
		return broker.PresencePage{}, fmt.Errorf("redis presence members topic=%q: %w", topic, err)
	}
	page := broker.PresencePage{Members: make([]broker.PresenceMember, 0, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		n, _ := strconv.ParseInt(kv[i+1], 10, 64)
		page.Members = append(page.Members, broker.PresenceMember{User: kv[i], Streams: n})
	}
	if next != 0 {
		page.Cursor = strconv.FormatUint(next, 10)
	}
	return page, nil
}

var (
	_ broker.PresenceStore    = (*Broker)(nil)
	_ broker.PresenceReporter = (*presenceTracker)(nil)
)
