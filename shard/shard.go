// Package shard is the hub's actor: one goroutine that owns a share of the
// connections, their topic index and the shard's broker subscriptions, and
// fans each message out to its clients' queues without ever blocking.
package shard

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/shard/uring"
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
	// Heartbeat is the longest a client goes with nothing written to it:
	// when no event came, it gets a comment line. The comment lines are
	// staggered across clients. Zero means 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a client; a client that cannot take
	// a write in that time is dropped (ReasonWriteFailed). Zero means 10s.
	WriteTimeout time.Duration
	// ReplayTimeout bounds reading history for one resume. Zero means 10s.
	ReplayTimeout time.Duration
	// SubscribeTimeout bounds how long a new stream waits for the broker to
	// confirm its subscriptions before it is dropped (ReasonSubscribeFailed)
	// and its client retries. Zero means 10s.
	SubscribeTimeout time.Duration
	// Observer, if not nil, is told of each message the shard delivered
	// (metrics, tracing), once per message.
	Observer Observer
	// NoIOUring makes the shard loop write with one write(2) per socket
	// even where the kernel offers io_uring, which sends a fan-out's
	// frames in batches (package uring).
	NoIOUring bool
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
	if c.SubscribeTimeout <= 0 {
		c.SubscribeTimeout = 10 * time.Second
	}
	return c
}

// heartbeatBuckets spreads heartbeats: clients are dealt round-robin into
// buckets and one bucket is visited per tick, Heartbeat /
// heartbeatBuckets, so a shard does not write to all of its idle clients
// at once. See heartbeat for the clients that had events.
const heartbeatBuckets = 16

// neverWritten is a new client's lastWrite: its first heartbeat comes at
// its bucket's first visit, so that clients that joined together (a
// reconnect storm) do not get their heartbeats together.
const neverWritten = -heartbeatBuckets

type leave struct {
	c      *client
	reason Reason
}

// subscription is one exact topic or pattern that local clients follow.
type subscription struct {
	clients map[*client]struct{}
	// active: the broker confirmed it. Until then its clients wait, since
	// events published meanwhile might not reach them.
	active bool
}

type subscribed struct {
	name    string
	pattern bool
}

// Stats is a snapshot of a shard's counters.
type Stats struct {
	Clients       int64  // open streams
	Subscriptions int64  // distinct exact topics and patterns subscribed at the broker
	Messages      uint64 // messages dispatched (after dropping duplicates)
	Deliveries    uint64 // messages queued to clients
	Duplicates    uint64 // messages dropped because their id was not newer than the last
	Ended         [numReasons]uint64
	Mailbox       int    // broker messages waiting for the shard loop
	MailboxSize   int    // the mailbox's capacity: the broker waits when it is full
	Replays       uint64 // resumes answered from history
	Replayed      uint64 // messages those replays wrote
	Resets        uint64 // resumes answered with an ssehub.reset event
	IOUring       bool   // the loop's writes go through io_uring
}

// Shard is one actor. Create it with New, run it with Run, end it with Stop.
type Shard struct {
	cfg    Config
	broker broker.Broker

	inbox      chan *broker.Message // from the broker, in id order
	subscribed chan subscribed      // from the broker: pending subscriptions now active
	lost       chan struct{}        // from the broker: messages may be lost
	joins      chan *client
	leaves     chan leave
	retires    chan retire   // from a draining hub
	done       chan struct{} // closed by Stop

	ctx    context.Context // cancelled by Stop; bounds replays
	cancel context.CancelFunc

	// flushers counts running flush goroutines. Only the Run goroutine
	// adds to it (in wake), and it waits for it in shutdown.
	flushers sync.WaitGroup

	// Owned by the Run goroutine.
	sub        broker.Subscriber
	exact      map[string]*subscription
	patterns   map[string]*subscription
	waiting    map[*client]struct{}                   // joined, some subscription not yet active
	buckets    [heartbeatBuckets]map[*client]struct{} // visited at tick % heartbeatBuckets
	nextBucket int
	tick       int // heartbeat ticks so far
	lastID     eventid.ID
	deferred   []*client   // queued to during a backlog, not yet woken
	backlog    bool        // more messages waited in the inbox when this fan-out began
	sinceWake  int         // messages dispatched since wakeDeferred
	ring       batchSender // batches writeNow's sends; nil: write(2) each
	sends      []ringSend  // the sends queued in ring, indexed by tag
	ringFailed bool        // ring is to be closed once no send is queued

	// Written by New and by the Run goroutine, read by Stats.
	usesRing atomic.Bool

	// Written by the Run goroutine, read by Stats.
	clients, subscriptions           atomic.Int64
	messages, deliveries, duplicates atomic.Uint64
	ended                            [numReasons]atomic.Uint64

	// Written by the flushers, read by Stats.
	replays, replayed, resets atomic.Uint64
}

