package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
)

// counters are the broker's counters, updated by its subscribers and
// replays, read by Stats.
type counters struct {
	reconnects, gapFills, gapMessages, gapLosses, probeFailures, replays, resets atomic.Uint64
	congestionErrors                                                             atomic.Uint64
	othersCongested                                                              atomic.Bool
}

// subscribeTimeout bounds waiting for Redis to confirm a subscription.
const subscribeTimeout = 5 * time.Second

// NewSubscriber implements broker.Broker. With Config.PubSubConns zero the
// subscriber has a pub/sub connection of its own, with its own receive
// loop; otherwise it shares one of that many connections with the other
// subscribers (shards) of this broker, dealt round robin.
//
// With sharded pub/sub (a Cluster with partitions) a subscriber has a
// connection per partition, to its master, where that partition's shard
// channels are; otherwise one connection carries every partition.
func (b *Broker) NewSubscriber(sink broker.Sink) (broker.Subscriber, error) {
	b.connsMu.Lock()
	defer b.connsMu.Unlock()
	lanes := 1
	if b.sharded {
		lanes = len(b.parts)
	}
	t := &tap{sink: sink, pending: make(map[string]bool), last: make(eventid.Cursor, len(b.parts)),
		wanted: make(map[string]uint64), patternWaits: make(map[string]*patternWait)}
	for lane := range lanes {
		var part *partition
		if b.sharded {
			part = &b.parts[lane]
		}
		var c *subscriber
		if n := b.cfg.PubSubConns; n > 0 {
			i := (b.taps%n)*lanes + lane
			if b.conns == nil {
				b.conns = make([]*subscriber, n*lanes)
			}
			if b.conns[i] == nil {
				b.conns[i] = b.newConn(part)
			}
			c = b.conns[i]
		} else {
			c = b.newConn(part)
		}
		t.conns = append(t.conns, c)
		c.mu.Lock()
		c.taps[t] = true
		c.mu.Unlock()
	}
	b.taps++
	return t, nil
}

