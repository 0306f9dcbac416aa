package shard

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/shard/uring"
)

// Config tunes a shard. Zero fields take the documented defaults.
type Config struct {
	// QueueSize is how many messages a client may have waiting to be
	// written. A client whose queue is full while few of the shard's
	// clients are behind is evicted (ReasonSlow) and catches up through
	// resume; otherwise the shard pauses (see "Overload" in the package
	// doc). Zero means 64; values below 2 become 2.
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
	// ReplayTimeout bounds reading one page of history for a resume
	// (broker.Replay). Zero means 10s.
	ReplayTimeout time.Duration
	// StallTimeout is how long a shard paused by overload (see the package
	// doc, "Overload") waits for clients that take nothing from their
	// queue before it evicts them as slow. Zero means 1s.
	StallTimeout time.Duration
	// OnCongestion, if not nil, is called with true when the shard becomes
	// congested (it stopped taking messages from the broker, or its mailbox
	// is filling) and with false when it is relieved. The hub's publish
	// gate counts on it. It runs on the shard loop: it must be quick and
	// must not block.
	OnCongestion func(congested bool)
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
	// Presence, if not nil, is told each tick how many streams of each
	// user follow each topic and pattern, for the counts that changed
	// (see presence.go). Nil tracks nothing and costs nothing.
	Presence broker.PresenceTracker
	// PresenceShard is the shard's number, as Presence knows it.
	PresenceShard int
	// PresenceFlush is how often the counts that changed go to Presence.
	// Zero means DefaultPresenceFlush.
	PresenceFlush time.Duration
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
	if c.StallTimeout <= 0 {
		c.StallTimeout = time.Second
	}
	if c.SubscribeTimeout <= 0 {
		c.SubscribeTimeout = 10 * time.Second
	}
	if c.PresenceFlush <= 0 {
		c.PresenceFlush = DefaultPresenceFlush
	}
	return c
}

// leave is a flusher's word to the shard loop that its client's stream
// ended, and why; the loop removes the client.
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
	Mailbox       int    // broker messages waiting for the shard loop
	MailboxSize   int    // the mailbox's capacity: the broker waits when it is full
	Replays       uint64 // resumes answered from history
	Replayed      uint64 // messages those replays wrote
	Resets        uint64 // resumes answered with an ssehub.reset event
	Behind        int    // clients whose queue was at least half full at the last count
	Paused        bool   // the shard takes no messages from the broker until clients catch up
	Congested     bool   // the shard asks the hub to hold publishes back
	Pauses        uint64 // times the shard paused
	PausedFor     time.Duration
	IOUring       bool // the loop's writes go through io_uring
	// PresenceFlushes counts the batches of presence counts handed to
	// the tracker; PresenceDeferred the ticks whose batch it refused
	// (queue full), which the next tick offers again.
	PresenceFlushes, PresenceDeferred uint64
}

// Shard is one actor. Create it with New, run it with Run, end it with Stop.
type Shard struct {
	cfg    Config
	broker broker.Broker

	inbox      chan *broker.Message // from the broker, in id order
	subscribed chan subscribed      // from the broker: pending subscriptions now active
	lost       chan struct{}        // from the broker: messages may be lost
	drained    chan struct{}        // from flushers, while paused: a queue was emptied
	joins      chan *client
	leaves     chan leave
	retires    chan retire   // from a draining hub
	done       chan struct{} // closed by Stop
	stop       sync.Once     // Stop closes done once, whoever calls it

	ctx    context.Context // cancelled by Stop; bounds replays
	cancel context.CancelFunc

	// flushers counts running flush goroutines. Only the Run goroutine
	// adds to it (wake, wrote), and it waits for it in shutdown.
	flushers sync.WaitGroup

	// Owned by the Run goroutine.
	sub        broker.Subscriber
	exact      map[string]*subscription
	patterns   map[string]*subscription
	waiting    map[*client]struct{}                   // joined, some subscription not yet active
	buckets    [heartbeatBuckets]map[*client]struct{} // visited at tick % heartbeatBuckets
	expiring   expiryHeap                             // the clients with an expiry, soonest first
	nextBucket int
	tick       int // heartbeat ticks so far
	lastID     eventid.ID
	// cursor, on a partitioned broker, is the newest position the loop
	// has handled in each partition (docs/fleet-design.md#cursors): the
	// id of the frames it writes. Nil on other brokers, where lastID is.
	cursor eventid.Cursor
	// dispatches counts dispatched messages; a client's lastQueued is the
	// one it was last offered.
	dispatches uint64
	deferred   []*client   // queued to during a backlog, not yet woken
	sinceWake  int         // messages dispatched since wakeDeferred
	ring       batchSender // batches writeNow's sends; nil: write(2) each
	sends      []ringSend  // the sends queued in ring, indexed by tag
	ringFailed bool        // ring is to be closed once no send is queued
	peers      peerWatch   // notices peers that left (peerwatch.go)
	// presenceDirty marks the presence counts changed since the last
	// flush; nil while presence is off (presence.go).
	presenceDirty map[presenceKey]struct{}
	// Mercure streams' indexes (mercure.go): exact mapped topics,
	// carriers (and mercuremap.RouteTopic), the matcher sets, the "*"
	// streams and the interned grant sets.
	mexact   map[string]*subscription
	carriers map[string]*subscription
	matchers matcherIndex
	grants   map[string]*grantSet
	// selections interns the Mercure streams' selections by Key.
	selections map[string]*selection
	// profiles interns what Mercure streams hold (profile).
	profiles map[profileKey]*profile
	// partitioned: the broker has several partitions, where Mercure
	// streams are refused for now. Set by New, read by Join.
	partitioned bool

	// Overload control, owned by the Run goroutine; see intake.go.
	highWater int // highWater(cfg.QueueSize), read once per queued message
	intake    intake
	behind    []*client   // clients whose queue reached highWater, until a prune
	overflown []*client   // clients holding an overflow message
	pausedAt  time.Time   // when the intake last paused
	stall     *time.Timer // fires stalled while paused
	congested bool        // as last told to cfg.OnCongestion

	// Written by New and by the Run goroutine, read by Stats.
	usesRing atomic.Bool

	// Written by the Run goroutine, read by flushers (paused) and Stats.
	paused, congestedNow atomic.Bool
	behindCount          atomic.Int64
	pauses               atomic.Uint64
	pausedFor            atomic.Int64 // nanoseconds, of pauses that ended

	// Written by the Run goroutine, read by Stats.
	clients, subscriptions           atomic.Int64
	messages, deliveries, duplicates atomic.Uint64
	ended                            [numReasons]atomic.Uint64

	// Written by the flushers, read by Stats.
	replays, replayed, resets atomic.Uint64

	// Written by the Run goroutine, read by Stats.
	presenceFlushes, presenceDeferred atomic.Uint64
}

