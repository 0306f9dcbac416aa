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
func (b *Broker) NewSubscriber(sink broker.Sink) (broker.Subscriber, error) {
	b.connsMu.Lock()
	defer b.connsMu.Unlock()
	var c *subscriber
	if n := b.cfg.PubSubConns; n > 0 {
		i := b.taps % n
		if b.conns == nil {
			b.conns = make([]*subscriber, n)
		}
		if b.conns[i] == nil {
			b.conns[i] = b.newConn()
		}
		c = b.conns[i]
	} else {
		c = b.newConn()
	}
	b.taps++
	t := &tap{conn: c, sink: sink, pending: make(map[string]bool), last: make(eventid.Cursor, len(b.parts))}
	c.mu.Lock()
	c.taps[t] = true
	c.mu.Unlock()
	return t, nil
}

// newConn opens a pub/sub connection and starts its goroutines.
func (b *Broker) newConn() *subscriber {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	s := &subscriber{
		b:        b,
		probe:    b.keys.probe + hex.EncodeToString(nonce[:]),
		names:    make(map[string]*subscription),
		pending:  make(map[string]int),
		taps:     make(map[*tap]bool),
		awaiting: make(map[string]*awaitingHeads),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ps = b.client.Subscribe(s.ctx)
	s.send(subCommand{name: s.probe, subscribe: true})
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
	b      *Broker
	probe  string // this connection's own probe channel
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	ps       *redis.PubSub             // replaced on reconnect by the receive goroutine
	names    map[string]*subscription  // subscribed channels and patterns, by Redis name
	pending  map[string]int            // SUBSCRIBEs sent per name and not yet confirmed
	taps     map[*tap]bool             // the shards this connection carries
	commands []subCommand              // for the sender goroutine
	awaiting map[string]*awaitingHeads // confirmed subscriptions waiting for heads, by token
	tokens   uint64                    // the last head request's token
	wake     chan struct{}             // signals the sender; capacity 1

	// recipients is deliver's scratch list, reused so that a message
	// costs no allocation. Owned by the receive goroutine.
	recipients []*tap

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

// tap is one shard's subscriber: its share of a pub/sub connection. Its
// methods are called from the shard's loop.
type tap struct {
	conn *subscriber
	sink broker.Sink
	// pending holds the names this tap subscribed to and has not yet been
	// told are in force (Sink.Subscribed). Guarded by the connection's mu.
	pending map[string]bool
	// last is the newest id delivered to the sink from each partition
	// (or observed there: Sink.Observed). Owned by the connection's
	// receive goroutine.
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
	return t.subscribe(t.conn.b.keys.channel+topic, false)
}

// PSubscribe implements broker.Subscriber, like Subscribe. The hub passes
// only valid patterns (topic.ValidatePattern), whose one glob character is
// *: after the literal "prefix:c:" it cannot reach another prefix's
// channels, whose prefix ends at their first ':' (ValidatePrefix).
func (t *tap) PSubscribe(p string) (bool, error) {
	return t.subscribe(t.conn.b.keys.channel+p, true)
}

// Unsubscribe implements broker.Subscriber.
func (t *tap) Unsubscribe(topic string) { t.unsubscribe(t.conn.b.keys.channel+topic, false) }

// PUnsubscribe implements broker.Subscriber.
func (t *tap) PUnsubscribe(p string) { t.unsubscribe(t.conn.b.keys.channel+p, true) }

// subscribe adds the tap to name's subscription and sends SUBSCRIBE even
// when another tap has it in force already: the confirmation is the
// moment this tap's subscription is in force too, reported from the
// receive goroutine like every other (Sink.Subscribed's contract).
func (t *tap) subscribe(name string, pattern bool) (bool, error) {
	s := t.conn
	s.mu.Lock()
	sub := s.names[name]
	if sub == nil {
		sub = &subscription{pattern: pattern, taps: make(map[*tap]bool)}
		s.names[name] = sub
	}
	sub.taps[t] = true
	t.pending[name] = true
	// Counted per command: after SUBSCRIBE, UNSUBSCRIBE, SUBSCRIBE of one
	// name, only the second confirmation means it is in force again.
	s.pending[name]++
	s.mu.Unlock()
	s.send(subCommand{name: name, pattern: pattern, subscribe: true})
	return false, nil
}

// unsubscribe takes the tap off name's subscription, and unsubscribes the
// connection when no tap is left on it.
func (t *tap) unsubscribe(name string, pattern bool) {
	s := t.conn
	s.mu.Lock()
	delete(t.pending, name)
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
	s, b := t.conn, t.conn.b
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
	for {
		select {
		case <-s.wake:
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
			case c.subscribe:
				err = ps.Subscribe(s.ctx, c.name)
			case c.pattern:
				err = ps.PUnsubscribe(s.ctx, c.name)
			default:
				err = ps.Unsubscribe(s.ctx, c.name)
			}
			if err != nil && !s.closed() {
				s.b.log.Warn("redis pub/sub command", "name", c.name, "err", err)
			}
		}
	}
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
				s.reconnect(true)
				probeSent = time.Time{}
				continue
			}
			probeSent = time.Now()
			pctx, cancel := context.WithTimeout(s.ctx, s.b.cfg.ProbeInterval)
			err := s.b.client.Publish(pctx, s.probe, "probe").Err()
			cancel()
			if err != nil && !s.closed() {
				s.b.log.Warn("redis probe publish", "err", err)
			}
		case err != nil:
			s.b.log.Warn("redis pub/sub receive; reconnecting", "err", err)
			if !s.sleep(100 * time.Millisecond) {
				return
			}
			s.reconnect(false)
			probeSent = time.Time{}
		default:
			probeSent = time.Time{} // anything received proves the connection
			s.handle(msg)
		}
	}
}