// newConn opens a pub/sub connection and starts its goroutines: for the
// shard channels of part, or, when part is nil, for classic channels.
func (b *Broker) newConn(part *partition) *subscriber {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	s := &subscriber{
		b:        b,
		part:     part,
		probe:    b.keys.probe + hex.EncodeToString(nonce[:]),
		names:    make(map[string]*subscription),
		pending:  make(map[string]int),
		taps:     make(map[*tap]bool),
		awaiting: make(map[string]*awaitingHeads),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	if part != nil {
		s.probe = part.tag + ":probe:" + hex.EncodeToString(nonce[:])
		s.firehose = part.firehose
		s.patterns = make(map[string]map[*tap]bool)
		s.pendingPatterns = make(map[*tap][]patternGen)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ps = s.newPubSub()
	b.allConns = append(b.allConns, s)
	if part == nil {
		s.send(subCommand{name: s.probe, subscribe: true})
	} // else the receive goroutine subscribes it first (dial)
	s.goroutines.Add(2)
	go s.receive()
	go s.sendCommands()
	return s
}

// subscriber is one pub/sub connection, which carries the subscriptions
// of one or more shards (their taps). A shard calls its tap's Subscribe
// and friends from its loop; they only queue a command, since go-redis may
// dial inside any PubSub call and the shard loop must not wait on the
// network. A sender goroutine writes the commands; the receive goroutine
// reads the connection and delivers to each tap's sink in id order.
//
// Sharing a connection divides what Redis does per broadcast by the
// number of shards sharing it (one copy of a message per connection
// subscribed to its channel: docs/capacity.md); the price is that the
// shards on one connection wait for each other, since a delivery to a
// shard whose mailbox is full holds the receive loop.
//
// Why not go-redis's Channel(): it drops a message after a send timeout
// with only a log line, and it hides re-subscriptions, which are the moment
// messages may have been lost (docs/platform-notes.md#redis-pubsub).
type subscriber struct {
	b *Broker
	// part is the partition whose shard channels the connection carries,
	// on its master; nil for classic channels, of every partition.
	part  *partition
	probe string // this connection's own probe channel
	// firehose is part's pattern channel, where the publish script sends
	// every event while some hub follows a pattern (docs/fleet-design.md
	// #sharded-pubsub-on-a-cluster); the connection matches the patterns
	// itself. Empty for classic channels, where Redis matches them.
	firehose string
	ctx      context.Context
	cancel   context.CancelFunc

	mu       sync.Mutex
	ps       *redis.PubSub             // replaced on reconnect by the receive goroutine
	stale    bool                      // ps was closed by resyncSoon: reconnect replaces it
	names    map[string]*subscription  // subscribed channels and patterns, by Redis name
	pending  map[string]int            // SUBSCRIBEs sent per name and not yet confirmed
	taps     map[*tap]bool             // the shards this connection carries
	commands []subCommand              // for the sender goroutine
	awaiting map[string]*awaitingHeads // confirmed subscriptions waiting for heads, by token
	tokens   uint64                    // the last head request's token
	// With a firehose: the taps following each pattern, and the patterns
	// each tap added that wait for the firehose to be in force.
	patterns        map[string]map[*tap]bool
	pendingPatterns map[*tap][]patternGen
	wake            chan struct{} // signals the sender; capacity 1

	// Owned by the receive goroutine: recipients is deliver's scratch
	// list, reused so that a message costs no allocation; moved, that
	// Redis ended the probe channel's subscription, as it does for every
	// shard channel of a slot whose master changed.
	recipients []*tap
	moved      bool

	done       chan struct{} // closed by close
	closeOnce  sync.Once
	goroutines sync.WaitGroup // receive and sendCommands
}

// subscription is one subscribed channel or pattern of a connection, and
// the taps that follow it. Guarded by the connection's mu.
type subscription struct {
	pattern bool
	taps    map[*tap]bool
}

// tap is one shard's subscriber: its share of a pub/sub connection, or of
// one per partition (sharded). Its methods are called from the shard's
// loop.
type tap struct {
	conns []*subscriber // one; or, sharded, one per partition. Set by NewSubscriber, then read only
	sink  broker.Sink

	// mu guards the fields below up to last, which the connections'
	// receive goroutines update. A connection's mu, when held too, is
	// taken first.
	mu sync.Mutex
	// pending holds the names this tap subscribed to and Redis has not
	// confirmed yet.
	pending map[string]bool
	// wanted is the generation of each name the tap is subscribed to,
	// and gen the last one given: a subscription told in force only once
	// its heads arrive (confirm) is told so only if it is still the one
	// that asked, not one made after an unsubscribe meanwhile.
	wanted map[string]uint64
	gen    uint64
	// patternWaits holds, for each pattern followed through firehoses,
	// its generation and the connections where it is not in force yet.
	patternWaits map[string]*patternWait

	// last is the newest id delivered to the sink from each partition
	// (or observed there: Sink.Observed). Each element is owned by the
	// receive goroutine of the connection that carries its partition.
	last eventid.Cursor
}

// subCommand is a subscription change for the sender goroutine, or a
// request for the heads of partitions (confirm).
type subCommand struct {
	name               string
	pattern, subscribe bool
	heads              string // the token of a head request
	partitions         []int  // the partitions whose heads it asks for
}

// Subscribe implements broker.Subscriber. The subscription is pending
// until Redis confirms it; the sink hears of it then.
func (t *tap) Subscribe(topic string) (bool, error) {
	c := t.connFor(topic)
	return t.subscribe(c, c.channel(topic), false)
}

// connFor returns the connection that carries topic's channel.
func (t *tap) connFor(topic string) *subscriber {
	if len(t.conns) == 1 {
		return t.conns[0]
	}
	return t.conns[PartitionOf(topic, len(t.conns))]
}

// channel is the name of topic's channel on s.
func (s *subscriber) channel(topic string) string {
	if s.part != nil {
		return s.part.shardChannel + topic
	}
	return s.b.keys.channel + topic
}

// topicOf is the topic (or pattern) of a channel (or pattern) name of s.
func (s *subscriber) topicOf(name string) string {
	if s.part != nil {
		return strings.TrimPrefix(name, s.part.shardChannel)
	}
	return strings.TrimPrefix(name, s.b.keys.channel)
}

// PSubscribe implements broker.Subscriber, like Subscribe. The hub passes
// only valid patterns (topic.ValidatePattern), whose one glob character is
// *: after the literal "prefix:c:" it cannot reach another prefix's
// channels, whose prefix ends at their first ':' (ValidatePrefix).
//
// With firehoses (sharded), the pattern is followed on every partition's
// connection, and in force once it is on all of them.
func (t *tap) PSubscribe(p string) (bool, error) {
	if t.conns[0].firehose == "" {
		return t.subscribe(t.conns[0], t.conns[0].channel(p), true)
	}
	w := &patternWait{left: make(map[*subscriber]bool, len(t.conns))}
	for _, c := range t.conns {
		w.left[c] = true
	}
	t.mu.Lock()
	t.gen++
	w.gen = t.gen
	t.patternWaits[p] = w
	t.mu.Unlock()
	for _, c := range t.conns {
		c.mu.Lock()
		if c.patterns[p] == nil {
			c.patterns[p] = make(map[*tap]bool)
		}
		c.patterns[p][t] = true
		c.pendingPatterns[t] = append(c.pendingPatterns[t], patternGen{p, w.gen})
		c.mu.Unlock()
		t.subscribe(c, c.firehose, false)
	}
	return false, nil
}

// Unsubscribe implements broker.Subscriber.
func (t *tap) Unsubscribe(topic string) {
	c := t.connFor(topic)
	t.unsubscribe(c, c.channel(topic), false)
}

// PUnsubscribe implements broker.Subscriber.
func (t *tap) PUnsubscribe(p string) {
	if t.conns[0].firehose == "" {
		t.unsubscribe(t.conns[0], t.conns[0].channel(p), true)
		return
	}
	t.mu.Lock()
	delete(t.patternWaits, p)
	t.mu.Unlock()
	for _, c := range t.conns {
		c.mu.Lock()
		delete(c.patterns[p], t)
		if len(c.patterns[p]) == 0 {
			delete(c.patterns, p)
		}
		c.pendingPatterns[t] = slices.DeleteFunc(c.pendingPatterns[t], func(q patternGen) bool { return q.pattern == p })
		if len(c.pendingPatterns[t]) == 0 {
			delete(c.pendingPatterns, t)
		}
		still := false
		for _, taps := range c.patterns {
			still = still || taps[t]
		}
		c.mu.Unlock()
		if !still {
			t.unsubscribe(c, c.firehose, false)
		}
	}
}

// subscribe adds the tap to name's subscription and sends SUBSCRIBE even
// when another tap has it in force already: the confirmation is the
// moment this tap's subscription is in force too, reported from the
// receive goroutine like every other (Sink.Subscribed's contract).
func (t *tap) subscribe(s *subscriber, name string, pattern bool) (bool, error) {
	s.mu.Lock()
	sub := s.names[name]
	if sub == nil {
		sub = &subscription{pattern: pattern, taps: make(map[*tap]bool)}
		s.names[name] = sub
	}
	sub.taps[t] = true
	t.mu.Lock()
	t.pending[name] = true
	t.gen++
	t.wanted[name] = t.gen
	t.mu.Unlock()
	// Counted per command: after SUBSCRIBE, UNSUBSCRIBE, SUBSCRIBE of one
	// name, only the second confirmation means it is in force again.
	s.pending[name]++
	s.mu.Unlock()
	s.send(subCommand{name: name, pattern: pattern, subscribe: true})
	return false, nil
}

// unsubscribe takes the tap off name's subscription, and unsubscribes the
// connection when no tap is left on it.
func (t *tap) unsubscribe(s *subscriber, name string, pattern bool) {
	s.mu.Lock()
	t.mu.Lock()
	delete(t.pending, name)
	delete(t.wanted, name)
	t.mu.Unlock()
	sub := s.names[name]
	if sub != nil {
		delete(sub.taps, t)
	}
	last := sub != nil && len(sub.taps) == 0
	if last {
		delete(s.names, name)
	}
	s.mu.Unlock()
	if last {
		s.send(subCommand{name: name, pattern: pattern})
	}
}

// Close implements broker.Subscriber: it ends the tap's subscriptions, and
// closes the connection once no tap is left on it, waiting for its
// goroutines. It may be called more than once.
func (t *tap) Close() {
	for _, s := range t.conns {
		t.leave(s)
	}
}

// leave takes the tap off the connection s, and closes s once no tap is
// left on it.
func (t *tap) leave(s *subscriber) {
	b := s.b
	// Under connsMu, so that no new subscriber is dealt a connection that
	// is closing.
	b.connsMu.Lock()
	s.mu.Lock()
	var gone []subCommand
	if s.taps[t] {
		for name, sub := range s.names {
			if sub.taps[t] {
				delete(sub.taps, t)
				if len(sub.taps) == 0 {
					delete(s.names, name)
					gone = append(gone, subCommand{name: name, pattern: sub.pattern})
				}
			}
		}
		delete(s.taps, t)
		delete(s.pendingPatterns, t)
		for p, taps := range s.patterns {
			if delete(taps, t); len(taps) == 0 {
				delete(s.patterns, p)
			}
		}
	}
	empty := len(s.taps) == 0
	if empty {
		for i, c := range b.conns {
			if c == s {
				b.conns[i] = nil // the next subscriber dealt here opens a new one
			}
		}
	}
	s.mu.Unlock()
	b.connsMu.Unlock()
	if empty {
		s.close()
		return
	}
	for _, c := range gone {
		s.send(c)
	}
}

// send queues c for the sender goroutine without waiting.
func (s *subscriber) send(c subCommand) {
	s.mu.Lock()
	s.commands = append(s.commands, c)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // already signalled
	}
}

// sendCommands is the sender goroutine. A command that fails is not
// retried: the failure means the connection broke, and the receive loop
// then reconnects and subscribes every name afresh.
func (s *subscriber) sendCommands() {
	defer s.goroutines.Done()
	refresh := time.NewTicker(patternsRefresh)
	defer refresh.Stop()
	for {
		select {
		case <-s.wake:
		case <-refresh.C:
			s.mu.Lock()
			following := s.firehose != "" && s.names[s.firehose] != nil
			s.mu.Unlock()
			if following && s.followingPatterns() != nil {
				// Its word may lapse before the next try: start over,
				// which fills what the firehose did not bring.
				s.resyncSoon()
			}
			continue
		case <-s.done:
			return
		}
		s.mu.Lock()
		cmds, ps := s.commands, s.ps
		s.commands = nil
		s.mu.Unlock()
		for _, c := range cmds {
			var err error
			switch {
			case c.heads != "":
				s.requestHeads(c.heads, c.partitions)
			case c.subscribe && c.pattern:
				err = ps.PSubscribe(s.ctx, c.name)
			case c.subscribe && s.part != nil:
				if c.name == s.firehose {
					if err = s.followingPatterns(); err != nil {
						// Subscribed without its word, the firehose would
						// bring nothing: start over (reconnect says it).
						s.resyncSoon()
						continue
					}
				}
				err = ps.SSubscribe(s.ctx, c.name)
			case c.subscribe:
				err = ps.Subscribe(s.ctx, c.name)
			case c.pattern:
				err = ps.PUnsubscribe(s.ctx, c.name)
			case s.part != nil:
				err = ps.SUnsubscribe(s.ctx, c.name)
			default:
				err = ps.Unsubscribe(s.ctx, c.name)
			}
			if err != nil && !s.closed() {
				s.b.log.Warn("redis pub/sub command", "name", c.name, "err", err)
			}
		}
	}
}

// patternsTTL is how long a hub's word that it follows patterns keeps the
// publish script sending a partition's events to its firehose, and
// patternsRefresh how often the hub repeats it. The TTL is long, since a
// hub whose word expired would miss events: it only costs Redis the
// firehose's messages for that long after the last pattern went away.
const (
	patternsTTL     = 10 * time.Minute
	patternsRefresh = 30 * time.Second
)

// followingPatterns tells the publish script that this connection
// follows patterns in s's partition, for patternsTTL: it then also sends
// the partition's events to the firehose. Called before subscribing to
// the firehose, so that every event after the subscription's head is sent
// there; a connection that could not say so does not count as working
// (reconnect), or it would miss the events that follow.
func (s *subscriber) followingPatterns() error {
	err := wordScript.Run(s.ctx, s.b.client, []string{s.part.patterns}, s.probe, patternsTTL.Milliseconds()).Err()
	if err != nil && !s.closed() {
		s.b.log.Warn("redis pattern flag", "partition", s.part.index, "err", err)
	}
	return err
}

// newPubSub returns a new pub/sub connection: for shard channels, one that
// go-redis opens to the master of the first channel it subscribes, the
// probe channel in s's partition.
func (s *subscriber) newPubSub() *redis.PubSub {
	if s.part != nil {
		return s.b.client.SSubscribe(s.ctx)
	}
	if node := s.b.pinned.Load(); node != nil {
		return node.Subscribe(s.ctx)
	}
	return s.b.client.Subscribe(s.ctx)
}

// close ends the connection and waits for its goroutines. It may be
// called more than once, from any goroutine: every call returns once they
// are gone.
func (s *subscriber) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		s.mu.Lock()
		_ = s.ps.Close()
		s.mu.Unlock()
	})
	s.goroutines.Wait()
}

