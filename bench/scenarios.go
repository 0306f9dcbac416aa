package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/bench/report"
)

// BroadcastTopic is the topic every stream follows in the broadcast
// phases.
const BroadcastTopic = "bench/all"

// scenario is one named load pattern.
type scenario struct {
	about  string
	layout Layout
	// layoutFor, if not nil, makes the layout from the run's Config
	// instead.
	layoutFor func(Config) Layout
	run       func(r *runner, ctx context.Context) error
	// stall says whether some streams are stall candidates.
	stall bool
	// fleet says whether it needs several hubs on Redis.
	fleet bool
}

// scenarios are the runnable scenarios, by name.
var scenarios = map[string]scenario{
	"idle": {
		about:  "streams connect and sit idle: hub memory per stream",
		layout: Layout{Kind: LayoutShared, Topic: BroadcastTopic},
		run:    (*runner).idlePhase,
	},
	"broadcast": {
		about:  "one topic, every stream (default 1 event/s)",
		layout: Layout{Kind: LayoutShared, Topic: BroadcastTopic},
		run: func(r *runner, ctx context.Context) error {
			return r.publishPhase(ctx, "broadcast", r.rate(1), r.cfg.Duration, constTopic(BroadcastTopic), r.cfg.Targets.P99)
		},
	},
	"targeted": {
		about: "each stream its own user/<i> topic; events to random users (default 1,000/s), after an idle phase " +
			"(-settle) that measures the hubs' CPU with no event (longer than --heartbeat, 15s, to count heartbeats)",
		layout: Layout{Kind: LayoutUser},
		run: func(r *runner, ctx context.Context) error {
			if err := r.idlePhase(ctx); err != nil {
				return err
			}
			return r.publishPhase(ctx, "targeted", r.rate(1000), r.cfg.Duration, randomUser(r.cfg.Streams), r.cfg.Targets.P99)
		},
	},
	"pattern": {
		about:  "stream i follows feed/<i%10>/*; events to random feed/<g>/<k> (default 10/s)",
		layout: Layout{Kind: LayoutPattern, Topic: "feed", Groups: patternGroups},
		run: func(r *runner, ctx context.Context) error {
			next := func() string {
				return "feed/" + strconv.Itoa(rand.IntN(patternGroups)) + "/" + strconv.Itoa(rand.IntN(patternTopics))
			}
			return r.publishPhase(ctx, "pattern", r.rate(10), r.cfg.Duration, next, r.cfg.Targets.P99)
		},
	},
	"flood": floodScenario,
	"ramp": {
		about:  "streams connect at -connect-rate; connect rate and errors over time",
		layout: Layout{Kind: LayoutShared, Topic: BroadcastTopic},
		run:    func(*runner, context.Context) error { return nil }, // the connect phase is the ramp
	},
	"slow-consumers": {
		about:  "a broadcast baseline, then the same with a share of streams not reading: the others' p99 and the evictions",
		layout: Layout{Kind: LayoutShared, Topic: BroadcastTopic},
		run:    (*runner).slowConsumers,
		stall:  true,
	},
	"resume-storm": {
		about:  "broadcast while one hub is killed (-9): its streams resume on the others with Last-Event-ID",
		layout: Layout{Kind: LayoutShared, Topic: BroadcastTopic},
		run:    (*runner).resumeStorm,
		fleet:  true,
	},
	"rolling": {
		about:  "broadcast while each hub in turn is stopped (SIGTERM) and started again",
		layout: Layout{Kind: LayoutShared, Topic: BroadcastTopic},
		run:    (*runner).rolling,
		fleet:  true,
	},
	"fleet": {
		about:  "the fleet targets in one run: idle, broadcast 1/s, targeted through Redis, slow consumers, resume storm",
		layout: Layout{Kind: LayoutUserShared, Topic: BroadcastTopic},
		run:    (*runner).fleetTargets,
		stall:  true,
		fleet:  true,
	},
}

// floodScenario is the flood scenario, also run side by side with the
// reference server (FloodCompareScenario).
var floodScenario = scenario{
	about: "an unpaced flood: -publishers (default 16) each send one event per request as soon as the last returned " +
		"(refused ones again after Retry-After), to topics every stream follows: accepted publishes/s, refused publishes, " +
		"deliveries/s, loss among accepted events, evicted streams, publish latency",
	layoutFor: func(cfg Config) Layout {
		return Layout{Kind: LayoutEvery, Topics: LaneTopics(floodTopic, cfg.Publishers)}
	},
	run: (*runner).flood,
}