// New creates a shard subscribed to b. Call Run to start it.
func New(cfg Config, b broker.Broker) (*Shard, error) {
	cfg = cfg.WithDefaults()
	s := &Shard{
		cfg:        cfg,
		broker:     b,
		inbox:      make(chan *broker.Message, cfg.MailboxSize),
		subscribed: make(chan subscribed, 256),
		lost:       make(chan struct{}, 1),
		// Unbuffered, so a join is either taken by the loop or refused
		// by Stop, never stranded in a buffer after the loop has exited.
		joins:    make(chan *client),
		leaves:   make(chan leave, 256),
		retires:  make(chan retire),
		done:     make(chan struct{}),
		exact:    make(map[string]*subscription),
		patterns: make(map[string]*subscription),
		waiting:  make(map[*client]struct{}),
	}
	for i := range s.buckets {
		s.buckets[i] = make(map[*client]struct{})
	}
	if !cfg.NoIOUring {
		// Where the kernel refuses io_uring (seccomp, sysctl), write(2)
		// does the same job, only at a higher CPU cost per delivery.
		if r, err := uring.New(ringEntries); err == nil {
			s.useRing(r)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	sub, err := b.NewSubscriber(s)
	if err != nil {
		s.cancel()
		s.closeRing()
		return nil, err
	}
	s.sub = sub
	return s, nil
}

// batchSender sends frames to many sockets in batches: a *uring.Ring, or
// in tests one that fails on purpose.
type batchSender interface {
	Register(fd int) error // before the first send to fd; optional
	Unregister(fd int) error
	Send(fd int, p []byte, tag uint64) bool
	Submit() ([]uring.Completion, error)
	Cap() int // sends per batch
	Close() error
}

// ringEntries is how many sends one io_uring batch holds: enough that a
// fan-out to a whole shard takes a few system calls, small enough that
// the ring's memory (96 KiB) does not matter.
const ringEntries = 1024

// Deliver implements broker.Sink. It blocks while the mailbox is full (the
// shard loop never blocks, so that is brief) and drops once the shard stops.
func (s *Shard) Deliver(m *broker.Message) {
	select {
	case s.inbox <- m:
	case <-s.done:
	}
}

// Subscribed implements broker.Sink.
func (s *Shard) Subscribed(name string, pattern bool) {
	select {
	case s.subscribed <- subscribed{name, pattern}:
	case <-s.done:
	}
}

// Lost implements broker.Sink: it ends every stream, so each resumes.
func (s *Shard) Lost() {
	select {
	case s.lost <- struct{}{}:
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
		Mailbox:       len(s.inbox),
		MailboxSize:   cap(s.inbox),
		Replays:       s.replays.Load(),
		Replayed:      s.replayed.Load(),
		Resets:        s.resets.Load(),
		IOUring:       s.usesRing.Load(),
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
			if s.sinceWake++; len(s.inbox) == 0 || s.sinceWake >= wakeEvery {
				s.wakeDeferred()
			}
		case sub := <-s.subscribed:
			s.activate(sub)
		case <-s.lost:
			s.removeAll(ReasonBrokerGap)
		case c := <-s.joins:
			s.join(c)
		case l := <-s.leaves:
			s.remove(l.c, l.reason)
		case r := <-s.retires:
			s.retire(r)
		case now := <-ticker.C:
			s.heartbeat(now)
			s.expireWaiting(now)
		case <-s.done:
			s.shutdown()
			return
		}
	}
}

// Stream describes one stream for Join.
type Stream struct {
	// Head is written once the stream is subscribed: the HTTP response
	// head and SSE preamble.
	Head      []byte
	Selection broker.Selection
	// LastEventID is the resume point as the client sent it; empty for a
	// fresh stream.
	LastEventID string
	// Expires ends the stream within one heartbeat interval after it (the
	// client reconnects with a fresh token); zero means never.
	Expires time.Time
	// OnOpen, if not nil, is called once when the stream's subscriptions
	// are all active and its head is queued: from then on it misses no
	// event. It runs on the shard loop: it must be quick and must not block.
	OnOpen func()
	// OnEnd, if not nil, is called once with the reason when the stream
	// ends. It runs on the shard loop: it must be quick and must not block.
	OnEnd func(Reason)
}

// ErrStopped is returned by Join once the shard has stopped.
var ErrStopped = errors.New("shard: stopped")

// Join starts a stream to conn: once the stream is subscribed, head (the
// HTTP response head and SSE preamble) is written, so a client that has
// seen it receives every event published afterwards; then, for a resume
// from lastEventID, what the client missed; then live events. The shard owns
// conn from now on and closes it when the stream ends.
func (s *Shard) Join(conn Conn, st Stream) error {
	c := newClient(conn, st, s.cfg.QueueSize)
	select {
	case s.joins <- c:
		return nil
	case <-s.done:
		return ErrStopped
	}
}

// wake starts a flusher for c unless one is running. Called by the shard
// loop after queueing to c.
func (s *Shard) wake(c *client) {
	if !c.flushing.Load() && c.flushing.CompareAndSwap(false, true) {
		s.flushers.Add(1)
		go s.flush(c)
	}
}

// writeNow writes m to c from the shard loop, when that needs no flusher:
// nothing is queued for c, no flusher runs, and the socket takes the frame
// at once. It reports whether it took care of m: written, skipped as
// already replayed, handed to a flusher with what the socket did not take,
// or ended with the stream on a failed write. If not, the caller queues m.
// With a ring, the write is a send queued in it, and submitSends, which
// the caller runs after its fan-out, finishes it the same ways.
//
// A flusher goroutine costs a start, a wake-up and a write deadline per
// write; at a few events per second per stream that is most of a
// delivery's cost besides the write itself. writeNow skips it unless more
// messages wait in the inbox: then queueing lets a flusher coalesce them
// into fewer writes, which is cheaper under load.
func (s *Shard) writeNow(c *client, m *broker.Message) bool {
	if !c.direct || s.backlog || len(c.queue) > 0 || !c.flushing.CompareAndSwap(false, true) {
		return false
	}
	s.send(c, m)
	return true
}

// writeQueuedNow writes the one message queued for c from the shard loop,
// as writeNow would have without a backlog: a flusher started for it
// would have nothing to coalesce it with (under load, a targeted event;
// a broadcast when the backlog was short). It reports false, leaving the
// queue as it was, if more than one message is queued, a flusher runs, or
// c has no socket of its own.
func (s *Shard) writeQueuedNow(c *client) bool {
	if !c.direct || len(c.queue) != 1 || !c.flushing.CompareAndSwap(false, true) {
		return false
	}
	// Holding flushing, the queue is this goroutine's to read; the length
	// is read again because a flusher may have emptied it since.
	var m *broker.Message
	if len(c.queue) == 1 {
		m = <-c.queue
	}
	if m == nil || m == joinedMarker || m == retireMarker {
		// A flusher is started along with the markers, so none should be
		// here with flushing clear; if one is, it is the flusher's.
		if m != nil {
			c.queue <- m // cannot block: the queue was just emptied
		}
		c.flushing.Store(false)
		return false
	}
	s.send(c, m)
	return true
}

// send writes m to c from the shard loop, which holds c's flushing flag:
// this goroutine is c's flusher until it lets go. With a ring, the write
// is a send queued in it, finished by submitSends.
func (s *Shard) send(c *client, m *broker.Message) {
	if c.covered(m) {
		c.flushing.Store(false)
		return
	}
	if s.ring != nil {
		s.queueSend(c, m.Frame)
		return
	}
	n, err := c.tryWrite(m.Frame)
	s.wrote(c, m.Frame, n, err)
}

// wrote finishes a write of frame to c by the shard loop, which held c's
// flushing flag for it: n bytes went out, and err is errWouldBlock if the
// socket did not take the rest.
func (s *Shard) wrote(c *client, frame []byte, n int, err error) {
	switch {
	case err == nil:
		c.flushing.Store(false)
	case errors.Is(err, errWouldBlock):
		c.partial = frame[n:]
		s.flushers.Add(1)
		go s.flush(c) // it owns flushing, and partial, from here
	default:
		s.remove(c, ReasonWriteFailed) // flushing stays set: no flusher will start
	}
}

// ringSend is a send queued in the shard's ring.
type ringSend struct {
	c     *client
	frame []byte
}

// useRing makes r carry the loop's writes.
func (s *Shard) useRing(r batchSender) {
	s.ring = r
	s.sends = make([]ringSend, 0, r.Cap())
	s.usesRing.Store(true)
}

// queueSend queues a send of frame to c in the ring, submitting the batch
// first if it is full. The caller holds c's flushing flag, and calls
// submitSends before the loop does anything else: until then c's fd stays
// open, as only the loop closes it.
func (s *Shard) queueSend(c *client, frame []byte) {
	if !s.ring.Send(c.fd, frame, uint64(len(s.sends))) {
		s.submitSends()
		// An empty batch has room, unless submitting just failed and
		// closed the ring: then write as without one.
		if s.ring == nil || !s.ring.Send(c.fd, frame, uint64(len(s.sends))) {
			n, err := c.tryWrite(frame)
			s.wrote(c, frame, n, err)
			return
		}
	}
	s.sends = append(s.sends, ringSend{c, frame})
}

// submitSends submits the queued sends and finishes each as writeNow
// would have. If the ring itself fails, the shard goes back to write(2)
// for good, and ends the streams whose sends it could not account for:
// they resume from their last event, so nothing is lost or repeated.
func (s *Shard) submitSends() {
	if len(s.sends) == 0 {
		return
	}
	done, err := s.ring.Submit()
	for _, d := range done {
		snd := &s.sends[d.Tag]
		n, werr := nonBlockingResult(int(d.Res), d.Err(), len(snd.frame))
		s.wrote(snd.c, snd.frame, n, werr)
		snd.c = nil
	}
	if err != nil {
		for _, snd := range s.sends {
			if snd.c != nil {
				s.remove(snd.c, ReasonWriteFailed)
			}
		}
	}
	clear(s.sends)
	s.sends = s.sends[:0]
	if err != nil || s.ringFailed {
		s.closeRing()
	}
}

// registerWithRing lets the ring, if any, send to c's socket by a slot of
// its registered files. Called by the loop when c joins. Without a slot
// (the table full, say) sends go by descriptor, which costs a little more.
func (s *Shard) registerWithRing(c *client) {
	if s.ring != nil && c.direct {
		_ = s.ring.Register(c.fd)
	}
}

// unregisterFromRing takes c's socket out of the ring's registered files,
// before its conn is closed: the ring would hold the socket open. If it
// cannot, the ring is closed, which releases every file it holds, at once
// or, during a fan-out, once the queued sends are finished.
func (s *Shard) unregisterFromRing(c *client) {
	if s.ring == nil || !c.direct || s.ring.Unregister(c.fd) == nil {
		return
	}
	s.ringFailed = true
	if len(s.sends) == 0 {
		s.closeRing()
	}
}

// closeRing closes the ring, if any; the loop writes with write(2) after.
func (s *Shard) closeRing() {
	if s.ring != nil {
		_ = s.ring.Close()
		s.ring = nil
		s.ringFailed = false
		s.usesRing.Store(false)
	}
}

// flush writes what is queued for c and exits when the queue is empty. It
// runs in its own goroutine, started by wake or writeNow; at most one runs
// per client.
func (s *Shard) flush(c *client) {
	defer s.flushers.Done()
	for {
		if reason, failed := s.writeQueued(c); failed {
			// flushing stays set, so no flusher writes to c again.
			select {
			case s.leaves <- leave{c, reason}:
			case <-s.done: // the loop removes every client itself
			}
			return
		}
		c.flushing.Store(false)
		// The shard may have queued after the last receive and seen the
		// flag still set; whoever sets it again owns the queue.
		if len(c.queue) == 0 || !c.flushing.CompareAndSwap(false, true) {
			return
		}
	}
}

// writeQueued writes everything queued for c, coalescing it into as few
// writes as possible. It reports failed when the stream must end.
func (s *Shard) writeQueued(c *client) (reason Reason, failed bool) {
	b := batch{timeout: s.cfg.WriteTimeout}
	defer b.release()
	if c.partial != nil {
		err := b.add(c, c.partial)
		c.partial = nil
		if err != nil {
			return ReasonWriteFailed, true
		}
	}
	for {
		var m *broker.Message
		open := true
		select {
		case m, open = <-c.queue:
		default:
		}
		var err error
		switch {
		case !open: // removed by the shard, which closed the conn
			return 0, false
		case m == nil: // nothing more queued
			if b.flush(c) != nil {
				return ReasonWriteFailed, true
			}
			return 0, false
		case m == joinedMarker:
			err = b.add(c, c.head)
			if err == nil && c.lastEventID != "" {
				if reason, failed := s.replay(c, &b); failed {
					return reason, true
				}
			}
		case m == retireMarker:
			if b.add(c, c.goodbye) != nil || b.flush(c) != nil {
				return ReasonWriteFailed, true
			}
			return ReasonDrained, true
		case c.covered(m):
		default:
			err = b.add(c, m.Frame)
		}
		if err != nil {
			return ReasonWriteFailed, true
		}
	}
}

// replay adds what the client missed, or the reset event, to b, and sets
// the point up to which live messages are already covered.
func (s *Shard) replay(c *client, b *batch) (Reason, bool) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReplayTimeout)
	r, err := s.broker.Replay(ctx, c.sel, c.lastEventID)
	cancel()
	if err != nil {
		return ReasonReplayFailed, true
	}
	msgs := r.Messages
	if r.Reset != nil {
		msgs = []*broker.Message{r.Reset}
		s.resets.Add(1)
	} else {
		s.replays.Add(1)
		s.replayed.Add(uint64(len(msgs)))
	}
	for _, m := range msgs {
		if err := b.add(c, m.Frame); err != nil {
			return ReasonWriteFailed, true
		}
	}
	c.skipThrough = r.Head
	return 0, false
}