// receive is the receive goroutine.
func (s *subscriber) receive() {
	defer s.goroutines.Done()
	if s.part != nil {
		s.dial()
	}
	probeSent := time.Time{}
	for {
		s.mu.Lock()
		ps := s.ps
		s.mu.Unlock()
		msg, err := ps.ReceiveTimeout(s.ctx, s.b.cfg.ProbeInterval)
		if s.closed() {
			return
		}
		var netErr interface{ Timeout() bool }
		switch {
		case err != nil && errors.As(err, &netErr) && netErr.Timeout():
			// Silent for a probe interval. If a probe is already out and
			// has not come back, the connection is up but delivers
			// nothing: start over.
			if !probeSent.IsZero() {
				s.b.stats.probeFailures.Add(1)
				s.b.log.Warn("redis pub/sub probe not answered; reconnecting", "channel", s.probe)
				s.reloadSlots()
				s.reconnect(true)
				probeSent = time.Time{}
				continue
			}
			probeSent = time.Now()
			pctx, cancel := context.WithTimeout(s.ctx, s.b.cfg.ProbeInterval)
			err := s.publishProbe(pctx, "probe")
			cancel()
			if err != nil && !s.closed() {
				s.b.log.Warn("redis probe publish", "err", err)
			}
		case err != nil:
			s.b.log.Warn("redis pub/sub receive; reconnecting", "err", err)
			// Not ready from now, not from after the pause: a stream
			// taken meanwhile would wait for the new connection.
			s.b.reconnecting.Add(1)
			paused := s.sleep(100 * time.Millisecond)
			if paused {
				s.reconnect(false)
			}
			s.b.reconnecting.Add(-1)
			if !paused {
				return
			}
			probeSent = time.Time{}
		default:
			probeSent = time.Time{} // anything received proves the connection
			s.handle(msg)
		}
		if s.moved {
			s.b.log.Warn("redis ended a shard channel subscription (its slot moved); reconnecting", "probe", s.probe)
			s.moved = false
			// The slots' new owner is known to the node that just said
			// so; give go-redis's reload of them a moment, or the first
			// attempt goes back there and waits out verify.
			s.reloadSlots()
			if !s.sleep(movedPause) {
				return
			}
			s.reconnect(true)
			probeSent = time.Time{}
		}
	}
}