// floodTopic is where the flood publishes: each publisher to its own
// topic below it (LaneTopics), which every stream follows. One topic per
// publisher keeps each topic's events in order (a publisher has one
// request in flight), so a stream can check it got every event of each;
// exact topics rather than a pattern, so that the net/http reference
// server, which has no patterns, can be flooded the same way.
const floodTopic = "flood"

// flood publishes as fast as cfg.Publishers publishers with one request
// in flight each, one event per request, are answered, for the phase's
// duration. Every event the hub accepted must reach every stream, and no
// stream may be evicted for it: a hub that cannot keep up is to slow its
// publishers down, not to drop its subscribers. It does so by holding a
// publish back for at most its --publish-wait and then refusing it (the
// publisher sends it again after Retry-After), so no publish may take
// much longer than that.
func (r *runner) flood(ctx context.Context) error {
	// Only ssehub documents a bound, and only a hub started here has
	// known flags.
	var publishBound time.Duration
	if r.cfg.Server == ServerSSEHub && r.cfg.Remote == nil {
		wait, err := hubPublishWait(r.cfg.HubArgs, r.cfg.HubEnv)
		if err != nil {
			return err
		}
		// The margin is the request's own time around the wait: on two
		// cores shared with the streams' readers, a request can queue
		// for hundreds of milliseconds.
		publishBound = wait + time.Second
	}
	r.lanes, r.batch = r.cfg.Publishers, 1
	defer func() { r.lanes, r.batch = 0, 0 }()
	topics := r.layout.Topics
	i := 0
	next := func() string {
		i++
		return topics[i%len(topics)]
	}
	p, err := r.publishing(ctx, "flood", 0, r.cfg.Duration, next, 0, nil)
	if p != nil {
		r.check(p.Name, "streams evicted or dropped (reconnects)", "0", strconv.FormatInt(p.Reconnects, 10), p.Reconnects == 0)
		if publishBound > 0 {
			l := p.PublishLatency
			r.check(p.Name, "publish p99, refused included", "<= "+publishBound.String()+" (publish wait + 1s)",
				report.FormatDuration(l.P99), l.Count > 0 && l.P99 <= publishBound)
		}
	}
	return err
}

// defaultPublishWait is ssehub's --publish-wait when none is given
// (cmd/ssehub's DefaultConfig).
const defaultPublishWait = 2 * time.Second

// hubPublishWait returns the --publish-wait of hubs started with args
// and env added: the last one in args, one dash or two, "=value" or the
// next argument, as Go's flag package reads them; else
// SSEHUB_PUBLISH_WAIT in env; else ssehub's default.
func hubPublishWait(args, env []string) (time.Duration, error) {
	value, found := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SSEHUB_PUBLISH_WAIT="); ok {
			value, found = v, true
		}
	}
	for i := 0; i < len(args); i++ {
		name, v, hasValue := strings.Cut(args[i], "=")
		if name != "-publish-wait" && name != "--publish-wait" {
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++
			v, hasValue = args[i], true
		}
		if hasValue {
			value, found = v, true
		}
	}
	if !found {
		return defaultPublishWait, nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("bench: hub --publish-wait %q: %w", value, err)
	}
	return d, nil
}

// Pattern scenario shape: streams are split over patternGroups patterns,
// each covering patternTopics topics.
const (
	patternGroups = 10
	patternTopics = 4
)

// ScenarioNames returns the scenario names, sorted, the side-by-side ones
// (compare, flood-compare) included.
func ScenarioNames() []string {
	names := slices.Collect(maps.Keys(scenarios))
	names = slices.AppendSeq(names, maps.Keys(pairedScenarios))
	slices.Sort(names)
	return names
}

// ScenarioAbout describes a scenario in one line.
func ScenarioAbout(name string) string {
	if ps, ok := pairedScenarios[name]; ok {
		return ps.about
	}
	return scenarios[name].about
}

// NeedsFleet reports whether a scenario needs several hubs on Redis.
func NeedsFleet(name string) bool { return scenarios[name].fleet }