// join adds c to the index, subscribing at the broker to names that had no
// local subscriber yet. The stream opens once all of them are active.
func (s *Shard) join(c *client) {
	s.clients.Add(1)
	s.registerWithRing(c)
	c.bucket = s.nextBucket
	s.nextBucket = (s.nextBucket + 1) % heartbeatBuckets
	s.buckets[c.bucket][c] = struct{}{}
	c.lastWrite = neverWritten
	for _, t := range c.sel.Topics {
		if !s.add(s.exact, t, false, c) {
			return
		}
	}
	for _, p := range c.sel.Patterns {
		if !s.add(s.patterns, p, true, c) {
			return
		}
	}
	if c.pending == 0 {
		s.open(c)
		return
	}
	c.joinedAt = time.Now()
	s.waiting[c] = struct{}{}
}

// open queues joinedMarker, from which the flusher writes the head and any
// replay: every subscription of c is active now.
func (s *Shard) open(c *client) {
	delete(s.waiting, c)
	c.queue <- joinedMarker // cannot block: nothing is queued before it
	s.wake(c)
	if c.onOpen != nil {
		c.onOpen()
	}
}

// add indexes c under name, subscribing on first use. On failure it removes c.
func (s *Shard) add(index map[string]*subscription, name string, pattern bool, c *client) bool {
	sub, ok := index[name]
	if !ok {
		subscribe := s.sub.Subscribe
		if pattern {
			subscribe = s.sub.PSubscribe
		}
		active, err := subscribe(name)
		if err != nil {
			s.remove(c, ReasonSubscribeFailed)
			return false
		}
		sub = &subscription{clients: make(map[*client]struct{}, 1), active: active}
		index[name] = sub
		s.subscriptions.Add(1)
	}
	sub.clients[c] = struct{}{}
	if !sub.active {
		c.pending++
	}
	return true
}