// New creates a shard subscribed to b. Call Run to start it.
//
// The shard holds a broker subscriber, and maybe an io_uring ring, which
// it releases as Run returns: a shard that New returned must be run, even
// one stopped before it ran, whose Run then just releases them.
func New(cfg Config, b broker.Broker) (*Shard, error) {
	cfg = cfg.WithDefaults()
	s := &Shard{
		cfg:        cfg,
		broker:     b,
		inbox:      make(chan *broker.Message, cfg.MailboxSize),
		subscribed: make(chan subscribed, 256),
		lost:       make(chan struct{}, 1),
		drained:    make(chan struct{}, 1),
		// Unbuffered, so a join is either taken by the loop or refused
		// by Stop, never stranded in a buffer after the loop has exited.
		joins:      make(chan *client),
		leaves:     make(chan leave, 256),
		retires:    make(chan retire),
		done:       make(chan struct{}),
		exact:      make(map[string]*subscription),
		patterns:   make(map[string]*subscription),
		waiting:    make(map[*client]struct{}),
		mexact:     make(map[string]*subscription),
		carriers:   make(map[string]*subscription),
		grants:     make(map[string]*grantSet),
		selections: make(map[string]*selection),
		profiles:   make(map[profileKey]*profile),
	}
	for i := range s.buckets {
		s.buckets[i] = make(map[*client]struct{})
	}
	if cfg.Presence != nil {
		s.presenceDirty = make(map[presenceKey]struct{})
	}
	if p, ok := b.(broker.Partitioned); ok && p.Partitions() > 1 {
		s.cursor = make(eventid.Cursor, p.Partitions())
		s.partitioned = true
	}
	s.highWater = highWater(cfg.QueueSize)
	s.stall = time.NewTimer(time.Hour)
	s.stall.Stop()
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

// Deliver implements broker.Sink. It blocks while the mailbox is full: for
// as long as the shard's intake is paused, at most until its streams catch
// up or the stuck ones are evicted (see "Overload" in the package doc). It
// drops once the shard stops.
func (s *Shard) Deliver(m *broker.Message) {
	select {
	case s.inbox <- m:
	case <-s.done:
	}
}

// Subscribed implements broker.Sink. On a partitioned broker it goes
// through the inbox, after the head (Observed) the broker reported before
// it: a stream opened ahead of the head would write frames whose cursor is
// stale in the partition it just subscribed to.
func (s *Shard) Subscribed(name string, pattern bool) {
	if s.cursor != nil {
		as := activateExact
		if pattern {
			as = activatePattern
		}
		s.Deliver(&broker.Message{Topics: []string{name}, Partition: as})
		return
	}
	select {
	case s.subscribed <- subscribed{name, pattern}:
	case <-s.done:
	}
}

// Inbox entries that are not messages, on a partitioned broker: a
// subscription now in force (Subscribed), as a message with no frame, the
// name as its one topic, and one of these as its partition.
const (
	activateExact   = -1
	activatePattern = -2
)

// Observed implements broker.Sink. The head goes through the inbox, after
// the messages delivered before it, as a message without a frame.
func (s *Shard) Observed(partition int, head eventid.ID) {
	s.Deliver(&broker.Message{ID: head, Partition: partition})
}

// Lost implements broker.Sink: it ends every stream, so each resumes.
func (s *Shard) Lost() {
	select {
	case s.lost <- struct{}{}:
	case <-s.done:
	}
}

// Stop asks Run to end every stream and return. It does not wait. It may
// be called more than once, from any goroutine, and before Run.
func (s *Shard) Stop() {
	s.stop.Do(func() {
		close(s.done)
		s.cancel()
	})
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
		Behind:        int(s.behindCount.Load()),
		Paused:        s.paused.Load(),
		Congested:     s.congestedNow.Load(),
		Pauses:        s.pauses.Load(),
		PausedFor:     time.Duration(s.pausedFor.Load()),
		IOUring:       s.usesRing.Load(),

		PresenceFlushes:  s.presenceFlushes.Load(),
		PresenceDeferred: s.presenceDeferred.Load(),
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
	defer s.stall.Stop()
	// Nil where there is no peer watch: that case never fires.
	var peerTick <-chan time.Time
	if peerWatching {
		t := time.NewTicker(peerCheckEvery)
		defer t.Stop()
		peerTick = t.C
	}
	// Nil with presence off, like peerTick.
	var presenceTick <-chan time.Time
	if s.cfg.Presence != nil {
		t := time.NewTicker(s.cfg.PresenceFlush)
		defer t.Stop()
		presenceTick = t.C
	}
	for {
		inbox := s.inbox
		if s.intake == intakePaused {
			inbox = nil // the broker waits; see intake
		}
		select {
		case m := <-inbox:
			s.dispatch(m)
			if s.sinceWake++; len(s.inbox) == 0 || s.sinceWake >= wakeEvery {
				s.wakeDeferred()
			}
			s.regulate()
		case <-s.drained:
			s.resumeIfCaughtUp()
		case <-s.stall.C:
			s.stalled()
		case sub := <-s.subscribed:
			s.activate(sub)
		case <-s.lost:
			s.removeAll(ReasonBrokerGap)
			s.resumeIfCaughtUp()
		case c := <-s.joins:
			s.join(c)
		case l := <-s.leaves:
			s.remove(l.c, l.reason)
			s.resumeIfCaughtUp()
		case r := <-s.retires:
			s.retire(r)
		case now := <-ticker.C:
			s.expire(now, s.cfg.Heartbeat/heartbeatBuckets)
			s.heartbeat()
			s.expireWaiting(now)
			s.prune() // so that Stats().Behind settles once the streams caught up
			s.resumeIfCaughtUp()
		case <-peerTick:
			s.checkPeers()
			s.resumeIfCaughtUp()
		case <-presenceTick:
			s.flushPresence()
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
	// User is the stream's user subject, counted by presence; empty for
	// an anonymous stream.
	User string
	// Expires ends the stream when it comes (the client reconnects with a
	// fresh token): never after it, at most Heartbeat/16 before; zero
	// means never.
	Expires time.Time
	// OnOpen, if not nil, is called once when the stream's subscriptions
	// are all active and its head is queued: from then on it misses no
	// event. It runs on the shard loop: it must be quick and must not block.
	OnOpen func()
	// OnEnd, if not nil, is called once with the reason when the stream
	// ends. It runs on the shard loop: it must be quick and must not block.
	OnEnd func(Reason)
	// Mercure makes this a stream of the Mercure front door
	// (docs/mercure-design.md): it takes Mercure updates only, never
	// native events, and native streams never take Mercure updates. Its
	// Selection.Topics are the mapped names of its exact selectors
	// (mercure.Selectors.Mapped), and it has no Selection.Patterns. Nil
	// for a native stream.
	Mercure *MercureStream
}

// ErrStopped is returned by Join once the shard has stopped.
var ErrStopped = errors.New("shard: stopped")

// Join starts a stream to conn: once the stream is subscribed, head (the
// HTTP response head and SSE preamble) is written, so a client that has
// seen it receives every event published afterwards; then, for a resume
// from lastEventID, what the client missed; then live events. The shard owns
// conn from now on and closes it when the stream ends.
func (s *Shard) Join(conn Conn, st Stream) error {
	if st.Mercure != nil {
		if err := s.checkMercure(st); err != nil {
			return err
		}
	}
	c := newClient(conn, st, s.cfg.QueueSize)
	select {
	case s.joins <- c:
		return nil
	case <-s.done:
		return ErrStopped
	}
}

// shutdown removes every client, waits for their flushers and closes the
// broker subscription.
func (s *Shard) shutdown() {
	s.removeAll(ReasonShutdown)
	s.relieve()
	s.flushers.Wait()
	s.sub.Close()
	s.closeRing()
	s.peers.close()
}
