// Package hub routes SSE connections to shards and owns their lifecycle.
//
// A Hub runs a fixed number of shards (actors, see package shard) on one
// broker. Each connection is hashed to one shard by its user id or, for
// anonymous streams, its connection id, so one user's streams share a shard.
package hub

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/shard"
)

// ErrClosed is returned once Shutdown has begun.
var ErrClosed = errors.New("hub: closed")

// ErrDraining is returned by Stream and Ready once Drain has begun.
var ErrDraining = errors.New("hub: draining")

// ErrBrokerDown is returned by Stream while the broker reports that it
// cannot take new subscriptions (broker.OutageReporter): the stream would
// only wait for them and time out.
var ErrBrokerDown = errors.New("hub: broker unavailable")

// Publication is an event to publish; see broker.Publication.
type Publication = broker.Publication

// Idempotency makes a publish safe to repeat; see broker.Idempotency.
type Idempotency = broker.Idempotency

// Selection is what a stream follows; see broker.Selection.
type Selection = broker.Selection

// Config tunes a Hub. Zero fields take the documented defaults.
type Config struct {
	// Shards is the number of shard goroutines. Zero means
	// DefaultShards(): twice GOMAXPROCS, so that one shard busy with a
	// large fan-out leaves another to run on each core.
	Shards int
	// Shard configures every shard. Its OnCongestion is the hub's: the
	// hub sets it.
	Shard shard.Config
	// PublishWait bounds how long a publish waits while the hub is
	// congested (a shard's streams fell behind, see shard's "Overload")
	// before it is refused with ErrOverloaded. Zero means
	// DefaultPublishWait; negative refuses at once.
	PublishWait time.Duration
	// Logger receives the hub's rare log lines (refusing publishes and
	// stopping). Nil means slog.Default().
	Logger *slog.Logger
	// Presence turns presence on: the shards count who follows each topic
	// and the broker, which must be a broker.PresenceStore, keeps the
	// counts of the whole fleet (Hub.Presence). False counts nothing: the
	// connect path stays as it is without presence.
	Presence bool
	// PresenceTTL is how long this hub's presence outlives it if it dies
	// without shutting down. Zero means broker.DefaultPresenceTTL.
	PresenceTTL time.Duration
	// PresenceEvents, with Presence, says which exact topics get join and
	// leave events on their companion topic (broker.PresenceConfig.Events);
	// nil means none.
	PresenceEvents func(topic string) bool
}

// ErrNoPresence is returned by New when Config.Presence asks for presence
// and the broker keeps none.
var ErrNoPresence = errors.New("hub: the broker keeps no presence")

// DefaultShards is the shard count used when Config.Shards is zero.
func DefaultShards() int { return 2 * runtime.GOMAXPROCS(0) }

// Hub routes streams to shards and publishes through the broker.
type Hub struct {
	broker broker.Broker
	shards []*shard.Shard
	gate   *gate

	loops sync.WaitGroup // the shard loops; each waits for its flushers

	// mu orders Stream against Drain and Shutdown: a stream is either
	// joined before they begin (Stream holds the read lock while it joins)
	// or refused.
	mu       sync.RWMutex
	closed   bool
	draining bool

	nextConn atomic.Uint64

	// presence and tracker are nil while presence is off. The shards
	// update tracker; Shutdown closes it once they have stopped.
	presence     broker.PresenceStore
	tracker      broker.PresenceTracker
	closeTracker sync.Once
}

