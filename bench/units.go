package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// This file is "ssehub-bench units": what each unit of a fleet's work
// costs Redis, the one process every hub shares, for a capacity model
// (docs/capacity.md). Each figure is Redis's CPU time over a run of
// identical operations divided by their count, on a private redis-server
// that nothing else uses. units_report.go prints them.

// UnitsConfig configures RunUnits. Zero fields take the documented
// defaults.
type UnitsConfig struct {
	// Duration is how long each measurement runs, after a warm-up of a
	// quarter of it. Zero means 3s.
	Duration time.Duration
	// Rounds is how many parts Duration is measured in: each per-unit
	// figure is the median of the rounds', so that a burst of other work
	// on the machine during one round does not move it. Zero means 3.
	Rounds int
	// Payload is the bytes of each event's data, and of each message of
	// the fan-out and pattern measurements (where it stands for a whole
	// envelope: id, topics, event name and data). Zero means 200.
	Payload int
	// Publishers is how many publish at once in the concurrent case of
	// single-event publishing. Zero means 4.
	Publishers int
	// Batch is the events per Publish call of batched publishing. Zero
	// means 100.
	Batch int
	// Pipelines are how many PUBLISH commands the fan-out measurements
	// send per round trip; they run once with each. Nil means 1, 16. One
	// is the costly end: Redis writes each message to each subscriber
	// with a write of its own. Under load it has several messages for a
	// subscriber by the time it writes, as it does with 16 here, and
	// its cost per message falls. The pattern measurements send one at
	// a time.
	Pipelines []int
	// Conns are the numbers of subscribed connections of the fan-out
	// measurements. Nil means 10, 100, 1000.
	Conns []int
	// Patterns are the numbers of pattern subscriptions of the pattern
	// measurements. Nil means 0, 10, 100, 1000.
	Patterns []int
	// Missed are the numbers of events each replay returns in the resume
	// measurements. Nil means 10, 1000.
	Missed []int
	// Log receives a line per measurement; nil discards them.
	Log io.Writer
}

// withDefaults fills in the zero fields.
func (c UnitsConfig) withDefaults() UnitsConfig {
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
	}
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	if c.Payload <= 0 {
		c.Payload = 200
	}
	if c.Publishers <= 0 {
		c.Publishers = 4
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Pipelines == nil {
		c.Pipelines = []int{1, 16}
	}
	if c.Conns == nil {
		c.Conns = []int{10, 100, 1000}
	}
	if c.Patterns == nil {
		c.Patterns = []int{0, 10, 100, 1000}
	}
	if c.Missed == nil {
		c.Missed = []int{10, 1000}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// check reports a configuration RunUnits cannot measure with.
func (c UnitsConfig) check() error {
	for _, l := range []struct {
		name string
		ns   []int
		min  int
	}{{"Pipelines", c.Pipelines, 1}, {"Conns", c.Conns, 1}, {"Patterns", c.Patterns, 0}, {"Missed", c.Missed, 1}} {
		for _, n := range l.ns {
			if n < l.min {
				return fmt.Errorf("bench: units config %s=%v: each must be at least %d", l.name, l.ns, l.min)
			}
		}
	}
	return nil
}

// RunUnits starts a private redis-server, measures on it what each unit of
// work costs Redis (and, for publishing and resuming, this process, whose
// work there is the hub's), and stops it. The measurements:
//
//   - publish: events through the Redis broker's Publish, its Lua script
//     and all: one event per call, from one publisher and from
//     UnitsConfig.Publishers at once, and UnitsConfig.Batch per call; with 1
//     and 10 topics per event, history on (the default retention) and off.
//     Distinct topics cycle over distinctTopics "user/<i>" topics, as
//     targeted events do; shared ones are the same for every event.
//   - fanout: one PUBLISH reaching K plain pub/sub connections, the
//     stand-ins for hub shards (broadcast), and reaching one of K
//     connections that each subscribe a channel of their own (targeted).
//   - patterns: one PUBLISH while P patterns are subscribed that do not
//     match its channel, and P that all do.
//   - replay: a resume through the broker's Replay that misses N events.
//
// Slopes fitted over those (UnitsReport.Slopes) give the cost per
// connection, per pattern and per missed event.
func RunUnits(ctx context.Context, cfg UnitsConfig) (rep *UnitsReport, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err // each fan-out connection is a file, here and in Redis
	}
	srv, err := StartRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	opt := &redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, PoolSize: max(cfg.Publishers, unitsReplayers) + 2}
	client := redis.NewClient(opt)
	defer func() { err = errors.Join(err, client.Close()) }()
	u := &unitsRun{cfg: cfg, redis: srv, client: client, payload: strings.Repeat("x", cfg.Payload)}

	rep = &UnitsReport{Started: time.Now(), Duration: cfg.Duration, Rounds: cfg.Rounds, PayloadBytes: cfg.Payload}
	info, err := client.Info(ctx, "server").Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO server: %w", err)
	}
	rep.RedisVersion = redisVersion(info)
	if rep.IdleRedisCPU, err = u.idle(ctx); err != nil {
		return nil, err
	}
	steps := u.steps()
	for i, step := range steps {
		row, err := step(ctx)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Log, "units %d/%d: %s %s %s: %s Redis CPU per %s\n", i+1, len(steps),
			row.Section, row.Case, row.Depends, fmtNanos(row.RedisCPUPerUnit), row.Unit)
		rep.Rows = append(rep.Rows, row)
	}
	rep.Slopes = fitSlopes(rep.Rows)
	return rep, nil
}

