package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub/bench/report"
	"github.com/ssehub/ssehub/internal/redistest"
)

// Servers the bench can start locally.
const (
	ServerSSEHub  = "ssehub"
	ServerNetHTTP = "nethttp" // the reference server, bench/refserver
)

// Config describes a bench run: what to start (or reach), how many
// streams, and the load. Zero fields take the documented defaults.
type Config struct {
	// Streams is how many streams to hold. Zero means 1,000.
	Streams int
	// Workers is how many load-generator processes hold them; zero means
	// as few as MaxGeneratorStreams allows. Worker k connects from
	// 127.0.0.<2+k%8>.
	Workers int
	// Concurrency bounds each worker's streams connecting for the first
	// time at once (reconnects are not bounded); zero means
	// DefaultConcurrency. ConnectRate, if positive, paces the first
	// connects to that many per second in all.
	Concurrency int
	ConnectRate float64

	// Local fleet: Hubs server processes of Server on this machine (zero
	// means 1), sharing a private redis-server when Redis is set. Binary
	// is the ssehub executable (ServerSSEHub) or this bench's own
	// (ServerNetHTTP, run as "ref-server"); HubArgs are added to each
	// server's command line.
	Server  string
	Hubs    int
	Redis   bool
	Binary  string
	HubArgs []string
	// HubEnv is added to each server's environment, such as
	// "GOMAXPROCS=1" when many share few cores.
	HubEnv []string
	// WorkerProcs, if positive, is each worker's GOMAXPROCS.
	WorkerProcs int
	// HubLog, if not nil, receives the servers' logs.
	HubLog io.Writer

	// Remote, if not nil, is an existing deployment to measure instead:
	// nothing is started but the workers.
	Remote *Remote

	// Rate is events per second for the publishing phases (zero: each
	// scenario's default); Duration how long each publishing phase
	// lasts (zero: 60s); Pad the padding bytes in each event's data.
	Rate     float64
	Duration time.Duration
	// StormRate is the broadcast rate of the fleet scenario's resume
	// storm; zero means 0.5 events/s.
	StormRate float64
	Pad       int
	// Settle is how long streams sit idle before idle memory is read.
	// Zero means 10s.
	Settle time.Duration
	// SlowFraction is the share of streams that stop reading in the
	// slow-consumers scenario; zero means 5%.
	SlowFraction float64
	// Publishers is how many publishers the flood scenario runs, each
	// sending one event per request as soon as its last request
	// returned. Zero or less means 16.
	Publishers int
	// CheckWait bounds how long streams may take after a publishing
	// phase to receive its last events, before those missing count as
	// lost, and how long stuck streams may take to be found evicted.
	// Zero means 30s.
	CheckWait time.Duration
	// Targets are the bounds the run is checked against.
	Targets Targets

	// SampleInterval is the time series' resolution; zero means 1s.
	SampleInterval time.Duration
	// Progress, if not nil, shows a live progress line.
	Progress *report.Progress
	// Log receives notes on what the run is doing; nil discards them.
	Log io.Writer
	// Command is the command line, for the report.
	Command string
}

// Remote is a deployment the bench reaches without starting it.
type Remote struct {
	// Targets are host:port addresses streams connect to, round robin.
	Targets []string `json:"targets"`
	// Path is the subscribe request target with "{topic}"; empty is
	// ssehub's "/events?topic={topic}".
	Path string `json:"path,omitempty"`
	// Headers are added to every subscribe request.
	Headers []string `json:"headers,omitempty"`
	// Publish, if not nil, is how to publish to a server that is not
	// ssehub; nil publishes with ssehub's API to Targets.
	Publish *PublishTemplate `json:"publish,omitempty"`
	// PublishHeaders are added to ssehub publish requests.
	PublishHeaders []string `json:"publish_headers,omitempty"`
}

