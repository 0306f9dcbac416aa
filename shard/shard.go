// Package shard is the hub's actor: one goroutine that owns a share of the
// connections, their topic index and the shard's broker subscriptions, and
// fans each message out to its clients' queues without ever blocking.
package shard

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
)

// Config tunes a shard. Zero fields take the documented defaults.
type Config struct {
	// QueueSize is how many messages a client may have waiting to be
	// written; a client whose queue is full is evicted (ReasonSlow) and
	// catches up through resume. Zero means 64; values below 2 become 2.
	QueueSize int
	// MailboxSize is how many broker messages may wait for the shard loop
	// before the broker is made to wait. Zero means 1024.
	MailboxSize int
	// Heartbeat is how often each client gets a comment line, staggered
	// across clients. Zero means 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a client; a client that cannot take
	// a write in that time is dropped (ReasonWriteFailed). Zero means 10s.
	WriteTimeout time.Duration
	// ReplayTimeout bounds reading history for one resume. Zero means 10s.
	ReplayTimeout time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.QueueSize == 0 {
		c.QueueSize = 64
	}
	c.QueueSize = max(c.QueueSize, 2) // room for the resume marker and one message
	if c.MailboxSize <= 0 {
		c.MailboxSize = 1024
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReplayTimeout <= 0 {
		c.ReplayTimeout = 10 * time.Second
	}
	return c
}

// heartbeatBuckets spreads heartbeats: clients are dealt round-robin into
// buckets and one bucket is visited per Heartbeat/heartbeatBuckets, so a
// shard never writes to all of its clients at once.
const heartbeatBuckets = 16

type leave struct {
	c      *client
	reason Reason
}

// Stats is a snapshot of a shard's counters.
type Stats struct {
	Clients       int64  // open streams
	Subscriptions int64  // distinct exact topics and patterns subscribed at the broker
	Messages      uint64 // messages dispatched (after dropping duplicates)
	Deliveries    uint64 // messages queued to clients
	Duplicates    uint64 // messages dropped because their id was not newer than the last
	Ended         [numReasons]uint64
}

// Shard is one actor. Create it with New, run it with Run, end it with Stop.
type Shard struct {
	cfg    Config
	broker broker.Broker

	inbox  chan *broker.Message // from the broker, in id order
	joins  chan *client
	leaves chan leave
	done   chan struct{} // closed by Stop

	ctx    context.Context // cancelled by Stop; bounds replays
	cancel context.CancelFunc

	// Owned by the Run goroutine.
	sub        broker.Subscriber
	exact      map[string]map[*client]struct{}
	patterns   map[string]map[*client]struct{}
	buckets    [heartbeatBuckets]map[*client]struct{}
	nextBucket int
	tick       int
	lastID     eventid.ID

	// Written by the Run goroutine, read by Stats.
	clients, subscriptions           atomic.Int64
	messages, deliveries, duplicates atomic.Uint64
	ended                            [numReasons]atomic.Uint64
}

// New creates a shard subscribed to b. Call Run to start it.
func New(cfg Config, b broker.Broker) (*Shard, error) {
	cfg = cfg.WithDefaults()
	s := &Shard{
		cfg:    cfg,
		broker: b,
		inbox:  make(chan *broker.Message, cfg.MailboxSize),
		// Unbuffered, so a join is either taken by the loop or refused
		// by Stop, never stranded in a buffer after the loop has exited.
		joins:    make(chan *client),
		leaves:   make(chan leave, 256),
		done:     make(chan struct{}),
		exact:    make(map[string]map[*client]struct{}),
		patterns: make(map[string]map[*client]struct{}),
	}
	for i := range s.buckets {
		s.buckets[i] = make(map[*client]struct{})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	sub, err := b.NewSubscriber(s)
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.sub = sub
	return s, nil
}

// Deliver implements broker.Sink. It blocks while the mailbox is full (the
// shard loop never blocks, so that is brief) and drops once the shard stops.
func (s *Shard) Deliver(m *broker.Message) {
	select {
	case s.inbox <- m:
	case <-s.done:
	}
}

// Stop asks Run to end every stream and return. It does not wait.
func (s *Shard) Stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
		s.cancel()
	}
}