// handle processes one pub/sub push.
func (s *subscriber) handle(msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		if m.Kind == "subscribe" || m.Kind == "psubscribe" {
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
		s.deliver(name, m.Channel, m.Payload)
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
		if t.pending[name] {
			delete(t.pending, name)
			taps = append(taps, t)
		}
	}
	return taps, sub.pattern
}

// deliver hands the envelope that came on channel, for the channel or
// pattern name, to each tap following it, unless it is not newer than the
// last the tap got from its partition: an event to several topics comes
// once per channel, and one that matches a channel and a pattern comes
// twice.
func (s *subscriber) deliver(name, channel, payload string) {
	s.mu.Lock()
	taps := s.recipients[:0]
	if sub := s.names[name]; sub != nil {
		for t := range sub.taps {
			taps = append(taps, t)
		}
	}
	s.mu.Unlock()
	s.recipients = taps
	if len(taps) == 0 {
		return // unsubscribed meanwhile
	}
	part := PartitionOf(strings.TrimPrefix(channel, s.b.keys.channel), len(s.b.parts))
	m, err := s.b.decode(payload, part)
	if err != nil {
		s.b.log.Error("redis broker: dropping undecodable message", "err", err)
		return
	}
	for _, t := range taps {
		if t.last[part].Less(m.ID) {
			t.last[part] = m.ID
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
	for !s.closed() {
		s.mu.Lock()
		if s.closed() {
			// Close ran since the check above and closed ps; a new one
			// would never be closed.
			s.mu.Unlock()
			return
		}
		if force {
			_ = s.ps.Close()
			s.ps = s.b.client.Subscribe(s.ctx)
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
		err := ps.Subscribe(s.ctx, append(channels, s.probe)...)
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
		force = true
		if !s.sleep(200 * time.Millisecond) {
			return
		}
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
	s.mu.Lock()
	// Every name is subscribed now; confirmations counted before the
	// connection broke may never come.
	confirmed := s.pending
	s.pending = make(map[string]int)
	taps := make(map[*tap]broker.Selection, len(s.taps))
	for name, sub := range s.names {
		t := strings.TrimPrefix(name, s.b.keys.channel)
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
	s.mu.Unlock()
	for t, sel := range taps {
		if slices.IndexFunc(t.last, func(id eventid.ID) bool { return !id.IsZero() }) < 0 {
			continue // nothing delivered yet: nothing to continue from
		}
		if err := s.fillGap(t, sel); err != nil {
			// The streams cannot be told what they missed here: end them,
			// so that each resumes and gets its events or a reset.
			s.b.stats.gapLosses.Add(1)
			s.b.log.Error("redis gap fill impossible; ending this shard's streams so they resume",
				"since", t.last.String(), "err", err)
			t.sink.Lost()
		}
	}
	for _, p := range live {
		s.handle(p)
	}
	for name := range confirmed {
		s.mu.Lock()
		ready, pattern := s.takePendingLocked(name)
		s.mu.Unlock()
		s.confirm(ready, name, pattern)
	}
	return true
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
	topicName := strings.TrimPrefix(name, s.b.keys.channel)
	if len(s.b.parts) == 1 {
		for _, t := range taps {
			t.sink.Subscribed(topicName, pattern)
		}
		return
	}
	parts := []int{PartitionOf(topicName, len(s.b.parts))}
	if pattern {
		parts = make([]int, len(s.b.parts))
		for k := range parts {
			parts[k] = k
		}
	}
	s.mu.Lock()
	s.tokens++
	token := strconv.FormatUint(s.tokens, 10)
	s.awaiting[token] = &awaitingHeads{taps: taps, name: topicName, pattern: pattern, left: len(parts)}
	s.mu.Unlock()
	s.send(subCommand{heads: token, partitions: parts})
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
// KEYS: the partition's last and origin. ARGV: channel, token, partition.
var headScript = redis.NewScript(`
local last = redis.call('GET', KEYS[1])
if not last then
  local t = redis.call('TIME')
  last = string.format('%.0f-0', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  redis.call('SET', KEYS[1], last)
  redis.call('SET', KEYS[2], last, 'NX')
end
redis.call('PUBLISH', ARGV[1], 'head ' .. ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. last)
return last
`)

// awaitingHeads is a confirmed subscription waiting for the heads of its
// partitions (confirm).
type awaitingHeads struct {
	taps    []*tap
	name    string
	pattern bool
	left    int // heads still to come
}

// requestHeads runs headScript for each partition, from the sender
// goroutine. A failure is logged and leaves the subscription pending: the
// shard ends a stream whose subscriptions stay pending too long, and the
// client reconnects.
func (s *subscriber) requestHeads(token string, parts []int) {
	for _, k := range parts {
		p := &s.b.parts[k]
		err := headScript.Run(s.ctx, s.b.client, []string{p.last, p.origin}, s.probe, token, k).Err()
		if err != nil && !s.closed() {
			s.b.log.Warn("redis partition head", "partition", k, "err", err)
		}
	}
}

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
		if a.left--; a.left == 0 {
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
		for _, t := range a.taps {
			t.sink.Subscribed(a.name, a.pattern)
		}
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
	r, ok, err := s.b.gapFill(ctx, sel, t.last)
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