// Targets are the bounds a run is checked against; zero skips a check.
type Targets struct {
	P99            time.Duration // p99 end-to-end latency of the publishing phase
	RSSPerStream   int64         // hub RSS per idle stream, bytes
	CatchUp        time.Duration // resume-storm: slowest stream caught up
	SlowP99Ratio   float64       // slow-consumers: p99 over the baseline's
	CPUPerDelivery time.Duration // hub CPU per delivery
}

func (c Config) withDefaults() Config {
	setDefault(&c.Streams, 1000)
	setDefault(&c.Hubs, 1)
	setDefault(&c.Concurrency, DefaultConcurrency)
	setDefault(&c.Duration, 60*time.Second)
	setDefault(&c.Settle, 10*time.Second)
	setDefault(&c.SampleInterval, time.Second)
	setDefault(&c.CheckWait, 30*time.Second)
	if c.Publishers <= 0 {
		c.Publishers = 16
	}
	if c.SlowFraction == 0 {
		c.SlowFraction = 0.05
	}
	if c.Server == "" {
		c.Server = ServerSSEHub
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// setDefault sets *field to def unless it is positive: the rule that a
// zero (or meaningless negative) Config field takes its documented
// default.
func setDefault[T int | time.Duration](field *T, def T) {
	if *field <= 0 {
		*field = def
	}
}

// runner is one run in progress: the processes it started and what it
// has measured. Its methods are called by the scenario's goroutine; the
// sampler goroutine shares the fields under mu.
type runner struct {
	cfg    Config
	layout Layout

	redis   *RedisProcess
	hubs    []*HubProcess // hubs[i] is replaced when hub i restarts
	ports   []int         // hub i always listens on ports[i]
	workers []*WorkerProcess

	started  time.Time
	baseline int64 // the hubs' RSS before any stream connected

	seqs      *topicSeqs  // shared by every phase's publisher
	prevCheck WorkerCheck // the latest checkAll sums, owned by the scenario
	avoidHub0 bool        // publish through the other hubs: hub 0 is to be killed
	pad       int         // padding of the events published now
	// lanes and batch shape the publishers of the phases to come: requests
	// in flight at once, and events per request (zero: the defaults).
	lanes, batch int
	// idleHubCores is the latest idle phase's HubIdleCores, which the
	// phases after it leave out of HubCPUPerDeliveryAboveIdle; zero
	// before one.
	idleHubCores float64

	mu        sync.Mutex
	run       report.Run
	phase     *phaseState // nil between phases
	last      totals      // the latest sample's totals
	sampleErr error
}

// totals are the cumulative counters of every worker and process at one
// moment.
type totals struct {
	at            time.Time
	connected     int
	connectErrors int64
	delivered     int64
	reconnects    int64
	resets        int64
	procs         []report.Proc
	firstError    string
}

// phaseState is a phase being measured.
type phaseState struct {
	report.Phase
	startTotals totals
	latency     latencySum
	catchUp     latencySum
	peakRSS     map[string]int64
}

// newRunner starts the servers (unless remote) and the workers, which
// begin connecting at once.
func newRunner(ctx context.Context, cfg Config, layout Layout, title string) (*runner, error) {
	cfg = cfg.withDefaults()
	r := &runner{cfg: cfg, layout: layout, started: time.Now(), pad: cfg.Pad}
	r.run = report.Run{Title: title, Command: cfg.Command, Started: r.started, Host: hostInfo()}
	if err := r.startServers(ctx); err != nil {
		return r, err
	}
	return r, nil
}

// startWorkers starts the workers, which begin connecting at once.
func (r *runner) startWorkers() error {
	cfg := r.cfg
	targets, path, headers := r.targets(), "", []string(nil)
	if cfg.Remote != nil {
		path, headers = cfg.Remote.Path, cfg.Remote.Headers
	}
	first, count, err := splitStreams(cfg.Streams, cfg.Workers)
	if err != nil {
		return err
	}
	var stallEvery int
	if cfg.SlowFraction > 0 {
		stallEvery = max(int(1/cfg.SlowFraction+0.5), 1)
	}
	for k := range first {
		spec := WorkerSpec{
			ID: k, Source: sourceFor(k), Targets: targets, Path: path, Headers: headers,
			First: first[k], Count: count[k], Layout: r.layout,
			Concurrency: cfg.Concurrency, ConnectRate: cfg.ConnectRate / float64(len(first)),
			StallEvery: stallEvery, StallRecvBuffer: stallRecvBuffer,
		}
		w, err := StartWorker(spec, cfg.WorkerProcs)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.workers = append(r.workers, w)
		r.mu.Unlock()
	}
	fmt.Fprintf(cfg.Log, "%d workers started for %d streams\n", len(r.workers), cfg.Streams)
	return nil
}

// stallRecvBuffer is a stall candidate's receive buffer: small, so that a
// stuck stream fills up, and is noticed by the server, in seconds rather
// than minutes.
const stallRecvBuffer = 4 << 10

// startServers starts Redis and the hubs of a local fleet, and measures
// their memory before any stream connects.
func (r *runner) startServers(ctx context.Context) error {
	cfg := r.cfg
	if cfg.Remote != nil {
		return nil
	}
	if cfg.Redis {
		redis, err := StartRedis(ctx)
		if err != nil {
			return err
		}
		r.redis = redis
		fmt.Fprintf(cfg.Log, "redis-server pid %d on %s\n", redis.PID, redis.Addr)
	}
	for i := range cfg.Hubs {
		port, err := redistest.FreePort()
		if err != nil {
			return err
		}
		r.ports = append(r.ports, port)
		h, err := r.startHub(ctx, i)
		if err != nil {
			return err
		}
		r.hubs = append(r.hubs, h)
		fmt.Fprintf(cfg.Log, "%s %d pid %d on %s\n", cfg.Server, i, h.PID, h.Addr)
	}
	for _, h := range r.hubs {
		rss, err := h.RSS()
		if err != nil {
			return err
		}
		r.baseline += rss
	}
	return nil
}

// startHub starts hub i on its port.
func (r *runner) startHub(ctx context.Context, i int) (*HubProcess, error) {
	cfg := r.cfg
	listen := "127.0.0.1:" + strconv.Itoa(r.ports[i])
	opts := HubOptions{Binary: cfg.Binary, Log: cfg.HubLog, Env: cfg.HubEnv}
	switch cfg.Server {
	case ServerNetHTTP:
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opts.Binary, opts.Subcommand = self, []string{"ref-server"}
		opts.Args = []string{"--listen", listen}
	default:
		opts.Args = []string{"--listen", listen}
		if r.redis != nil {
			opts.Args = append(opts.Args, "--redis-url", r.redis.URL())
		}
		// Every stream of a run comes from a few loopback addresses:
		// the per-address limit is for the internet, not for the bench.
		// Likewise the publish rate per credential: the bench's
		// publisher is one credential publishing at the load asked for.
		opts.Args = append(opts.Args, "--max-streams-per-ip", "-1", "--publish-rate", "-1")
		opts.Args = append(opts.Args, cfg.HubArgs...)
	}
	return StartHub(ctx, opts)
}

// targets are the addresses streams and publishes go to.
func (r *runner) targets() []string {
	if r.cfg.Remote != nil {
		return r.cfg.Remote.Targets
	}
	addrs := make([]string, len(r.ports))
	for i, p := range r.ports {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return addrs
}

// publisher returns a publisher to the run's servers.
func (r *runner) publisher() *Publisher {
	if r.seqs == nil {
		r.seqs = newTopicSeqs()
	}
	// Sequence numbers go on across phases: streams check them from the
	// start of the run.
	p := &Publisher{Targets: r.targets(), Pad: r.pad, Lanes: r.lanes, Batch: r.batch, seqs: r.seqs}
	if rm := r.cfg.Remote; rm != nil {
		p.Template, p.Headers = rm.Publish, rm.PublishHeaders
	}
	return p
}

// close stops the workers, then the servers and Redis.
func (r *runner) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, w := range r.workers {
		wg.Go(func() {
			if err := w.Stop(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, h := range r.hubs {
		if h != nil {
			wg.Go(func() { _ = h.Stop(ctx) }) // streams are gone; its exit status is not the bench's concern
		}
	}
	wg.Wait()
	if r.redis != nil {
		r.redis.Stop()
	}
	return errors.Join(errs...)
}

// sampleLoop takes a sample every interval until ctx ends. It runs in its
// own goroutine for the whole run.
func (r *runner) sampleLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.sample()
		case <-ctx.Done():
			return
		}
	}
}

// sample takes one sample: it asks every worker for its counters and reads
// every process's RSS and CPU, appends a report.Sample and feeds the
// current phase.
func (r *runner) sample() totals {
	r.mu.Lock()
	defer r.mu.Unlock()
	var tot totals
	lat, catch := newLatencySum(), newLatencySum()
	for _, w := range r.workers {
		s, err := w.Sample()
		if err != nil {
			r.sampleErr = errors.Join(r.sampleErr, err)
			continue
		}
		tot.connected += s.Connected
		tot.connectErrors += s.ConnectErrors
		tot.delivered += s.Delivered
		tot.reconnects += s.Reconnects
		tot.resets += s.Resets
		if tot.firstError == "" {
			tot.firstError = s.FirstError
		}
		if err := errors.Join(lat.addEncoded(s.Latency), catch.addEncoded(s.CatchUp)); err != nil {
			r.sampleErr = errors.Join(r.sampleErr, err)
		}
	}
	// The sample's time is read after the workers answered, with the
	// processes' CPU times: on a busy machine an answer can take most of a
	// second, and with the time read before, a sample taken soon after
	// another (at a phase's end) showed more than 10 cores busy on 2.
	now := time.Now()
	tot.at = now
	tot.procs = r.procs()
	sm := report.Sample{
		At: now.Sub(r.started), Connected: tot.connected, ConnectErrors: tot.connectErrors,
		Delivered: tot.delivered, Latency: lat.percentiles(), Procs: tot.procs,
	}
	if !r.last.at.IsZero() {
		sm.DeliveriesPerSec = float64(tot.delivered-r.last.delivered) / now.Sub(r.last.at).Seconds()
	}
	if p := r.phase; p != nil {
		sm.Phase = p.Name
		p.latency.add(lat)
		p.catchUp.add(catch)
		for _, pr := range tot.procs {
			p.peakRSS[pr.Name] = max(p.peakRSS[pr.Name], pr.RSS)
		}
	}
	r.run.Samples = append(r.run.Samples, sm)
	r.last = tot
	if r.cfg.Progress != nil {
		r.cfg.Progress.Update(sm, sm.Phase, tot.connectErrors)
	}
	return tot
}

// procs reads every process's RSS and CPU time. A process that is gone
// (a killed hub) is left out.
func (r *runner) procs() []report.Proc {
	var out []report.Proc
	add := func(name, role string, pid int) {
		rss, err1 := processRSS(pid)
		cpu, err2 := processCPU(pid)
		if err1 == nil && err2 == nil {
			out = append(out, report.Proc{Name: name, Role: role, PID: pid, RSS: rss, CPU: cpu})
		}
	}
	for i, h := range r.hubs {
		if h != nil {
			add(fmt.Sprintf("hub-%d", i), "hub", h.PID)
		}
	}
	if r.redis != nil {
		add("redis", "redis", r.redis.PID)
	}
	for _, w := range r.workers {
		add(w.Name(), "generator", w.PID)
	}
	add("coordinator", "generator", 0)
	return out
}

// beginPhase starts measuring a phase.
func (r *runner) beginPhase(name string) {
	tot := r.sample()
	r.mu.Lock()
	defer r.mu.Unlock()
	server := r.cfg.Server
	if r.cfg.Remote != nil {
		server = strings.Join(r.cfg.Remote.Targets, ",")
	}
	r.phase = &phaseState{
		Phase:       report.Phase{Name: name, Server: server, Start: time.Since(r.started), Streams: r.cfg.Streams},
		startTotals: tot,
		latency:     newLatencySum(),
		catchUp:     newLatencySum(),
		peakRSS:     make(map[string]int64),
	}
}

// endPhase ends the current phase and returns it, already appended to the
// run; pub, if not nil, is the phase's publisher, and pubEnd the totals
// when it stopped, over which deliveries per second are figured (a
// phase's end also waits for the last deliveries, which would dilute it).
func (r *runner) endPhase(pub *Publisher, pubEnd *totals) *report.Phase {
	tot := r.sample()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.phase
	r.phase = nil
	p.End = time.Since(r.started)
	p.Connected = tot.connected
	p.ConnectErrors = tot.connectErrors - p.startTotals.connectErrors
	p.Delivered = tot.delivered - p.startTotals.delivered
	p.Reconnects = tot.reconnects - p.startTotals.reconnects
	p.Resets = tot.resets - p.startTotals.resets
	rateEnd := tot
	if pubEnd != nil {
		rateEnd = *pubEnd
	}
	p.DeliveriesPerSec = float64(rateEnd.delivered-p.startTotals.delivered) / rateEnd.at.Sub(p.startTotals.at).Seconds()
	p.Latency = p.latency.percentiles()
	p.CatchUp = p.catchUp.percentiles()
	if pub != nil {
		p.Published = pub.Published()
		p.PublishErrors = pub.Failed()
		p.PublishRefused, p.PublishRefusedEvents = pub.Refused(), pub.RefusedEvents()
		// Paced, the publisher's speed is the rate asked for; unpaced,
		// it is what the server took, and how long it kept publishers
		// waiting is the figure that says how it held them back.
		if pub.unpaced {
			p.PublishedPerSec = float64(p.Published) / rateEnd.at.Sub(p.startTotals.at).Seconds()
			p.PublishLatency = pub.PublishLatency()
		}
	}
	var hubCPU time.Duration // over the phase
	for _, pr := range tot.procs {
		cpu := pr.CPU // all of it, for a process started during the phase
		for _, before := range p.startTotals.procs {
			if before.Name == pr.Name && before.PID == pr.PID {
				cpu -= before.CPU
			}
		}
		if pr.Role == "hub" {
			hubCPU += cpu
		}
		p.Procs = append(p.Procs, report.Proc{Name: pr.Name, Role: pr.Role, RSS: pr.RSS, PeakRSS: p.peakRSS[pr.Name], CPU: cpu})
	}
	if p.Delivered > 0 {
		p.HubCPUPerDelivery = hubCPU / time.Duration(p.Delivered)
		// The CPU times cover the interval between the two samples.
		p.HubCPUPerDeliveryAboveIdle = cpuAboveIdle(hubCPU, r.idleHubCores, tot.at.Sub(p.startTotals.at), p.Delivered)
	}
	r.run.Phases = append(r.run.Phases, p.Phase)
	return &r.run.Phases[len(r.run.Phases)-1]
}

// cpuAboveIdle returns CPU time cpu, used over length, less idleCores
// (cores busy with no event) over length, per delivery: zero without an
// idle figure, and when noise makes it negative, as it can when the
// deliveries cost next to nothing.
func cpuAboveIdle(cpu time.Duration, idleCores float64, length time.Duration, delivered int64) time.Duration {
	if idleCores <= 0 || delivered <= 0 {
		return 0
	}
	above := cpu - time.Duration(idleCores*float64(length))
	return max(above/time.Duration(delivered), 0)
}

// hubRSS returns the hubs' RSS now, summed.
func (r *runner) hubRSS() int64 {
	var sum int64
	for _, h := range r.hubs {
		if h != nil {
			if rss, err := h.RSS(); err == nil {
				sum += rss
			}
		}
	}
	return sum
}

// awaitConnected waits until every stream is connected or timeout passes,
// sampling meanwhile. It reports whether all connected.
func (r *runner) awaitConnected(ctx context.Context, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		connected := r.last.connected
		r.mu.Unlock()
		if connected >= r.cfg.Streams {
			return true
		}
		if time.Now().After(deadline) || !sleepCtx(ctx, 100*time.Millisecond) {
			return false
		}
	}
}

// checkAll waits up to wait for every worker's streams to have what was
// published up to final, and returns what they lack or have extra since
// the previous check: the workers count from the start of the run.
//
// It polls rather than letting the workers wait, so that samples go on
// being taken meanwhile: a worker answers one command at a time.
func (r *runner) checkAll(final map[string]uint64, wait time.Duration) (WorkerCheck, error) {
	finals := make([]map[string]uint64, len(r.workers))
	for k, w := range r.workers {
		finals[k] = r.finalFor(w.Spec, final)
	}
	deadline := time.Now().Add(wait)
	for {
		var (
			mu   sync.Mutex
			sum  WorkerCheck
			errs []error
			wg   sync.WaitGroup
		)
		for k, w := range r.workers {
			wg.Go(func() {
				c, err := w.Check(finals[k], 0)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				sum.add(c)
			})
		}
		wg.Wait()
		if sum.Incomplete > 0 && len(errs) == 0 && time.Now().Before(deadline) {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		delta := sum
		delta.Lost -= r.prevCheck.Lost
		delta.Duplicated -= r.prevCheck.Duplicated
		delta.Reordered -= r.prevCheck.Reordered
		r.prevCheck = sum
		return delta, errors.Join(errs...)
	}
}

// finalFor keeps the topics of final that a worker's streams can follow.
func (r *runner) finalFor(spec WorkerSpec, final map[string]uint64) map[string]uint64 {
	if r.layout.Kind != LayoutUser && r.layout.Kind != LayoutUserShared {
		return final
	}
	out := make(map[string]uint64)
	for i := spec.First; i < spec.First+spec.Count; i++ {
		if seq, ok := final[UserTopic(i)]; ok {
			out[UserTopic(i)] = seq
		}
	}
	if r.layout.Kind == LayoutUserShared {
		if seq, ok := final[r.layout.Topic]; ok {
			out[r.layout.Topic] = seq
		}
	}
	return out
}

// check appends a check to the run.
func (r *runner) check(phase, name, target, value string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Checks = append(r.run.Checks, report.Check{Phase: phase, Name: name, Target: target, Value: value, OK: ok})
}

// checkDelivery adds the checks every publishing phase must pass: nothing
// lost, repeated or reordered, and the latency target if set.
func (r *runner) checkDelivery(p *report.Phase, p99 time.Duration) {
	r.check(p.Name, "lost / duplicated / reordered", "0 / 0 / 0",
		fmt.Sprintf("%d / %d / %d", p.Lost, p.Duplicated, p.Reordered),
		p.Lost == 0 && p.Duplicated == 0 && p.Reordered == 0)
	if p.PublishErrors > 0 {
		r.check(p.Name, "events the publisher could not publish", "0", strconv.FormatInt(p.PublishErrors, 10), false)
	}
	if p99 > 0 {
		r.check(p.Name, "p99 latency", "<= "+p99.String(), report.FormatDuration(p.Latency.P99), p.Latency.P99 <= p99 && p.Latency.Count > 0)
	}
}

// randomUser returns a topic picker for random users of n streams.
func randomUser(n int) func() string {
	return func() string { return UserTopic(rand.IntN(n)) }
}

// hostInfo describes this machine for the report.
func hostInfo() string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d CPUs, %s, Linux %s", runtime.NumCPU(), runtime.Version(), strings.TrimSpace(string(kernel)))
}