// dial opens a shard channel connection by subscribing its probe channel,
// before the receive loop's first read. go-redis opens a connection on
// its first call: for a subscribe, to the master of the first channel's
// slot; for a receive, to a random node. Opened by a receive, the
// connection would be refused every SSUBSCRIBE with MOVED and be
// re-established, and the hub would refuse new streams meanwhile, just
// after it first reported ready. On failure go-redis still routes the
// next attempt by the probe channel, and the receive loop reconnects.
func (s *subscriber) dial() {
	s.mu.Lock()
	ps := s.ps
	s.mu.Unlock()
	if err := ps.SSubscribe(s.ctx, s.probe); err != nil && !s.closed() {
		s.b.log.Warn("redis pub/sub subscribe", "channel", s.probe, "err", err)
	}
}

// movedPause is how long a connection whose shard channels moved waits
// for go-redis to reload the Cluster's slots before it reconnects.
const movedPause = 250 * time.Millisecond

// reloadSlots has a Cluster client read where the slots are now, so that
// a new shard channel connection goes to the master that took them over.
func (s *subscriber) reloadSlots() {
	if cc, ok := s.b.client.(*redis.ClusterClient); ok && s.part != nil {
		cc.ReloadState(s.ctx)
	}
}

// publishProbe publishes payload on the connection's probe channel: from
// the partition's master on a shard channel connection (probeScript).
func (s *subscriber) publishProbe(ctx context.Context, payload string) error {
	if s.part != nil {
		return probeScript.Run(ctx, s.b.client, []string{s.part.last}, s.probe, payload).Err()
	}
	return s.b.client.Publish(ctx, s.probe, payload).Err()
}