// activate marks a confirmed subscription active and opens the clients that
// waited only for it.
func (s *Shard) activate(m subscribed) {
	index := s.exact
	if m.pattern {
		index = s.patterns
	}
	sub := index[m.name]
	if sub == nil || sub.active {
		return // unsubscribed meanwhile, or a repeated confirmation
	}
	sub.active = true
	for c := range sub.clients {
		if c.pending--; c.pending == 0 {
			s.open(c)
		}
	}
}

// expireWaiting drops streams whose subscriptions were not confirmed in time.
func (s *Shard) expireWaiting(now time.Time) {
	for c := range s.waiting {
		if now.Sub(c.joinedAt) > s.cfg.SubscribeTimeout {
			s.remove(c, ReasonSubscribeFailed)
		}
	}
}

// drop unindexes c from name, unsubscribing after the last local subscriber.
func (s *Shard) drop(index map[string]*subscription, name string, c *client, unsubscribe func(string)) {
	sub, ok := index[name]
	if !ok {
		return
	}
	delete(sub.clients, c)
	if len(sub.clients) == 0 {
		delete(index, name)
		unsubscribe(name)
		s.subscriptions.Add(-1)
	}
}

// remove ends c's stream: unindex it, close its queue so its flusher stops,
// and close its conn so a flusher blocked on a stuck peer returns at once.
func (s *Shard) remove(c *client, reason Reason) {
	if c.removed {
		return
	}
	c.removed = true
	delete(s.buckets[c.bucket], c)
	delete(s.waiting, c)
	for _, t := range c.sel.Topics {
		s.drop(s.exact, t, c, s.sub.Unsubscribe)
	}
	for _, p := range c.sel.Patterns {
		s.drop(s.patterns, p, c, s.sub.PUnsubscribe)
	}
	close(c.queue)
	s.unregisterFromRing(c)
	_ = c.conn.Close()
	s.clients.Add(-1)
	s.ended[reason].Add(1)
	if c.onEnd != nil {
		c.onEnd(reason)
	}
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
	s.backlog = len(s.inbox) > 0 // read once per fan-out, not per client
	var start time.Time
	if s.cfg.Observer != nil {
		start = time.Now()
	}
	n := 0
	for _, t := range m.Topics {
		if sub := s.exact[t]; sub != nil {
			for c := range sub.clients {
				n += s.offer(c, m)
			}
		}
	}
	for p, sub := range s.patterns {
		if matchAny(p, m.Topics) {
			for c := range sub.clients {
				n += s.offer(c, m)
			}
		}
	}
	s.submitSends()
	s.messages.Add(1)
	s.deliveries.Add(uint64(n))
	if n > 0 && s.cfg.Observer != nil {
		s.cfg.Observer.Delivered(m, n, start)
	}
}