// Stats returns the shard's counters. Safe to call from any goroutine.
func (s *Shard) Stats() Stats {
	st := Stats{
		Clients:       s.clients.Load(),
		Subscriptions: s.subscriptions.Load(),
		Messages:      s.messages.Load(),
		Deliveries:    s.deliveries.Load(),
		Duplicates:    s.duplicates.Load(),
	}
	for i := range st.Ended {
		st.Ended[i] = s.ended[i].Load()
	}
	return st
}

// Run is the shard loop. It returns after Stop, once every client has been
// removed and the broker subscription closed.
func (s *Shard) Run() {
	ticker := time.NewTicker(s.cfg.Heartbeat / heartbeatBuckets)
	defer ticker.Stop()
	for {
		select {
		case m := <-s.inbox:
			s.dispatch(m)
		case c := <-s.joins:
			s.join(c)
		case l := <-s.leaves:
			s.remove(l.c, l.reason)
		case <-ticker.C:
			s.heartbeat()
		case <-s.done:
			s.shutdown()
			return
		}
	}
}

// Serve streams to conn until the stream ends, and returns why. It runs the
// stream's writer in the calling goroutine. head (the HTTP response head and
// SSE preamble) is written once the stream is subscribed, so a client that
// has seen it open receives every event published afterwards. Serve does not
// close conn, except to unblock a stuck write.
func (s *Shard) Serve(conn Conn, head []byte, sel broker.Selection, lastEventID string) Reason {
	c := &client{
		conn:        conn,
		sel:         sel,
		lastEventID: lastEventID,
		queue:       make(chan *broker.Message, s.cfg.QueueSize),
	}
	select {
	case s.joins <- c:
	case <-s.done:
		return ReasonShutdown
	}
	reason, ok := s.write(c, head)
	if !ok {
		// The writer gave up; tell the shard unless it is already gone, in
		// which case it removes every client itself.
		select {
		case s.leaves <- leave{c, reason}:
		case <-s.done:
		}
	}
	return reason
}

// write is the writer loop. ok is true when the shard ended the stream
// (reason is then the shard's), false when the writer did.
func (s *Shard) write(c *client, head []byte) (reason Reason, ok bool) {
	w := streamWriter{c: c, timeout: s.cfg.WriteTimeout}
	// join queues joinedMarker first, once the subscriptions are active, so
	// the first entry is the marker unless the queue was closed.
	if _, open := <-c.queue; !open {
		return c.reason, true
	}
	if err := w.write(head); err != nil {
		return ReasonWriteFailed, false
	}
	if c.lastEventID != "" {
		if r, ok := s.replay(&w); !ok {
			return r, false
		}
	}
	for m := range c.queue {
		if w.covered(m) {
			continue
		}
		closed, err := w.drain(m)
		if err != nil {
			return ReasonWriteFailed, false
		}
		if closed {
			break
		}
	}
	return c.reason, true
}

// replay sends the client what it missed, or the reset event, and sets the
// point up to which live messages are already covered.
func (s *Shard) replay(w *streamWriter) (Reason, bool) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReplayTimeout)
	r, err := s.broker.Replay(ctx, w.c.sel, w.c.lastEventID)
	cancel()
	if err != nil {
		return ReasonReplayFailed, false
	}
	msgs := r.Messages
	if r.Reset != nil {
		msgs = []*broker.Message{r.Reset}
	}
	if err := w.writeFrames(msgs); err != nil {
		return ReasonWriteFailed, false
	}
	w.skipThrough = r.Head
	return 0, true
}