// probeScript publishes ARGV[2] on the shard channel ARGV[1]. Its key,
// the partition's last id, routes it to the partition's master; and Redis
// runs a script that may write (this one is not flagged otherwise) on a
// master only, so during a failover it waits for the new master.
var probeScript = redis.NewScript(`redis.call('SPUBLISH', ARGV[1], ARGV[2]) return 1`)

// handle processes one pub/sub push.
func (s *subscriber) handle(msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		// The hub never unsubscribes its probe channel, which is in the
		// partition's slot: Redis ends it, with every other shard
		// channel of the slot, when the slot moves.
		if m.Kind == "sunsubscribe" && m.Channel == s.probe {
			s.moved = true
		}
		if m.Kind == "subscribe" || m.Kind == "psubscribe" || m.Kind == "ssubscribe" {
			s.mu.Lock()
			n, wanted := s.pending[m.Channel]
			if wanted {
				if n--; n > 0 {
					s.pending[m.Channel] = n
				} else {
					delete(s.pending, m.Channel)
				}
			}
			var confirmed []*tap
			var pattern bool
			if wanted && n == 0 {
				confirmed, pattern = s.takePendingLocked(m.Channel)
			}
			s.mu.Unlock()
			s.confirm(confirmed, m.Channel, pattern)
		}
	case *redis.Message:
		if m.Channel == s.probe && strings.HasPrefix(m.Payload, headPrefix) {
			s.observed(m.Payload)
			return
		}
		if m.Channel == s.probe {
			return
		}
		name := m.Channel
		if m.Pattern != "" {
			name = m.Pattern
		}
		s.deliver(name, m.Payload)
	}
}

// takePendingLocked returns the taps waiting to hear that name is in
// force, and stops them waiting; and whether name is a pattern. s.mu must
// be held.
func (s *subscriber) takePendingLocked(name string) (taps []*tap, pattern bool) {
	sub := s.names[name]
	if sub == nil {
		return nil, false
	}
	for t := range sub.taps {
		t.mu.Lock()
		if t.pending[name] {
			delete(t.pending, name)
			taps = append(taps, t)
		}
		t.mu.Unlock()
	}
	return taps, sub.pattern
}

// deliver hands an envelope that came for the channel or pattern name to
// each tap following it, unless it is not newer than the
// last the tap got from its partition: an event to several topics comes
// once per channel, and one that matches a channel and a pattern comes
// twice.
func (s *subscriber) deliver(name, payload string) {
	// The followers of an exact channel or a Redis pattern are known
	// before decoding, and there may be none left (unsubscribed
	// meanwhile); a firehose's depend on the event's topics.
	taps := s.recipients[:0]
	if name != s.firehose {
		s.mu.Lock()
		if sub := s.names[name]; sub != nil {
			for t := range sub.taps {
				taps = append(taps, t)
			}
		}
		s.mu.Unlock()
		if len(taps) == 0 {
			return
		}
	}
	part := -1 // a classic channel: the envelope names the partition
	if s.part != nil {
		part = s.part.index
	}
	m, err := s.b.decode(payload, part)
	if err != nil {
		clear(taps)
		s.b.log.Error("redis broker: dropping undecodable message", "err", err)
		return
	}
	if name == s.firehose {
		s.mu.Lock()
		for p, followers := range s.patterns {
			if topic.MatchAny(p, m.Topics) {
				for t := range followers {
					if !slices.Contains(taps, t) {
						taps = append(taps, t)
					}
				}
			}
		}
		s.mu.Unlock()
	}
	s.recipients = taps
	for _, t := range taps {
		if t.last[m.Partition].Less(m.ID) {
			t.last[m.Partition] = m.ID
			t.sink.Deliver(m)
		}
	}
	clear(taps) // hold no tap that may close
}