// Run runs the named scenario and returns its report. An error means the
// run could not be carried out (a process would not start, a worker
// died); missed targets are failed checks in the report (report.Run.OK).
// The report is returned even with an error, as far as it got.
func Run(ctx context.Context, name string, cfg Config) (*report.Run, error) {
	if ps, ok := pairedScenarios[name]; ok {
		return runPaired(ctx, cfg, ps)
	}
	sc, ok := scenarios[name]
	if !ok {
		return nil, fmt.Errorf("bench: unknown scenario %q", name)
	}
	cfg = cfg.withDefaults()
	if sc.fleet && cfg.Remote == nil && (cfg.Hubs < 2 || !cfg.Redis) {
		return nil, fmt.Errorf("bench: scenario %s needs at least 2 hubs on Redis", name)
	}
	title := fmt.Sprintf("%s, %d streams", name, cfg.Streams)
	if cfg.Remote == nil {
		title += fmt.Sprintf(", %d %s process(es)", cfg.Hubs, cfg.Server)
		if cfg.Redis {
			title += " on Redis"
		}
	}
	return runScenario(ctx, cfg, sc, title)
}

// runScenario starts the fleet, connects every stream, runs the
// scenario's phases and stops everything again, also when ctx ends.
func runScenario(ctx context.Context, cfg Config, sc scenario, title string) (*report.Run, error) {
	if !sc.stall {
		cfg.SlowFraction = -1
	}
	layout := sc.layout
	if sc.layoutFor != nil {
		layout = sc.layoutFor(cfg)
	}
	r, err := newRunner(ctx, cfg, layout, title)
	sctx, stopSampling := context.WithCancel(ctx)
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		r.sampleLoop(sctx)
	}()
	if err == nil {
		err = r.connect(ctx)
	}
	if err == nil {
		err = sc.run(r, ctx)
	}
	stopSampling()
	<-sampling
	err = errors.Join(err, r.sampleErr, r.close())
	if cfg.Progress != nil {
		cfg.Progress.Done()
	}
	return &r.run, err
}

// connect runs the connect phase: workers start and every stream connects.
func (r *runner) connect(ctx context.Context) error {
	r.beginPhase("connect")
	start := time.Now()
	if err := r.startWorkers(); err != nil {
		return err
	}
	timeout := time.Minute + time.Duration(r.cfg.Streams)*time.Millisecond
	all := r.awaitConnected(ctx, timeout)
	elapsed := time.Since(start)
	p := r.endPhase(nil, nil)
	p.ConnectRate = float64(p.Connected) / elapsed.Seconds()
	value := fmt.Sprintf("%d of %d", p.Connected, r.cfg.Streams)
	if r.last.firstError != "" {
		value += " (e.g. " + r.last.firstError + ")"
	}
	r.check("connect", "streams connected", strconv.Itoa(r.cfg.Streams), value, all)
	if !all {
		return fmt.Errorf("bench: %s connected within %s", value, timeout)
	}
	return ctx.Err()
}

// rate is the configured publish rate, or def.
func (r *runner) rate(def float64) float64 {
	if r.cfg.Rate > 0 {
		return r.cfg.Rate
	}
	return def
}

func constTopic(t string) func() string { return func() string { return t } }

// idlePhase lets the streams sit for Settle and measures the hubs' memory
// per stream, and their CPU with no event, which the phases after it
// leave out of their CPU per delivery above idle.
func (r *runner) idlePhase(ctx context.Context) error {
	r.beginPhase("idle")
	if !sleepCtx(ctx, r.cfg.Settle) {
		return ctx.Err()
	}
	p := r.endPhase(nil, nil)
	if r.cfg.Remote != nil || p.Connected == 0 {
		return nil
	}
	r.idleHubCores = hubCores(p)
	p.HubIdleCores = r.idleHubCores
	p.HubRSSPerStream = (r.hubRSS() - r.baseline) / int64(p.Connected)
	if t := r.cfg.Targets.RSSPerStream; t > 0 {
		r.check(p.Name, "hub RSS per idle stream", "<= "+report.FormatBytes(t), report.FormatBytes(p.HubRSSPerStream), p.HubRSSPerStream <= t)
	}
	return nil
}

// hubCores returns the cores the hubs kept busy over p, summed.
func hubCores(p *report.Phase) float64 {
	var cpu time.Duration
	for _, pr := range p.Procs {
		if pr.Role == "hub" {
			cpu += pr.CPU
		}
	}
	if p.End <= p.Start {
		return 0
	}
	return cpu.Seconds() / (p.End - p.Start).Seconds()
}

// publishPhase publishes rate events per second for d, with topics from
// next, then checks every stream got exactly what was published.
func (r *runner) publishPhase(ctx context.Context, name string, rate float64, d time.Duration, next func() string, p99 time.Duration) error {
	_, err := r.publishing(ctx, name, rate, d, next, p99, nil)
	return err
}