// unitsRun is one run of RunUnits.
type unitsRun struct {
	cfg     UnitsConfig
	redis   *RedisProcess
	client  *redis.Client
	payload string // UnitsConfig.Payload bytes
}

// unitsReplayers is how many resume at once in the replay measurements,
// each from a topic of its own: identical resumes would share one read
// (the broker coalesces them), and each would count as several.
const unitsReplayers = 4

// distinctTopics is how many "user/<i>" topics the distinct-topic
// publish cases cycle over: so many that within a measurement each
// topic's history holds a few dozen events at most, far below the
// default retention, as a user's does. So the distinct rows never trim
// history; the shared ones do, every tenth of the retention.
const distinctTopics = 10000

// unitsStep is one measurement, making one row of the report.
type unitsStep func(ctx context.Context) (UnitCost, error)

// steps lists the measurements in the order they run and are reported.
func (u *unitsRun) steps() []unitsStep {
	var steps []unitsStep
	type shape struct {
		name              string
		publishers, batch int
		shared            bool
	}
	shapes := []shape{
		{"single", 1, 1, false},
		{"concurrent", u.cfg.Publishers, 1, false},
		{"batched", 1, u.cfg.Batch, false},
		{"batched", 1, u.cfg.Batch, true},
	}
	for _, s := range shapes {
		for _, topics := range []int{1, 10} {
			for _, history := range []bool{true, false} {
				pc := publishCase{name: s.name, publishers: s.publishers, batch: s.batch, topics: topics, shared: s.shared, history: history}
				steps = append(steps, func(ctx context.Context) (UnitCost, error) { return u.publish(ctx, pc) })
			}
		}
	}
	for _, depth := range u.cfg.Pipelines {
		for _, targeted := range []bool{false, true} {
			for _, k := range u.cfg.Conns {
				steps = append(steps, func(ctx context.Context) (UnitCost, error) { return u.fanout(ctx, k, targeted, depth) })
			}
		}
	}
	for _, matching := range []bool{false, true} {
		for _, p := range u.cfg.Patterns {
			if p == 0 && matching {
				continue // the same as without: no pattern at all
			}
			steps = append(steps, func(ctx context.Context) (UnitCost, error) { return u.patterns(ctx, p, matching) })
		}
	}
	for _, n := range u.cfg.Missed {
		steps = append(steps, func(ctx context.Context) (UnitCost, error) { return u.replay(ctx, n) })
	}
	return steps
}