// reconnect replaces the pub/sub connection, subscribes every name again,
// and fills the gap: messages published while the connection was down are
// read from history and delivered in order before any newer live message.
func (s *subscriber) reconnect(force bool) {
	s.b.stats.reconnects.Add(1)
	s.b.reconnecting.Add(1)
	defer s.b.reconnecting.Add(-1)
	for attempts := 0; !s.closed(); {
		s.mu.Lock()
		if s.closed() {
			// Close ran since the check above and closed ps; a new one
			// would never be closed.
			s.mu.Unlock()
			return
		}
		if force || s.stale {
			_ = s.ps.Close()
			s.ps = s.newPubSub()
			s.stale = false
		}
		var channels, patterns []string
		for name, sub := range s.names {
			if sub.pattern {
				patterns = append(patterns, name)
			} else {
				channels = append(channels, name)
			}
		}
		ps := s.ps
		s.mu.Unlock()
		// go-redis re-dials and re-subscribes what it knew on the next
		// command; subscribing again is harmless and covers a new PubSub.
		var err error
		if s.part != nil {
			if slices.Contains(channels, s.firehose) {
				err = s.followingPatterns()
			}
			// The probe first: go-redis dials the master of the first
			// channel's slot.
			if err == nil {
				err = ps.SSubscribe(s.ctx, append([]string{s.probe}, channels...)...)
			}
		} else {
			err = ps.Subscribe(s.ctx, append(channels, s.probe)...)
		}
		if err == nil && len(patterns) > 0 {
			err = ps.PSubscribe(s.ctx, patterns...)
		}
		if err == nil {
			// Redis answers in order: the pong comes after every
			// subscription is confirmed.
			err = ps.Ping(s.ctx, "resync")
		}
		if err == nil && s.resync(ps) {
			return
		}
		if err != nil && attempts == 0 {
			s.b.log.Warn("redis pub/sub resubscribe failed; retrying", "channel", s.probe, "err", err)
		}
		attempts++
		// A shard channel connection refused with MOVED was dialled by
		// a stale view of the slots: have it read again.
		s.reloadSlots()
		force = true
		if !s.sleep(200 * time.Millisecond) {
			return
		}
	}
}

// resyncSoon has the receive goroutine reconnect and fill the gap from
// history, as after a lost connection: by closing the connection, which
// ends its wait for a message.
func (s *subscriber) resyncSoon() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed() {
		s.stale = true
		_ = s.ps.Close()
	}
}

// resync reads until the pong that follows the re-subscriptions, keeping the
// live messages seen meanwhile, then delivers the gap from history and the
// kept messages after it.
func (s *subscriber) resync(ps *redis.PubSub) bool {
	var live []*redis.Message
	for {
		msg, err := ps.ReceiveTimeout(s.ctx, subscribeTimeout)
		if err != nil {
			return false
		}
		if pong, ok := msg.(*redis.Pong); ok && pong.Payload == "resync" {
			break
		}
		switch m := msg.(type) {
		case *redis.Message:
			live = append(live, m)
		default:
			s.handle(msg)
		}
	}
	if s.part != nil {
		var ok bool
		if live, ok = s.verify(ps, live); !ok {
			return false
		}
	}
	s.mu.Lock()
	// Every name is subscribed now; confirmations counted before the
	// connection broke may never come.
	confirmed := s.pending
	s.pending = make(map[string]int)
	s.mu.Unlock()
	s.fillGaps()
	for _, p := range live {
		s.handle(p)
	}
	s.askHeadsAgain()
	for name := range confirmed {
		s.mu.Lock()
		ready, pattern := s.takePendingLocked(name)
		s.mu.Unlock()
		s.confirm(ready, name, pattern)
	}
	return true
}

// verify checks that a new shard channel connection is on a node that
// gets its partition's messages: a node that lost the slot (a master
// demoted by a failover, while go-redis still routes there) takes
// SSUBSCRIBE and then sends nothing. It has the partition's master
// publish a probe and reads until it comes, keeping the messages before
// it in live: only then may the gap be read from history, since a gap
// read before could miss what the new master took meanwhile. On failure
// the caller reconnects, on a fresh view of the slots.
func (s *subscriber) verify(ps *redis.PubSub, live []*redis.Message) ([]*redis.Message, bool) {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	want := "verify " + hex.EncodeToString(nonce[:])
	ctx, cancel := context.WithTimeout(s.ctx, verifyTimeout)
	defer cancel()
	err := s.publishProbe(ctx, want)
	for err == nil {
		var msg any
		if msg, err = ps.ReceiveTimeout(ctx, verifyTimeout); err != nil {
			break
		}
		switch m := msg.(type) {
		case *redis.Message:
			if m.Channel == s.probe && m.Payload == want {
				return live, true
			}
			live = append(live, m)
		default:
			s.handle(msg)
		}
	}
	s.b.stats.probeFailures.Add(1)
	s.b.log.Warn("redis pub/sub connection gets no messages of its partition; reconnecting", "channel", s.probe, "err", err)
	s.reloadSlots()
	return live, false
}

// askHeadsAgain sends the head requests still waiting again: their heads
// may have been published while the connection was down.
func (s *subscriber) askHeadsAgain() {
	s.mu.Lock()
	var again []subCommand
	for token, a := range s.awaiting {
		c := subCommand{heads: token}
		for k := range a.missing {
			c.partitions = append(c.partitions, k)
		}
		again = append(again, c)
	}
	s.mu.Unlock()
	for _, c := range again {
		s.send(c)
	}
}

// verifyTimeout bounds verify.
const verifyTimeout = 2 * time.Second

