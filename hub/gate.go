package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverloaded is returned by Publish when the hub stayed congested for
// the whole publish wait: nothing was published, and the publisher should
// retry later (see Config.PublishWait).
var ErrOverloaded = errors.New("hub: overloaded")

// DefaultPublishWait is how long a publish waits for a congested hub when
// Config.PublishWait is zero.
const DefaultPublishWait = 2 * time.Second

// refusalLogEvery rate-limits the log line a gate writes as it starts
// refusing.
const refusalLogEvery = 10 * time.Second

// gate holds publishes back while any shard is congested: their streams'
// queues are full enough that the shard stopped taking messages from the
// broker, or its mailbox is filling; and, on a broker several hubs share,
// while another hub's shard is. A publish waits at the gate for at most a
// bounded time and is refused if it does not open by then, so the hub
// never accepts more than the shards can deliver.
//
// Shards report from their loops (set), the broker from its own goroutine
// (setOthers); publishers wait from any goroutine. Changes are rare next to
// publishes, so they take a mutex and publishers only load an atomic while
// the gate is open.
type gate struct {
	wait time.Duration
	log  *slog.Logger

	// closedBy is the congested shards of this hub, plus one while another
	// hub is congested: the gate is open at 0.
	closedBy atomic.Int32

	mu     sync.Mutex
	opened chan struct{} // closed when closedBy drops to 0; replaced when it leaves 0
	local  int           // congested shards of this hub
	// share tells the fleet when local leaves or drops to 0; nil unless
	// the broker shares congestion.
	share func(congested bool)

	// Guarded by mu: the refusal episode (from the first refusal to the
	// gate's opening), for its log lines.
	refusing        bool
	loggedEpisode   bool   // its start was logged, so its end is too
	episodeRefusals uint64 // refused in it
	lastLog         time.Time

	// Read by Stats.
	refused atomic.Uint64
	waits   [len(WaitBuckets) + 1]atomic.Uint64 // per bucket; the last is +Inf
	waitNS  atomic.Int64                        // total time publishes waited
}

// WaitBuckets are the upper bounds of PublishStats.Waits, in seconds.
var WaitBuckets = [...]float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}

// PublishStats is a snapshot of the gate's counters.
type PublishStats struct {
	// Congested is how many shards of this hub are congested now, plus one
	// while another hub of the fleet is: publishes wait while it is above
	// zero.
	Congested int
	// Refused counts publishes refused with ErrOverloaded.
	Refused uint64
	// Waits counts the publishes that found the gate closed, by how long
	// they waited: Waits[i] up to WaitBuckets[i] (not cumulative), the
	// last longer than all of them.
	Waits [len(WaitBuckets) + 1]uint64
	// WaitTime is the total time they waited.
	WaitTime time.Duration
}

func (g *gate) stats() PublishStats {
	st := PublishStats{
		Congested: int(g.closedBy.Load()),
		Refused:   g.refused.Load(),
		WaitTime:  time.Duration(g.waitNS.Load()),
	}
	for i := range st.Waits {
		st.Waits[i] = g.waits[i].Load()
	}
	return st
}

func newGate(wait time.Duration, log *slog.Logger) *gate {
	g := &gate{wait: wait, log: log, opened: make(chan struct{})}
	close(g.opened)
	return g
}

// set records one shard becoming congested (true) or relieved (false). It
// runs on the shard's loop: it logs, if it must, after letting go of g.mu,
// so that a slow log sink delays no other shard.
func (g *gate) set(congested bool) {
	g.mu.Lock()
	if congested {
		g.local++
	} else {
		g.local--
	}
	if first, last := congested && g.local == 1, !congested && g.local == 0; g.share != nil && (first || last) {
		g.share(congested) // does not block
	}
	refused, ended := g.shift(congested)
	g.mu.Unlock()
	g.logEpisodeEnd(refused, ended)
}

// setOthers records another hub of the fleet becoming congested (true), or
// none being congested any more (false). The broker calls it on changes
// only.
func (g *gate) setOthers(congested bool) {
	g.mu.Lock()
	refused, ended := g.shift(congested)
	g.mu.Unlock()
	g.logEpisodeEnd(refused, ended)
}

// shift counts one more reason to keep the gate closed (closing) or one
// fewer, closing the gate as the count leaves 0 and opening it as it drops
// to 0. If that ends a refusal episode whose start was logged, it reports
// how many publishes it refused. g.mu is held.
func (g *gate) shift(closing bool) (refused uint64, episodeEnded bool) {
	delta := int32(-1)
	if closing {
		delta = 1
	}
	switch n := g.closedBy.Add(delta); {
	case closing && n == 1:
		g.opened = make(chan struct{})
	case !closing && n == 0:
		close(g.opened)
		refused, episodeEnded = g.episodeRefusals, g.refusing && g.loggedEpisode
		g.refusing, g.loggedEpisode, g.episodeRefusals = false, false, 0
	}
	return refused, episodeEnded
}

// logEpisodeEnd logs the end of a refusal episode whose start was logged.
func (g *gate) logEpisodeEnd(refused uint64, ended bool) {
	if ended {
		g.log.Warn("hub stopped refusing publishes", "refused", refused)
	}
}

// admit returns at once while the gate is open, else waits until it opens
// (nil), the publish wait runs out (ErrOverloaded) or ctx ends (its error).
func (g *gate) admit(ctx context.Context) error {
	if g.closedBy.Load() == 0 {
		return nil
	}
	start := time.Now()
	defer func() {
		d := time.Since(start)
		g.waitNS.Add(int64(d))
		i := 0
		for i < len(WaitBuckets) && d.Seconds() > WaitBuckets[i] {
			i++
		}
		g.waits[i].Add(1)
	}()
	g.mu.Lock()
	opened := g.opened
	g.mu.Unlock()
	t := time.NewTimer(max(g.wait, 0))
	defer t.Stop()
	select {
	case <-opened:
		return nil
	case <-t.C:
		g.refuse()
		return ErrOverloaded
	case <-ctx.Done():
		// The publisher's own deadline came first: still refused for
		// overload, and still nothing published.
		g.refuse()
		return fmt.Errorf("%w: %w", ErrOverloaded, ctx.Err())
	}
}

// refuse counts a refused publish and logs the start of a refusal
// episode, at most once per refusalLogEvery.
func (g *gate) refuse() {
	g.refused.Add(1)
	g.mu.Lock()
	g.episodeRefusals++
	start := !g.refusing && time.Since(g.lastLog) >= refusalLogEvery
	g.refusing = true
	if start {
		g.lastLog, g.loggedEpisode = time.Now(), true
	}
	local, others := g.local, int(g.closedBy.Load()) > g.local
	g.mu.Unlock()
	if start {
		g.log.Warn("hub overloaded: refusing publishes until the streams catch up",
			"congested_shards", local, "other_hubs_congested", others, "publish_wait", g.wait)
	}
}
