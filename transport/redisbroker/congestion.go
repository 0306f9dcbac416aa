package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
)

// congestionScript records this hub as congested (ARGV[2] = "1", until
// now + ARGV[3] ms) or not, drops the records that expired, and returns how
// many other hubs are congested. The record is a member of one sorted set
// scored by its expiry, so a hub that dies while congested drops out by
// itself.
//
// KEYS: the congestion set. ARGV: this hub's member, "1" or "0", ttl ms.
var congestionScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local others = redis.call('ZCARD', KEYS[1])
if ARGV[2] == '1' then others = others - 1 end
return others
`)

// congestionTTL is how long a hub's record lasts without a refresh: a hub
// killed while congested holds the fleet's publishes back at most this
// long. At least 2s, and three polls (plus a slow answer) so that a live
// hub's record never lapses between refreshes.
func congestionTTL(poll time.Duration) time.Duration {
	return max(2*time.Second, 3*poll+time.Second)
}

// congestionErrorLogEvery rate-limits the log line of a failed exchange.
const congestionErrorLogEvery = 10 * time.Second

// congestionShare carries this hub's congestion to the fleet and the
// fleet's to this hub. Its loop runs in its own goroutine from
// ShareCongestion until the broker closes.
type congestionShare struct {
	b      *Broker
	member string
	others func(bool)

	self atomic.Bool   // this hub is congested; written by the hub
	wake chan struct{} // the hub's state changed; capacity 1
}

// ShareCongestion implements broker.CongestionSharer: every
// Config.CongestionPoll, and at once when this hub's state changes, the
// broker records this hub's state in Redis and reads whether another hub
// is congested.
func (b *Broker) ShareCongestion(others func(congested bool)) (self func(congested bool)) {
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	c := &congestionShare{b: b, member: hex.EncodeToString(id[:]), others: others, wake: make(chan struct{}, 1)}
	b.background.Go(c.loop)
	return c.set
}

func (c *congestionShare) set(congested bool) {
	c.self.Store(congested)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *congestionShare) loop() {
	t := time.NewTicker(c.b.cfg.CongestionPoll)
	defer t.Stop()
	othersCongested := false
	recorded := false // this hub's record is in Redis
	var lastErrorLog time.Time
	for {
		select {
		case <-c.b.closed:
			if recorded {
				c.exchange(false)
			}
			return
		case <-t.C:
		case <-c.wake:
		}
		self := c.self.Load()
		n, err := c.exchange(self)
		if err != nil {
			// Without Redis publishes fail anyway; holding them back
			// on a stale answer would only add a wait. But the fleet no
			// longer hears of this hub (Redis may refuse writes when out
			// of memory while pub/sub output piles up): say so.
			n = 0
			c.b.stats.congestionErrors.Add(1)
			if time.Since(lastErrorLog) >= congestionErrorLogEvery {
				lastErrorLog = time.Now()
				c.b.log.Warn("redis: cannot share congestion with the fleet", "err", err, "congested", self)
			}
		} else {
			recorded = self
		}
		if now := n > 0; now != othersCongested {
			othersCongested = now
			c.b.stats.othersCongested.Store(now)
			c.others(now)
		}
	}
}

// exchange records self and returns how many other hubs are congested.
func (c *congestionShare) exchange(self bool) (int64, error) {
	on := "0"
	if self {
		on = "1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.b.cfg.CongestionPoll+time.Second)
	defer cancel()
	ttl := congestionTTL(c.b.cfg.CongestionPoll)
	return congestionScript.Run(ctx, c.b.client, []string{c.b.keys.congested}, c.member, on, ttl.Milliseconds()).Int64()
}

var _ broker.CongestionSharer = (*Broker)(nil)