// fillGaps delivers to every tap of the connection what it missed since
// its last message, from history.
func (s *subscriber) fillGaps() {
	s.mu.Lock()
	taps := make(map[*tap]broker.Selection, len(s.taps))
	for name, sub := range s.names {
		if name == s.firehose {
			continue
		}
		t := s.topicOf(name)
		for tp := range sub.taps {
			sel := taps[tp]
			if sub.pattern {
				sel.Patterns = append(sel.Patterns, t)
			} else {
				sel.Topics = append(sel.Topics, t)
			}
			taps[tp] = sel
		}
	}
	for p, followers := range s.patterns {
		for tp := range followers {
			sel := taps[tp]
			sel.Patterns = append(sel.Patterns, p)
			taps[tp] = sel
		}
	}
	s.mu.Unlock()
	for t, sel := range taps {
		if slices.IndexFunc(s.lastOf(t), func(id eventid.ID) bool { return !id.IsZero() }) < 0 {
			continue // nothing delivered yet: nothing to continue from
		}
		if err := s.fillGap(t, sel); err != nil {
			// The streams cannot be told what they missed here: end them,
			// so that each resumes and gets its events or a reset.
			s.b.stats.gapLosses.Add(1)
			s.b.log.Error("redis gap fill impossible; ending this shard's streams so they resume",
				"since", s.lastOf(t).String(), "err", err)
			t.sink.Lost()
		}
	}
}

// confirm tells taps that their subscription to the channel or pattern
// name is in force. On a partitioned broker it first has the head of each
// partition name may carry published on the probe channel, and tells them
// when those arrive (observed), so that a stream opens with its cursor
// fresh in every partition it follows (docs/fleet-design.md#cursors).
func (s *subscriber) confirm(taps []*tap, name string, pattern bool) {
	if len(taps) == 0 {
		return
	}
	topicName := s.topicOf(name)
	if len(s.b.parts) == 1 {
		for _, t := range taps {
			t.sink.Subscribed(topicName, pattern)
		}
		return
	}
	parts := []int{PartitionOf(topicName, len(s.b.parts))}
	if s.part != nil {
		parts = []int{s.part.index}
	}
	if name == s.firehose {
		// The patterns each tap added on this connection are in force
		// here once the head is in.
		s.mu.Lock()
		waiting := make(map[*tap][]patternGen, len(taps))
		for _, t := range taps {
			waiting[t] = s.pendingPatterns[t]
			delete(s.pendingPatterns, t)
		}
		s.mu.Unlock()
		s.afterHeads(parts, func() {
			for t, ps := range waiting {
				t.patternsInForce(s, ps)
			}
		})
		return
	}
	if pattern {
		parts = make([]int, len(s.b.parts))
		for k := range parts {
			parts[k] = k
		}
	}
	if s.b.layoutNow().phase == layoutMoving {
		// The fleet publishes in the single slot, all of it partition
		// 0's. The other partitions have no event yet: a head there
		// would be a position before all of them, and only make the
		// streams' ids cursors, which hubs still of one partition cannot
		// read (eventid.Cursor.AppendStreamID).
		parts = []int{0}
	}
	gens := make([]uint64, len(taps))
	for i, t := range taps {
		t.mu.Lock()
		gens[i] = t.wanted[name]
		t.mu.Unlock()
	}
	s.afterHeads(parts, func() {
		for i, t := range taps {
			t.mu.Lock()
			current := gens[i] != 0 && t.wanted[name] == gens[i]
			t.mu.Unlock()
			if current {
				t.sink.Subscribed(topicName, pattern)
			}
		}
	})
}

// patternWait is a pattern followed through firehoses, not yet in force
// on every connection (tap.patternWaits).
type patternWait struct {
	gen  uint64
	left map[*subscriber]bool
}

// patternGen is a pattern a tap added on a connection, and the generation
// of that subscription (tap.gen).
type patternGen struct {
	pattern string
	gen     uint64
}

// afterHeads has the heads of parts published on the probe channel, and
// calls then once all have arrived (observed).
func (s *subscriber) afterHeads(parts []int, then func()) {
	s.mu.Lock()
	s.tokens++
	token := strconv.FormatUint(s.tokens, 10)
	missing := make(map[int]bool, len(parts))
	for _, k := range parts {
		missing[k] = true
	}
	s.awaiting[token] = &awaitingHeads{then: then, missing: missing}
	s.mu.Unlock()
	s.send(subCommand{heads: token, partitions: parts})
}

// patternsInForce records that patterns followed through firehoses are in
// force on c; those in force on every connection are reported. A pattern
// unsubscribed, or subscribed again, since it asked is not counted.
func (t *tap) patternsInForce(c *subscriber, patterns []patternGen) {
	var ready []string
	t.mu.Lock()
	for _, p := range patterns {
		w := t.patternWaits[p.pattern]
		if w == nil || w.gen != p.gen {
			continue
		}
		if delete(w.left, c); len(w.left) == 0 {
			delete(t.patternWaits, p.pattern)
			ready = append(ready, p.pattern)
		}
	}
	t.mu.Unlock()
	for _, p := range ready {
		t.sink.Subscribed(p, true)
	}
}

// headPrefix starts a head on the probe channel: "head <token>
// <partition> <id>" (headScript).
const headPrefix = "head "

