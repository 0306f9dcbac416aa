package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
)

// Active Mercure subscriptions in Redis (docs/mercure-design.md, "Active
// subscriptions"), on presence's lease scheme: every hub has a lease in a
// sorted set that it renews with each write, and any live hub takes a dead
// hub's records out once its lease has expired. The keys, in partition
// 0's slot as presence's are:
//
//	{p}:ms:hubs        sorted set: hub id -> when its lease expires (ms)
//	{p}:ms:h:<hub>     hash: subscription id -> JSON-LD document
//
// The hub's own registry (transport/mercure) calls the tracker from its one
// goroutine; the tracker holds no state but its hub id.

// msubsWriteScript checks the hub's lease (or, with ARGV[3] = "1", drops
// the hub's hash and registers it), renews it, then sets ARGV[4] records
// (id, document pairs) and removes the ids after them. It returns -1,
// having written nothing, when the hub has no live lease.
//
// KEYS: hubs. ARGV: hash key prefix, hub id, register flag, TTL ms, number
// of records, records, ids to remove.
var msubsWriteScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hub, ttl = ARGV[2], tonumber(ARGV[4])
local hk = ARGV[1] .. hub
if ARGV[3] == '1' then
  redis.call('DEL', hk)
else
  local exp = redis.call('ZSCORE', KEYS[1], hub)
  if not exp or tonumber(exp) < now then return -1 end
end
redis.call('ZADD', KEYS[1], now + ttl, hub)
-- Renewed by every live hub's write (at least every third of the TTL):
-- it expires only once the whole fleet is gone.
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
local i = 6
for _ = 1, tonumber(ARGV[5]) do
  redis.call('HSET', hk, ARGV[i], ARGV[i+1])
  i = i + 2
end
for j = i, #ARGV do redis.call('HDEL', hk, ARGV[j]) end
-- A hash outlives its lease by at most a TTL, should no hub reap it.
if redis.call('EXISTS', hk) == 1 then redis.call('PEXPIRE', hk, 2 * ttl) end
return 1
`)

// msubsReapScript takes up to about ARGV[2] records of one hub whose lease
// expired out of its hash, dropping the lease with the last of them, and
// returns them as id, document pairs (empty: no dead hub).
//
// KEYS: hubs. ARGV: hash key prefix, budget.
var msubsReapScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #dead == 0 then return {} end
local hk = ARGV[1] .. dead[1]
local n = tonumber(ARGV[2])
if redis.call('HLEN', hk) <= n then
  local all = redis.call('HGETALL', hk)
  redis.call('DEL', hk)
  redis.call('ZREM', KEYS[1], dead[1])
  return all
end
local page = redis.call('HSCAN', hk, 0, 'COUNT', n)[2]
for i = 1, #page, 2 do redis.call('HDEL', hk, page[i]) end
return page
`)

// msubsChunk is how many records one write script sets, so that a hub
// writing all its records after a reconnection does not hold Redis for
// long: the calls go in one pipeline.
const msubsChunk = 500

// mercureSubsTracker is one hub's records in Redis.
type mercureSubsTracker struct {
	b   *Broker
	hub string // random: a restarted hub is a new one
	ttl time.Duration
}

// TrackMercureSubscriptions implements broker.MercureSubscriptionStore.
func (b *Broker) TrackMercureSubscriptions(ttl time.Duration) broker.MercureSubscriptionTracker {
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	if ttl <= 0 {
		ttl = broker.DefaultPresenceTTL
	}
	return &mercureSubsTracker{b: b, hub: hex.EncodeToString(id[:]), ttl: ttl}
}