// unitsSample is a reading of the counters a measurement is the
// difference of.
type unitsSample struct {
	redis redisCounters
	self  time.Duration // this process's CPU time
}

func (u *unitsRun) sample(ctx context.Context) (unitsSample, error) {
	info, err := u.client.Info(ctx, "cpu", "stats").Result()
	if err != nil {
		return unitsSample{}, fmt.Errorf("redis INFO cpu stats: %w", err)
	}
	var s unitsSample
	if s.redis, err = parseRedisInfo(info); err != nil {
		return unitsSample{}, err
	}
	s.self, err = selfCPU()
	return s, err
}

// unitsWork does a measurement's operations until the deadline and
// returns how many units of work it did. It returns only once Redis has
// done all their work: a fan-out's subscribers have received everything.
type unitsWork func(ctx context.Context, until time.Time) (int64, error)

// measure runs work for a quarter of UnitsConfig.Duration as a warm-up,
// then for Duration in UnitsConfig.Rounds rounds, each between two readings
// of the counters, and returns the row with the figures filled in.
func (u *unitsRun) measure(ctx context.Context, row UnitCost, work unitsWork) (UnitCost, error) {
	what := row.Section + " " + row.Case + " " + row.Depends
	if _, err := work(ctx, time.Now().Add(u.cfg.Duration/4)); err != nil {
		return row, fmt.Errorf("%s: warm-up: %w", what, err)
	}
	rounds := make([]UnitCost, u.cfg.Rounds)
	for i := range rounds {
		before, err := u.sample(ctx)
		if err != nil {
			return row, err
		}
		start := time.Now()
		n, err := work(ctx, start.Add(u.cfg.Duration/time.Duration(u.cfg.Rounds)))
		elapsed := time.Since(start)
		if err != nil {
			return row, fmt.Errorf("%s: %w", what, err)
		}
		after, err := u.sample(ctx)
		if err != nil {
			return row, err
		}
		if n == 0 {
			return row, fmt.Errorf("%s: no %s done in round %d", what, row.Unit, i+1)
		}
		r := row
		r.Count, r.Elapsed = n, elapsed
		r.RedisCPU = after.redis.CPU - before.redis.CPU
		r.RedisOutput = after.redis.NetOutput - before.redis.NetOutput
		r.ClientCPU = after.self - before.self
		r.finish()
		rounds[i] = r
	}
	return combineRounds(rounds), nil
}

// idle returns Redis's CPU time per second while nothing is asked of it:
// its housekeeping (serverCron), which every figure includes.
func (u *unitsRun) idle(ctx context.Context) (time.Duration, error) {
	before, err := u.sample(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(u.cfg.Duration):
	}
	after, err := u.sample(ctx)
	if err != nil {
		return 0, err
	}
	return time.Duration(float64(after.redis.CPU-before.redis.CPU) / time.Since(start).Seconds()), nil
}

// flush empties Redis between measurements, so that none pays for the
// keys of another (their memory, their expiry).
func (u *unitsRun) flush(ctx context.Context) error {
	if err := u.client.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("redis FLUSHALL: %w", err)
	}
	return nil
}

// newBroker returns a Redis broker on the run's client keeping historySize
// events per topic (as redisbroker.Config.HistorySize: 0 the default,
// negative none). Its logs are discarded: it would only advise on
// maxmemory, of a Redis that lives for one run.
func (u *unitsRun) newBroker(ctx context.Context, historySize int) (*redisbroker.Broker, error) {
	return redisbroker.New(ctx, redisbroker.Config{Client: u.client, HistorySize: historySize,
		Logger: slog.New(slog.DiscardHandler)})
}

// publishCase is one publish measurement.
type publishCase struct {
	name              string // single, concurrent or batched
	publishers, batch int    // publishing goroutines, events per Publish call
	topics            int    // topics per event
	shared            bool   // the same topics for every event, else distinct ones
	history           bool   // the default retention, else none
}