func matchAny(pattern string, topics []string) bool {
	for _, t := range topics {
		if topic.Match(pattern, t) {
			return true
		}
	}
	return false
}

// offer queues m to c unless c already has it or is not open yet, and
// reports 1 if queued. A stream that is not open has written nothing yet;
// what it misses before it opens, a resume replays.
func (s *Shard) offer(c *client, m *broker.Message) int {
	if c.lastQueued == m.ID || c.pending > 0 {
		return 0
	}
	c.lastQueued = m.ID
	c.lastWrite = s.tick
	if s.writeNow(c, m) {
		return 1
	}
	select {
	case c.queue <- m:
		s.wakeLater(c)
		return 1
	default:
		s.remove(c, ReasonSlow)
		return 0
	}
}

// wakeEvery bounds how many messages may queue up for a client during a
// backlog before its flusher is woken: well below the queue size, so
// deferring never evicts anyone.
const wakeEvery = 16

// wakeLater wakes c's flusher now, or, while more messages wait in the
// inbox, once the shard has dispatched them (wakeDeferred): under load a
// flusher then finds several messages to coalesce into one write, instead
// of being started for each.
func (s *Shard) wakeLater(c *client) {
	if !s.backlog {
		s.wake(c)
		return
	}
	if !c.deferred {
		c.deferred = true
		s.deferred = append(s.deferred, c)
	}
}