// Write implements broker.MercureSubscriptionTracker: one pipeline of
// script calls of at most msubsChunk records each, the first of which
// registers the hub when asked to.
func (t *mercureSubsTracker) Write(ctx context.Context, register bool, set []broker.MercureSubscription, removed []string) error {
	k := t.b.keys
	hashes := k.msubs + "h:"
	var calls []scriptCall
	args := func(reg bool) []any {
		flag := "0"
		if reg {
			flag = "1"
		}
		return []any{hashes, t.hub, flag, t.ttl.Milliseconds(), 0}
	}
	for first := true; first || len(set) > 0 || len(removed) > 0; first = false {
		a := args(register && first)
		n := min(len(set), msubsChunk)
		a[4] = n
		for _, r := range set[:n] {
			a = append(a, r.ID, r.Doc)
		}
		set = set[n:]
		m := min(len(removed), msubsChunk-n)
		for _, id := range removed[:m] {
			a = append(a, id)
		}
		removed = removed[m:]
		calls = append(calls, scriptCall{keys: []string{k.msubs + "hubs"}, args: a})
	}
	cmds, err := runScripts(ctx, t.b.client, msubsWriteScript, calls)
	if err != nil {
		return fmt.Errorf("redis mercure subscriptions: %w", err)
	}
	for _, c := range cmds {
		if n, _ := c.(*redis.Cmd).Int64(); n < 0 {
			return broker.ErrNotRegistered
		}
	}
	return nil
}

// Reap implements broker.MercureSubscriptionTracker.
func (t *mercureSubsTracker) Reap(ctx context.Context, limit int) ([]broker.MercureSubscription, error) {
	k := t.b.keys
	kv, err := msubsReapScript.Run(ctx, t.b.client, []string{k.msubs + "hubs"}, k.msubs+"h:", max(limit, 1)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis mercure subscriptions reap: %w", err)
	}
	out := make([]broker.MercureSubscription, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, broker.MercureSubscription{ID: kv[i], Doc: []byte(kv[i+1])})
	}
	return out, nil
}

// Close implements broker.MercureSubscriptionTracker.
func (t *mercureSubsTracker) Close(ctx context.Context) error {
	k := t.b.keys
	_, err := t.b.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k.msubs+"h:"+t.hub)
		p.ZRem(ctx, k.msubs+"hubs", t.hub)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis mercure subscriptions close: %w", err)
	}
	return nil
}

// MercureSubscriptions implements broker.MercureSubscriptionStore with
// HSCAN over each registered hub's hash (a hub whose lease expired is
// reaped within a tick of the live hubs', so it is not skipped here).
func (b *Broker) MercureSubscriptions(ctx context.Context, prefix string, limit int) ([]broker.MercureSubscription, error) {
	hubs, err := b.client.ZRange(ctx, b.keys.msubs+"hubs", 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis mercure subscriptions: %w", err)
	}
	match := globEscape.Replace(prefix) + "*"
	var out []broker.MercureSubscription
	for _, hub := range hubs {
		var cursor uint64
		for {
			kv, next, err := b.client.HScan(ctx, b.keys.msubs+"h:"+hub, cursor, match, 256).Result()
			if err != nil {
				return nil, fmt.Errorf("redis mercure subscriptions: %w", err)
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if len(out) >= limit {
					return out, nil
				}
				out = append(out, broker.MercureSubscription{ID: kv[i], Doc: []byte(kv[i+1])})
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return out, nil
}

// globEscape escapes the characters of a Redis glob pattern.
var globEscape = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// MercureSubscription implements broker.MercureSubscriptionStore: an HGET
// per registered hub, in one pipeline.
func (b *Broker) MercureSubscription(ctx context.Context, id string) (broker.MercureSubscription, bool, error) {
	hubs, err := b.client.ZRange(ctx, b.keys.msubs+"hubs", 0, -1).Result()
	if err != nil || len(hubs) == 0 {
		return broker.MercureSubscription{}, false, err
	}
	cmds, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, hub := range hubs {
			p.HGet(ctx, b.keys.msubs+"h:"+hub, id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return broker.MercureSubscription{}, false, fmt.Errorf("redis mercure subscription: %w", err)
	}
	for _, c := range cmds {
		if doc, err := c.(*redis.StringCmd).Bytes(); err == nil {
			return broker.MercureSubscription{ID: id, Doc: doc}, true, nil
		}
	}
	return broker.MercureSubscription{}, false, nil
}

// Head implements broker.MercureSubscriptionStore: partition 0's head,
// as Mercure runs at one partition.
func (b *Broker) Head(ctx context.Context) (eventid.ID, error) {
	heads, _, err := b.headsAndOrigins(ctx)
	if err != nil {
		return eventid.ID{}, err
	}
	return heads[0], nil
}

var _ broker.MercureSubscriptionStore = (*Broker)(nil)