func (u *unitsRun) publish(ctx context.Context, pc publishCase) (UnitCost, error) {
	set, history := "distinct", "on"
	if pc.shared {
		set = "shared"
	}
	if !pc.history {
		history = "off"
	}
	row := UnitCost{Section: "publish", Case: pc.name, Unit: "event", hubWork: true, Vars: []UnitVar{
		{"publishers", strconv.Itoa(pc.publishers)}, {"batch", strconv.Itoa(pc.batch)},
		{"topics", strconv.Itoa(pc.topics)}, {"topic-set", set}, {"history", history}}}
	row.Depends = fmt.Sprintf("publishers=%d batch=%d topics=%d %s history=%s", pc.publishers, pc.batch, pc.topics, set, history)
	if err := u.flush(ctx); err != nil {
		return row, err
	}
	size := 0
	if !pc.history {
		size = -1 // redisbroker.Config: negative keeps none
	}
	b, err := u.newBroker(ctx, size)
	if err != nil {
		return row, err
	}
	defer b.Close()
	topicsOf := eventTopics(pc.topics, pc.shared)
	data := []byte(u.payload)
	var seq atomic.Int64 // events made, over every publisher
	return u.measure(ctx, row, func(ctx context.Context, until time.Time) (int64, error) {
		var wg sync.WaitGroup
		counts := make([]int64, pc.publishers)
		errs := make([]error, pc.publishers)
		for p := range pc.publishers {
			wg.Go(func() {
				pubs := make([]broker.Publication, pc.batch)
				for time.Now().Before(until) {
					first := seq.Add(int64(pc.batch)) - int64(pc.batch)
					for i := range pubs {
						pubs[i] = broker.Publication{Topics: topicsOf(first + int64(i)), Data: data}
					}
					if _, err := b.Publish(ctx, pubs, broker.Idempotency{}); err != nil {
						errs[p] = err
						return
					}
					counts[p] += int64(len(pubs))
				}
			})
		}
		wg.Wait()
		var n int64
		for _, c := range counts {
			n += c
		}
		return n, errors.Join(errs...)
	})
}

// eventTopics returns the topics of the nth event: n topics of
// "user/<i>", the next ones for each event, cycling over distinctTopics,
// or, shared, "news/0" to "news/<n-1>" for every event. The slices share
// one array, which Publish only reads, so that making them costs the
// publishers nothing.
func eventTopics(n int, shared bool) func(seq int64) []string {
	if shared {
		names := make([]string, n)
		for i := range names {
			names[i] = "news/" + strconv.Itoa(i)
		}
		return func(int64) []string { return names }
	}
	// The first n names again at the end, so that every window of n
	// names is one slice.
	ring := make([]string, distinctTopics+n)
	for i := range ring {
		ring[i] = "user/" + strconv.Itoa(i%distinctTopics)
	}
	return func(seq int64) []string {
		i := int(seq * int64(n) % distinctTopics)
		return ring[i : i+n]
	}
}