// headScript publishes the newest id of a partition on a probe channel,
// creating the partition's sequence first if it has none, so that a head
// is always a real position (and the origin, where a resume from it is
// checked, no later than it). It runs on the partition's master, so the
// head reaches the channel after every message of the partition that was
// published before it.
//
// KEYS: the partition's last and origin. ARGV: channel, token, partition,
// the publish command (PUBLISH, or SPUBLISH for a shard channel).
var headScript = redis.NewScript(`
local last = redis.call('GET', KEYS[1])
if not last then
  local t = redis.call('TIME')
  last = string.format('%.0f-0', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  redis.call('SET', KEYS[1], last)
  redis.call('SET', KEYS[2], last, 'NX')
end
redis.call(ARGV[4], ARGV[1], 'head ' .. ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. last)
return last
`)

// awaitingHeads is a confirmed subscription waiting for the heads of its
// partitions (confirm).
type awaitingHeads struct {
	then    func()       // tells the taps
	missing map[int]bool // the partitions whose heads are still to come
}

// requestHeads runs headScript for each partition, from the sender
// goroutine. A partition whose script failed is asked again after
// headRetry, while the subscription that asked still waits.
func (s *subscriber) requestHeads(token string, parts []int) {
	var failed []int
	for _, k := range parts {
		p := &s.b.parts[k]
		publish := "PUBLISH"
		if s.part != nil {
			publish = "SPUBLISH"
		}
		err := headScript.Run(s.ctx, s.b.client, []string{p.last, p.origin}, s.probe, token, k, publish).Err()
		if err != nil && !s.closed() {
			failed = append(failed, k)
			s.b.log.Warn("redis partition head; asking again shortly", "partition", k, "err", err)
		}
	}
	if len(failed) > 0 {
		// Until they come, the subscriptions that asked stay pending:
		// ask again rather than leave them to the shard's timeout.
		time.AfterFunc(headRetry, func() {
			s.mu.Lock()
			_, waiting := s.awaiting[token]
			s.mu.Unlock()
			if waiting && !s.closed() {
				s.send(subCommand{heads: token, partitions: failed})
			}
		})
	}
}

// headRetry is how long a failed head request waits before it is sent
// again.
const headRetry = 250 * time.Millisecond

// observed handles a head (headScript) from the probe channel: every
// message of its partition up to it has been delivered, so each tap moves
// there, and the subscription that asked for it is in force once all its
// heads are in.
func (s *subscriber) observed(payload string) {
	f := strings.Fields(strings.TrimPrefix(payload, headPrefix))
	if len(f) != 3 {
		s.b.log.Error("redis broker: malformed partition head", "payload", payload)
		return
	}
	k, kerr := strconv.Atoi(f[1])
	id, err := eventid.Parse(f[2])
	if kerr != nil || err != nil || k < 0 || k >= len(s.b.parts) {
		s.b.log.Error("redis broker: malformed partition head", "payload", payload)
		return
	}
	s.mu.Lock()
	taps := make([]*tap, 0, len(s.taps))
	for t := range s.taps {
		taps = append(taps, t)
	}
	a := s.awaiting[f[0]]
	if a != nil {
		// A head may come twice: requests are sent again after a
		// reconnect (askHeadsAgain).
		if delete(a.missing, k); len(a.missing) == 0 {
			delete(s.awaiting, f[0])
		} else {
			a = nil
		}
	}
	s.mu.Unlock()
	for _, t := range taps {
		if t.last[k].Less(id) {
			t.last[k] = id
			t.sink.Observed(k, id)
		}
	}
	if a != nil {
		a.then()
	}
}

// gapFillTimeout bounds each page of a gap fill.
const gapFillTimeout = 10 * time.Second

// errGapExpired means history no longer holds all that a gap fill needed.
var errGapExpired = errors.New("redis broker: history expired since the last delivery")

// fillGap delivers to t, from history, what it missed since the last
// message it got. It reads a page, delivers it, then reads the next, so a
// long outage costs a page of memory, not the whole gap. On an error, what
// was delivered is a prefix of the gap in id order.
func (s *subscriber) fillGap(t *tap, sel broker.Selection) error {
	ctx, cancel := context.WithTimeout(s.ctx, gapFillTimeout)
	r, ok, err := s.b.gapFill(ctx, sel, s.lastOf(t), s.part == nil)
	cancel()
	switch {
	case err != nil:
		return err
	case !ok:
		return errGapExpired
	}
	s.b.stats.gapFills.Add(1)
	for msgs := r.Messages; ; {
		s.b.stats.gapMessages.Add(uint64(len(msgs)))
		for _, m := range msgs {
			if t.last[m.Partition].Less(m.ID) {
				t.last[m.Partition] = m.ID
				t.sink.Deliver(m)
			}
		}
		if r.Next == nil || len(msgs) == 0 {
			return nil
		}
		// Per page, since Deliver waits while the shard's mailbox is full.
		ctx, cancel := context.WithTimeout(s.ctx, gapFillTimeout)
		msgs, err = r.Next(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// lastOf is where t stands in the partitions s carries: all of t.last on
// a classic connection, its partition's position alone on a sharded one
// (the others belong to the other connections' goroutines).
func (s *subscriber) lastOf(t *tap) eventid.Cursor {
	if s.part == nil {
		return t.last
	}
	last := make(eventid.Cursor, len(t.last))
	last[s.part.index] = t.last[s.part.index]
	return last
}

func (s *subscriber) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// sleep waits d unless the subscriber closes first; it reports whether it
// is still open.
func (s *subscriber) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}
