package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// NewSubscriber implements broker.Broker: one pub/sub connection for one
// shard, with its own receive loop.
func (b *Broker) NewSubscriber(sink broker.Sink) (broker.Subscriber, error) {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	s := &subscriber{
		b:       b,
		sink:    sink,
		probe:   b.keys.probe + hex.EncodeToString(nonce[:]),
		names:   make(map[string]bool),
		pending: make(map[string]int),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ps = b.client.Subscribe(s.ctx)
	s.send(subCommand{name: s.probe, subscribe: true})
	s.goroutines.Add(2)
	go s.receive()
	go s.sendCommands()
	return s, nil
}

// subscriber is one shard's pub/sub connection. The shard calls
// Subscribe and friends from its loop; they only queue a command, since
// go-redis may dial inside any PubSub call and the shard loop must not
// wait on the network. A sender goroutine writes the commands; the receive
// goroutine reads the connection and delivers to the sink in id order.
//
// Why not go-redis's Channel(): it drops a message after a send timeout
// with only a log line, and it hides re-subscriptions, which are the moment
// messages may have been lost (docs/platform-notes.md#redis-pubsub).
type subscriber struct {
	b      *Broker
	sink   broker.Sink
	probe  string // this connection's own probe channel
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	ps       *redis.PubSub   // replaced on reconnect by the receive goroutine
	names    map[string]bool // subscribed channels (false) and patterns (true)
	pending  map[string]int  // SUBSCRIBEs sent per name and not yet confirmed
	commands []subCommand    // for the sender goroutine
	wake     chan struct{}   // signals the sender; capacity 1

	// Owned by the receive goroutine.
	last eventid.ID // newest id delivered to the sink

	done       chan struct{} // closed by Close
	closeOnce  sync.Once
	goroutines sync.WaitGroup // receive and sendCommands
}

// subCommand is a subscription change for the sender goroutine.
type subCommand struct {
	name               string
	pattern, subscribe bool
}

// Subscribe implements broker.Subscriber. The subscription is pending
// until Redis confirms it; the sink hears of it then.
func (s *subscriber) Subscribe(t string) (bool, error) {
	return s.subscribe(s.b.keys.channel+t, false)
}

// PSubscribe implements broker.Subscriber, like Subscribe. The hub passes
// only valid patterns (topic.ValidatePattern), whose one glob character is
// *: after the literal "prefix:c:" it cannot reach another prefix's
// channels, whose prefix ends at their first ':' (ValidatePrefix).
func (s *subscriber) PSubscribe(p string) (bool, error) {
	return s.subscribe(s.b.keys.channel+p, true)
}

// Unsubscribe implements broker.Subscriber.
func (s *subscriber) Unsubscribe(t string) { s.unsubscribe(s.b.keys.channel+t, false) }

// PUnsubscribe implements broker.Subscriber.
func (s *subscriber) PUnsubscribe(p string) { s.unsubscribe(s.b.keys.channel+p, true) }

func (s *subscriber) subscribe(name string, pattern bool) (bool, error) {
	s.mu.Lock()
	s.names[name] = pattern
	// Counted per command: after SUBSCRIBE, UNSUBSCRIBE, SUBSCRIBE of one
	// name, only the second confirmation means it is in force again.
	s.pending[name]++
	s.mu.Unlock()
	s.send(subCommand{name: name, pattern: pattern, subscribe: true})
	return false, nil
}

func (s *subscriber) unsubscribe(name string, pattern bool) {
	s.mu.Lock()
	delete(s.names, name)
	s.mu.Unlock()
	s.send(subCommand{name: name, pattern: pattern})
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

// Close implements broker.Subscriber. It waits for the subscriber's
// goroutines, and may be called more than once, from any goroutine: every
// call returns once they are gone.
func (s *subscriber) Close() {
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
			pattern, subscribed := s.names[m.Channel]
			s.mu.Unlock()
			if wanted && n == 0 && subscribed {
				s.sink.Subscribed(strings.TrimPrefix(m.Channel, s.b.keys.channel), pattern)
			}
		}
	case *redis.Message:
		if m.Channel == s.probe {
			return
		}
		s.deliver(m.Payload)
	}
}

// deliver hands one envelope to the sink unless it is not newer than the
// last (a message matching a channel and a pattern comes twice).
func (s *subscriber) deliver(payload string) {
	m, err := decodeEnvelope(payload)
	if err != nil {
		s.b.log.Error("redis broker: dropping undecodable message", "err", err)
		return
	}
	if !s.last.Less(m.ID) {
		return
	}
	s.last = m.ID
	s.sink.Deliver(m)
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
		for name, pattern := range s.names {
			if pattern {
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
	var live []string
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
			if m.Channel != s.probe {
				live = append(live, m.Payload)
			}
		default:
			s.handle(msg)
		}
	}
	s.mu.Lock()
	// Every name is subscribed now; confirmations counted before the
	// connection broke may never come.
	confirmed := s.pending
	s.pending = make(map[string]int)
	var sel broker.Selection
	for name, pattern := range s.names {
		t := strings.TrimPrefix(name, s.b.keys.channel)
		if pattern {
			sel.Patterns = append(sel.Patterns, t)
		} else {
			sel.Topics = append(sel.Topics, t)
		}
	}
	s.mu.Unlock()
	if !s.last.IsZero() && (len(sel.Topics) > 0 || len(sel.Patterns) > 0) {
		if err := s.fillGap(sel); err != nil {
			// The streams cannot be told what they missed here: end them,
			// so that each resumes and gets its events or a reset.
			s.b.stats.gapLosses.Add(1)
			s.b.log.Error("redis gap fill impossible; ending this shard's streams so they resume",
				"since", s.last.String(), "err", err)
			s.sink.Lost()
		}
	}
	for _, p := range live {
		s.deliver(p)
	}
	for name := range confirmed {
		s.mu.Lock()
		pattern, subscribed := s.names[name]
		s.mu.Unlock()
		if subscribed {
			s.sink.Subscribed(strings.TrimPrefix(name, s.b.keys.channel), pattern)
		}
	}
	return true
}

// gapFillTimeout bounds each page of a gap fill.
const gapFillTimeout = 10 * time.Second

// errGapExpired means history no longer holds all that a gap fill needed.
var errGapExpired = errors.New("redis broker: history expired since the last delivery")

// fillGap delivers, from history, what the subscriber missed since the
// last message it delivered. It reads a page, delivers it, then reads the
// next, so a long outage costs a page of memory, not the whole gap. On an
// error, what was delivered is a prefix of the gap in id order.
func (s *subscriber) fillGap(sel broker.Selection) error {
	ctx, cancel := context.WithTimeout(s.ctx, gapFillTimeout)
	r, ok, err := s.b.gapFill(ctx, sel, s.last)
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
			if s.last.Less(m.ID) {
				s.last = m.ID
				s.sink.Deliver(m)
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