// fanout measures PUBLISH reaching k subscribed connections (broadcast:
// all on one channel), or one of them (targeted: each on a channel of its
// own; the PUBLISHes go to each in turn), depth PUBLISHes per round trip.
func (u *unitsRun) fanout(ctx context.Context, k int, targeted bool, depth int) (UnitCost, error) {
	row := UnitCost{Section: "fanout", Case: "broadcast", Unit: "PUBLISH", Receivers: k,
		Vars:    []UnitVar{{"pipeline", strconv.Itoa(depth)}, {"conns", strconv.Itoa(k)}},
		Depends: fmt.Sprintf("pipeline=%d conns=%d", depth, k)}
	if !targeted {
		const channel = "bench:c:news/0"
		subs, err := dialSubscribers(ctx, u.redis.Addr, k, func(int) []string { return []string{"SUBSCRIBE", channel} })
		if err != nil {
			return row, err
		}
		defer subs.Close()
		frame := int64(len(messageFrame(channel, u.payload)))
		return u.measure(ctx, row, u.publishLoop(subs, []string{channel}, depth,
			func(_ int, sent int64) int64 { return sent * frame }, frame*int64(k)))
	}
	row.Case, row.Receivers = "targeted", 1
	channels := make([]string, k)
	frames := make([]int64, k) // the names, and so the frames, differ in length
	for i := range channels {
		channels[i] = "bench:c:user/" + strconv.Itoa(i)
		frames[i] = int64(len(messageFrame(channels[i], u.payload)))
	}
	subs, err := dialSubscribers(ctx, u.redis.Addr, k, func(i int) []string { return []string{"SUBSCRIBE", channels[i]} })
	if err != nil {
		return row, err
	}
	defer subs.Close()
	// Connection i gets the PUBLISHes i, i+k, i+2k ...
	return u.measure(ctx, row, u.publishLoop(subs, channels, depth, func(i int, sent int64) int64 {
		n := sent / int64(k)
		if int64(i) < sent%int64(k) {
			n++
		}
		return n * frames[i]
	}, frames[0]))
}

// patterns measures PUBLISH while one connection holds p pattern
// subscriptions: none of which match its channel, or, matching, all of
// which do, so that it receives p messages for each. The patterns have
// the shape of a hub's ("<prefix>:c:feed/*"): "bench:c:feed/[0<i>]" fails
// at "feed", as a hub's pattern for another feed does; "bench:c:news/[0<i>]"
// matches "bench:c:news/0", with the work of matching all of it.
func (u *unitsRun) patterns(ctx context.Context, p int, matching bool) (UnitCost, error) {
	row := UnitCost{Section: "patterns", Case: "non-matching", Unit: "PUBLISH",
		Vars: []UnitVar{{"patterns", strconv.Itoa(p)}}, Depends: "patterns=" + strconv.Itoa(p)}
	const channel = "bench:c:news/0"
	stem := "bench:c:feed/"
	if matching {
		row.Case, row.Receivers, stem = "matching", p, "bench:c:news/"
	}
	cmd := []string{"PSUBSCRIBE"}
	var frames int64 // bytes of the p messages one PUBLISH sends, matching
	for i := range p {
		pat := stem + "[0" + strconv.Itoa(i) + "]"
		cmd = append(cmd, pat)
		frames += int64(len(pmessageFrame(pat, channel, u.payload)))
	}
	if !matching {
		frames = 0
	}
	conns := 1
	if p == 0 {
		conns = 0 // nothing to subscribe
	}
	subs, err := dialSubscribers(ctx, u.redis.Addr, conns, func(int) []string { return cmd })
	if err != nil {
		return row, err
	}
	defer subs.Close()
	return u.measure(ctx, row, u.publishLoop(subs, []string{channel}, 1,
		func(_ int, sent int64) int64 { return sent * frames }, frames))
}

// maxSubscriberLag is how far, in bytes, a fan-out publisher may run
// ahead of any subscriber. Redis closes a pub/sub connection that falls
// 32 MiB behind (client-output-buffer-limit pubsub), and a measurement
// with a lost subscriber would be wrong.
const maxSubscriberLag = 1 << 20

// publishLoop returns the work of the fan-out and pattern measurements:
// PUBLISH of the payload to each of channels in turn, depth per round
// trip, until the deadline; then it waits until every subscriber
// has received what Redis sends it, want(connection, PUBLISHes sent) in
// bytes. perPublish is about the bytes one PUBLISH sends over all of
// them; it paces the checks that no subscriber falls far behind.
func (u *unitsRun) publishLoop(subs *rawSubscribers, channels []string, depth int,
	want func(conn int, sent int64) int64, perPublish int64) unitsWork {
	var sent int64 // over the warm-up and the measurement, as the subscribers count
	return func(ctx context.Context, until time.Time) (int64, error) {
		start, lag := sent, int64(0)
		for time.Now().Before(until) {
			_, err := u.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := range depth {
					p.Publish(ctx, channels[(sent+int64(i))%int64(len(channels))], u.payload)
				}
				return nil
			})
			if err != nil {
				return sent - start, fmt.Errorf("PUBLISH: %w", err)
			}
			sent += int64(depth)
			if lag += perPublish * int64(depth); lag >= maxSubscriberLag {
				lag = 0
				s := sent
				if err := subs.waitReceived(ctx, func(i int) int64 { return want(i, s) - maxSubscriberLag }); err != nil {
					return sent - start, err
				}
			}
		}
		wctx, cancel := context.WithTimeout(ctx, drainTimeout)
		defer cancel()
		return sent - start, subs.waitReceived(wctx, func(i int) int64 { return want(i, sent) })
	}
}