// New starts a hub on b. The hub does not own b: close it after Shutdown.
func New(cfg Config, b broker.Broker) (*Hub, error) {
	n := cfg.Shards
	if n <= 0 {
		n = DefaultShards()
	}
	if cfg.PublishWait == 0 {
		cfg.PublishWait = DefaultPublishWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Hub{broker: b, gate: newGate(cfg.PublishWait, cfg.Logger)}
	cfg.Shard.OnCongestion = h.gate.set
	if fleet, ok := b.(broker.CongestionSharer); ok {
		h.gate.share = fleet.ShareCongestion(h.gate.setOthers)
	}
	if cfg.Presence {
		store, ok := b.(broker.PresenceStore)
		if !ok {
			return nil, ErrNoPresence
		}
		h.presence = store
		h.tracker = store.TrackPresence(broker.PresenceConfig{TTL: cfg.PresenceTTL, Events: cfg.PresenceEvents})
	}
	for i := range n {
		sc := cfg.Shard
		sc.Presence, sc.PresenceShard = h.tracker, i
		if h.tracker == nil {
			sc.Presence = nil // not a typed nil: the shard tests for nil
		}
		s, err := shard.New(sc, b)
		if err != nil {
			// A shard releases its broker subscriber and ring as its loop
			// ends, which is why each runs as soon as it is made: stopping
			// them and waiting releases everything made so far.
			h.stopShards()
			h.loops.Wait()
			h.stopTracker()
			return nil, err
		}
		h.shards = append(h.shards, s)
		h.loops.Go(s.Run)
	}
	return h, nil
}

// Publish publishes pubs in order and returns their ids. While the hub is
// congested it first waits, at most Config.PublishWait, and then returns
// ErrOverloaded having published nothing: an event the hub accepts is one
// its shards have room for. With an idem key, a repeat returns the first
// ids and publishes nothing again (broker.Idempotency).
func (h *Hub) Publish(ctx context.Context, pubs []Publication, idem Idempotency) ([]eventid.ID, error) {
	if h.isClosed() {
		return nil, ErrClosed
	}
	if err := h.gate.admit(ctx); err != nil {
		return nil, err
	}
	return h.broker.Publish(ctx, pubs, idem)
}

// PublishStats returns the counters of the publish gate. Safe to call
// from any goroutine.
func (h *Hub) PublishStats() PublishStats { return h.gate.stats() }

// StreamRequest describes one stream for Hub.Stream.
type StreamRequest struct {
	shard.Stream
	// UserID routes the stream, so one user's streams share a shard; empty
	// means anonymous.
	UserID string
}

// Stream hands conn to a shard, which streams to it and closes it when the
// stream ends. It returns at once; an error (ErrDraining, ErrClosed,
// ErrBrokerDown) means the hub is draining, shutting down or without its
// broker, and conn is still the caller's.
func (h *Hub) Stream(conn shard.Conn, req StreamRequest) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	switch {
	case h.closed:
		return ErrClosed
	case h.draining:
		return ErrDraining
	}
	if o, ok := h.broker.(broker.OutageReporter); ok && o.Down() {
		return ErrBrokerDown
	}
	st := req.Stream
	st.User = req.UserID
	err := h.route(req.UserID).Join(conn, st)
	if errors.Is(err, shard.ErrStopped) {
		return ErrClosed
	}
	return err
}

// route picks the shard for a stream.
func (h *Hub) route(userID string) *shard.Shard {
	var sum uint64
	if userID != "" {
		sum = xxhash.Sum64String(userID)
	} else {
		var b [20]byte
		sum = xxhash.Sum64(strconv.AppendUint(b[:0], h.nextConn.Add(1), 10))
	}
	return h.shards[sum%uint64(len(h.shards))]
}

// Ready reports whether the hub can serve: not draining or shutting down,
// and the broker reachable.
func (h *Hub) Ready(ctx context.Context) error {
	h.mu.RLock()
	closed, draining := h.closed, h.draining
	h.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case draining:
		return ErrDraining
	}
	return h.broker.Ping(ctx)
}

// Stats returns the counters of every shard, in shard order.
func (h *Hub) Stats() []shard.Stats {
	st := make([]shard.Stats, len(h.shards))
	for i, s := range h.shards {
		st[i] = s.Stats()
	}
	return st
}

// Shutdown ends every stream and stops every shard, and returns when all of
// their goroutines are gone, or with ctx's error if that comes first. It may
// be called again, from any goroutine, to wait again.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.stopShards()
	done := make(chan struct{})
	go func() {
		h.loops.Wait()
		h.stopTracker() // the shards are gone: nothing updates it any more
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Presence returns the broker's presence, for queries; nil while
// presence is off (Config.Presence).
func (h *Hub) Presence() broker.PresenceStore { return h.presence }

// PresenceStats returns the counters of this hub's presence tracker; zero
// while presence is off or for a tracker that keeps none.
func (h *Hub) PresenceStats() broker.PresenceStats {
	if r, ok := h.tracker.(broker.PresenceReporter); ok {
		return r.PresenceStats()
	}
	return broker.PresenceStats{}
}

// stopTracker closes the presence tracker, once, after the shards have
// stopped.
func (h *Hub) stopTracker() {
	if h.tracker != nil {
		h.closeTracker.Do(h.tracker.Close)
	}
}

func (h *Hub) stopShards() {
	for _, s := range h.shards {
		s.Stop()
	}
}

func (h *Hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}