// publishing runs one publishing phase; during, if not nil, runs while
// the publisher publishes (and may cancel it early by returning).
func (r *runner) publishing(ctx context.Context, name string, rate float64, d time.Duration, next func() string, p99 time.Duration,
	during func(ctx context.Context) error) (*report.Phase, error) {
	r.beginPhase(name)
	pub := r.publisher()
	if r.avoidHub0 && len(pub.Targets) > 1 {
		// Hub 0 is about to be killed: a publish in flight there might
		// or might not have happened, which is the publisher's problem,
		// not the subscribers' this phase measures.
		pub.Targets = pub.Targets[1:]
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var duringErr error
	done := make(chan struct{})
	if during != nil {
		go func() {
			defer close(done)
			if duringErr = during(pctx); duringErr != nil {
				stop() // errStopPublishing, or a failure: either ends the phase
			}
		}()
	} else {
		close(done)
	}
	pub.Run(pctx, rate, d, next)
	stop()
	<-done
	pubEnd := r.sample()
	if n := pub.Unsent(); n > 0 {
		fmt.Fprintf(r.cfg.Log, "%s: %d events were not accepted yet when the phase ended (queued, or refused and waiting): never published, they do not count as lost\n", name, n)
	}
	check, err := r.checkAll(pub.Final(), r.cfg.CheckWait)
	p := r.endPhase(pub, &pubEnd)
	p.Lost, p.Duplicated, p.Reordered = check.Lost, check.Duplicated, check.Reordered
	r.checkDelivery(p, p99)
	if e := pub.FirstError(); e != "" {
		fmt.Fprintf(r.cfg.Log, "%s: publish error: %s\n", name, e)
	}
	return p, errors.Join(err, duringErr, ctx.Err())
}

// slowConsumers runs a broadcast baseline, then the same broadcast with
// the stall candidates not reading, and checks the others did not notice
// and the stuck ones were evicted.
func (r *runner) slowConsumers(ctx context.Context) error {
	_, err := r.slowConsumerPhases(ctx, r.rate(1), r.cfg.Duration)
	return err
}

// slowConsumerPhases is slow-consumers' two phases at rate for d each.
//
// A stuck stream is noticed once the kernel buffers between it and the
// server are full: ssehub's 64 KiB send buffer (--send-buffer) plus the
// stuck client's 8 KiB receive buffer. Use -pad to make events big enough
// to fill them within the phase (4 KiB at 1/s: about 20s).
func (r *runner) slowConsumerPhases(ctx context.Context, rate float64, d time.Duration) (*report.Phase, error) {
	next := constTopic(BroadcastTopic)
	base, err := r.publishing(ctx, "baseline", rate, d, next, 0, nil)
	if err != nil {
		return nil, err
	}
	baseP99 := base.Latency.P99
	for _, w := range r.workers {
		if err := w.Stall(); err != nil {
			return nil, err
		}
	}
	slow, err := r.publishing(ctx, "slow-consumers", rate, d, next, 0, nil)
	if err != nil {
		return slow, err
	}
	// Polled, like checkAll, so that samples go on meanwhile.
	var stalled, evicted int
	for deadline := time.Now().Add(r.cfg.CheckWait); ; {
		stalled, evicted = 0, 0
		for _, w := range r.workers {
			e, err := w.Evictions(0)
			if err != nil {
				return slow, err
			}
			stalled += e.Stalled
			evicted += e.Evicted
		}
		if evicted == stalled || time.Now().After(deadline) || !sleepCtx(ctx, 250*time.Millisecond) {
			break
		}
	}
	slow.Evicted = int64(evicted)
	ratio := r.cfg.Targets.SlowP99Ratio
	if ratio == 0 {
		ratio = 2
	}
	got := float64(slow.Latency.P99) / float64(max(baseP99, time.Microsecond))
	r.check(slow.Name, "p99 with stuck streams / baseline p99", fmt.Sprintf("<= %.1fx", ratio),
		fmt.Sprintf("%.2fx (%s / %s)", got, report.FormatDuration(slow.Latency.P99), report.FormatDuration(baseP99)), got <= ratio)
	r.check(slow.Name, "stuck streams evicted", strconv.Itoa(stalled), strconv.Itoa(evicted), stalled > 0 && evicted == stalled)
	return slow, nil
}

// resumeStorm broadcasts while hub 0 is killed a third of the way in.
func (r *runner) resumeStorm(ctx context.Context) error {
	return r.stormPhase(ctx, r.rate(1), r.cfg.Duration)
}

// stormRate is the fleet scenario's broadcast rate during the storm:
// -storm-rate, or one event every 2 seconds.
func (r *runner) stormRate() float64 {
	if r.cfg.StormRate > 0 {
		return r.cfg.StormRate
	}
	return 0.5
}

func (r *runner) stormPhase(ctx context.Context, rate float64, d time.Duration) error {
	var killedStreams int
	r.avoidHub0 = true
	p, err := r.publishing(ctx, "resume-storm", rate, d, constTopic(BroadcastTopic), 0, func(ctx context.Context) error {
		if !sleepCtx(ctx, d/3) {
			return nil
		}
		r.mu.Lock()
		h := r.hubs[0]
		r.hubs[0] = nil
		r.mu.Unlock()
		if sockets, err := h.Sockets(); err == nil {
			killedStreams = sockets
		}
		fmt.Fprintf(r.cfg.Log, "killing hub 0 (pid %d, about %d sockets)\n", h.PID, killedStreams)
		h.Kill()
		return nil
	})
	if p == nil {
		return err
	}
	target := r.cfg.Targets.CatchUp
	if target == 0 {
		target = 10 * time.Second
	}
	r.check(p.Name, "streams of the killed hub that resumed", fmt.Sprintf("about %d", killedStreams),
		fmt.Sprintf("%d reconnects, %d caught up", p.Reconnects, p.CatchUp.Count), p.Reconnects > 0 && p.CatchUp.Count == p.Reconnects)
	r.check(p.Name, "slowest stream caught up after the kill", "<= "+target.String(),
		report.FormatDuration(p.CatchUp.Max), p.CatchUp.Count > 0 && p.CatchUp.Max <= target)
	r.check(p.Name, "ssehub.reset events", "0", strconv.FormatInt(p.Resets, 10), p.Resets == 0)
	return err
}

// rolling broadcasts while each hub in turn is stopped with SIGTERM and
// started again on its port.
func (r *runner) rolling(ctx context.Context) error {
	const pause = 5 * time.Second // between one hub ready and the next stopped
	p, err := r.publishing(ctx, "rolling", r.rate(1), 24*time.Hour, constTopic(BroadcastTopic), 0, func(ctx context.Context) error {
		if !sleepCtx(ctx, pause) {
			return nil
		}
		for i := range r.hubs {
			r.mu.Lock()
			h := r.hubs[i]
			r.hubs[i] = nil
			r.mu.Unlock()
			fmt.Fprintf(r.cfg.Log, "restarting hub %d (pid %d)\n", i, h.PID)
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := h.Stop(sctx)
			cancel()
			if err != nil {
				fmt.Fprintf(r.cfg.Log, "hub %d: %v\n", i, err)
			}
			nh, err := r.startHub(ctx, i)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.hubs[i] = nh
			r.mu.Unlock()
			if !sleepCtx(ctx, pause) {
				return nil
			}
		}
		return errStopPublishing
	})
	if errors.Is(err, errStopPublishing) {
		err = nil
	}
	if p != nil {
		r.check(p.Name, "ssehub.reset events", "0", strconv.FormatInt(p.Resets, 10), p.Resets == 0)
	}
	return err
}

// errStopPublishing ends a publishing phase from its during function.
var errStopPublishing = errors.New("stop publishing")

// fleetTargets runs the fleet-scale targets of
// docs/protocol.md#performance-targets on one fleet:
// idle memory, broadcast 1/s, targeted through Redis, slow consumers and
// a resume storm, in that order.
func (r *runner) fleetTargets(ctx context.Context) error {
	if err := r.idlePhase(ctx); err != nil {
		return err
	}
	d := r.cfg.Duration
	// Padding (-pad) is for the slow consumers only: it makes stuck
	// streams fill up within the phase.
	r.pad = 0
	// The target of docs/protocol.md#performance-targets on 2 cores:
	// the CPU floor of one broadcast to 100,000 streams is about 0.68 s.
	if err := r.publishPhase(ctx, "broadcast", 1, d, constTopic(BroadcastTopic), time.Second); err != nil {
		return err
	}
	if err := r.publishPhase(ctx, "targeted", r.rate(5000), d, randomUser(r.cfg.Streams), 50*time.Millisecond); err != nil {
		return err
	}
	r.pad = r.cfg.Pad
	if _, err := r.slowConsumerPhases(ctx, 1, d); err != nil {
		return err
	}
	r.pad = 0
	// The storm broadcasts every other second: at 100k streams on two
	// cores, 1/s is more than the machine delivers (see BENCHMARKS.md),
	// and a backlog would be measured instead of the resume.
	return r.stormPhase(ctx, r.stormRate(), d)
}