// drainTimeout bounds the wait at the end of a fan-out measurement for
// subscribers to receive what was published.
const drainTimeout = 30 * time.Second

// replay measures resumes that each miss n events: unitsReplayers at once,
// each replaying its own topic again and again through the broker's
// Replay, reading every page as a shard does.
func (u *unitsRun) replay(ctx context.Context, n int) (UnitCost, error) {
	row := UnitCost{Section: "replay", Case: "resume", Unit: "replayed event", hubWork: true,
		Vars: []UnitVar{{"missed", strconv.Itoa(n)}}, Depends: "missed=" + strconv.Itoa(n)}
	if err := u.flush(ctx); err != nil {
		return row, err
	}
	// History keeps at least the n events.
	b, err := u.newBroker(ctx, max(n, transport.DefaultHistorySize))
	if err != nil {
		return row, err
	}
	defer b.Close()
	topics := make([]string, unitsReplayers)
	for i := range topics {
		topics[i] = "replay/" + strconv.Itoa(i)
	}
	// The resume point is an event of its own: history's first event
	// cannot be one, as a resume from before it is one from before the
	// history began, which gets a reset.
	ids, err := b.Publish(ctx, []broker.Publication{{Topics: topics, Data: []byte(u.payload)}}, broker.Idempotency{})
	if err != nil {
		return row, fmt.Errorf("replay: publish: %w", err)
	}
	from := ids[0].String()
	for left := n; left > 0; {
		pubs := make([]broker.Publication, min(left, 100))
		for i := range pubs {
			pubs[i] = broker.Publication{Topics: topics, Data: []byte(u.payload)}
		}
		if _, err := b.Publish(ctx, pubs, broker.Idempotency{}); err != nil {
			return row, fmt.Errorf("replay: publish: %w", err)
		}
		left -= len(pubs)
	}
	return u.measure(ctx, row, func(ctx context.Context, until time.Time) (int64, error) {
		var wg sync.WaitGroup
		counts := make([]int64, len(topics))
		errs := make([]error, len(topics))
		for r, t := range topics {
			wg.Go(func() {
				for time.Now().Before(until) {
					got, err := replayAll(ctx, b, t, from)
					if err == nil && got != n {
						err = fmt.Errorf("replay topic=%q from %s: %d events, want %d", t, from, got, n)
					}
					if err != nil {
						errs[r] = err
						return
					}
					counts[r] += int64(got)
				}
			})
		}
		wg.Wait()
		var total int64
		for _, c := range counts {
			total += c
		}
		return total, errors.Join(errs...)
	})
}

// replayAll resumes topic after lastEventID and reads every page of the
// replay, returning how many events it held.
func replayAll(ctx context.Context, b *redisbroker.Broker, topic, lastEventID string) (int, error) {
	r, err := b.Replay(ctx, broker.Selection{Topics: []string{topic}}, lastEventID)
	if err != nil {
		return 0, err
	}
	if r.Reset != nil {
		return 0, fmt.Errorf("replay topic=%q from %s: reset %q", topic, lastEventID, r.Reset.Frame)
	}
	n := len(r.Messages)
	for next := r.Next; next != nil; {
		page, err := next(ctx)
		if err != nil || len(page) == 0 {
			return n, err
		}
		n += len(page)
	}
	return n, nil
}