// join adds c to the index, subscribing at the broker to names that had no
// local subscriber yet.
func (s *Shard) join(c *client) {
	s.clients.Add(1)
	c.bucket = s.nextBucket
	s.nextBucket = (s.nextBucket + 1) % heartbeatBuckets
	s.buckets[c.bucket][c] = struct{}{}
	for _, t := range c.sel.Topics {
		if !s.add(s.exact, t, c, s.sub.Subscribe) {
			return
		}
	}
	for _, p := range c.sel.Patterns {
		if !s.add(s.patterns, p, c, s.sub.PSubscribe) {
			return
		}
	}
	c.queue <- joinedMarker // cannot block: the queue is new and empty
}

// add indexes c under name, subscribing on first use. On failure it removes c.
func (s *Shard) add(index map[string]map[*client]struct{}, name string, c *client, subscribe func(string) error) bool {
	set, ok := index[name]
	if !ok {
		if err := subscribe(name); err != nil {
			s.remove(c, ReasonSubscribeFailed)
			return false
		}
		set = make(map[*client]struct{}, 1)
		index[name] = set
		s.subscriptions.Add(1)
	}
	set[c] = struct{}{}
	return true
}

// drop unindexes c from name, unsubscribing after the last local subscriber.
func (s *Shard) drop(index map[string]map[*client]struct{}, name string, c *client, unsubscribe func(string)) {
	set, ok := index[name]
	if !ok {
		return
	}
	delete(set, c)
	if len(set) == 0 {
		delete(index, name)
		unsubscribe(name)
		s.subscriptions.Add(-1)
	}
}

// remove ends c's stream: unindex it, close its queue so its writer stops,
// and close its conn so a writer blocked on a stuck peer returns at once.
func (s *Shard) remove(c *client, reason Reason) {
	if c.removed {
		return
	}
	c.removed = true
	delete(s.buckets[c.bucket], c)
	for _, t := range c.sel.Topics {
		s.drop(s.exact, t, c, s.sub.Unsubscribe)
	}
	for _, p := range c.sel.Patterns {
		s.drop(s.patterns, p, c, s.sub.PUnsubscribe)
	}
	c.reason = reason
	close(c.queue)
	_ = c.conn.Close()
	s.clients.Add(-1)
	s.ended[reason].Add(1)
}

// dispatch queues m to every local client that follows one of its topics,
// once per client. It never blocks: a full queue evicts its client.
func (s *Shard) dispatch(m *broker.Message) {
	if m.ID.Compare(s.lastID) <= 0 {
		// A message that matched both a topic and a pattern of this shard
		// may arrive twice (Redis sends message and pmessage); ids are
		// totally ordered, so anything not newer was already handled.
		s.duplicates.Add(1)
		return
	}
	s.lastID = m.ID
	n := 0
	for _, t := range m.Topics {
		for c := range s.exact[t] {
			n += s.offer(c, m)
		}
	}
	for p, set := range s.patterns {
		if matchAny(p, m.Topics) {
			for c := range set {
				n += s.offer(c, m)
			}
		}
	}
	s.messages.Add(1)
	s.deliveries.Add(uint64(n))
}

func matchAny(pattern string, topics []string) bool {
	for _, t := range topics {
		if topic.Match(pattern, t) {
			return true
		}
	}
	return false
}

// offer queues m to c unless c already has it, and reports 1 if queued.
func (s *Shard) offer(c *client, m *broker.Message) int {
	if c.lastQueued == m.ID {
		return 0
	}
	c.lastQueued = m.ID
	select {
	case c.queue <- m:
		return 1
	default:
		s.remove(c, ReasonSlow)
		return 0
	}
}

// heartbeat queues a comment to the clients of the next bucket.
func (s *Shard) heartbeat() {
	s.tick = (s.tick + 1) % heartbeatBuckets
	for c := range s.buckets[s.tick] {
		select {
		case c.queue <- heartbeat:
		default:
			s.remove(c, ReasonSlow)
		}
	}
}

// shutdown removes every client and closes the broker subscription.
func (s *Shard) shutdown() {
	for _, b := range s.buckets {
		for c := range b {
			s.remove(c, ReasonShutdown)
		}
	}
	s.sub.Close()
}