// wakeDeferred wakes the flushers wakeLater put off, or writes the one
// message a client has queued itself.
func (s *Shard) wakeDeferred() {
	for i, c := range s.deferred {
		c.deferred = false
		if !c.removed && !s.writeQueuedNow(c) {
			s.wake(c)
		}
		s.deferred[i] = nil
	}
	s.deferred = s.deferred[:0]
	s.sinceWake = 0
	s.submitSends()
}

// heartbeat visits the next bucket: it ends the streams whose credentials
// expired, and writes a comment to the clients that had nothing written
// for more than half an interval, except those it moves half an interval
// ahead.
//
// A client visited once per interval that got a heartbeat at every visit
// would get one it does not need whenever it had an event since the last
// (a stream with an event a second got one every 15 s: 6% of the writes
// of a 100k-stream broadcast). Skipping the heartbeat without moving the
// client could leave it silent for up to two intervals, past proxies'
// idle timeouts set just above the interval. So a client written to in
// the last half interval moves to the bucket visited half an interval
// later, before its interval is up, and gets none now; one written to
// longer ago gets its heartbeat now, early, as it would be late by the
// next visit. A stream with an event at least every half interval thus
// gets no heartbeats, an idle one one per interval, and the heartbeats of
// streams that had an event together (a broadcast) are spread over half
// an interval instead of coming all at once an interval later.
func (s *Shard) heartbeat(now time.Time) {
	s.tick++
	s.backlog = len(s.inbox) > 0
	for c := range s.buckets[s.tick%heartbeatBuckets] {
		if !c.expires.IsZero() && now.After(c.expires) {
			s.remove(c, ReasonTokenExpired)
			continue
		}
		if c.pending > 0 {
			continue // its head is not written yet
		}
		if s.tick-c.lastWrite <= heartbeatBuckets/2 {
			s.moveBucket(c, (c.bucket+heartbeatBuckets/2)%heartbeatBuckets)
			continue
		}
		c.lastWrite = s.tick
		if s.writeNow(c, heartbeat) {
			continue
		}
		select {
		case c.queue <- heartbeat:
			s.wake(c)
		default:
			s.remove(c, ReasonSlow)
		}
	}
	s.submitSends()
}

// moveBucket moves c to bucket b of the heartbeat buckets.
func (s *Shard) moveBucket(c *client, b int) {
	delete(s.buckets[c.bucket], c)
	c.bucket = b
	s.buckets[b][c] = struct{}{}
}

// removeAll removes every client.
func (s *Shard) removeAll(reason Reason) {
	for _, b := range s.buckets {
		for c := range b {
			s.remove(c, reason)
		}
	}
}

// shutdown removes every client, waits for their flushers and closes the
// broker subscription.
func (s *Shard) shutdown() {
	s.removeAll(ReasonShutdown)
	s.flushers.Wait()
	s.sub.Close()
	s.closeRing()
}
