package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ssehub/ssehub/bench/report"
)

// Side-by-side scenarios: each runs against one ssehub process and then
// one net/http reference server process (bench/refserver).
const (
	// CompareScenario shows the targets table of
	// docs/protocol.md#performance-targets.
	CompareScenario = "compare"
	// FloodCompareScenario floods ssehub (on Redis with -redis) and the
	// reference the same way.
	FloodCompareScenario = "flood-compare"
)

// pairedScenario is a scenario run against one ssehub process and then one
// reference server process, one after the other on the same machine in
// one invocation, and checked side by side.
type pairedScenario struct {
	scenario
	title func(cfg Config) string
	// redis lets ssehub run on Redis with -redis; the reference has no
	// broker and runs without.
	redis bool
	// measureReference leaves the reference's own checks out of the
	// report: it is measured, not held to ssehub's targets, and its
	// figures show in the phase table and the side-by-side checks.
	measureReference bool
	// compare adds the side-by-side checks to out, from the run of each.
	compare func(out, hub, ref *report.Run)
}

// pairedScenarios are the side-by-side scenarios, by name.
var pairedScenarios = map[string]pairedScenario{
	CompareScenario: {
		scenario: scenario{
			about:  "ssehub and the net/http reference server side by side: the targets table of docs/protocol.md#performance-targets",
			layout: Layout{Kind: LayoutUserShared, Topic: BroadcastTopic},
			run:    (*runner).comparePhases,
		},
		title: func(cfg Config) string {
			return fmt.Sprintf("ssehub vs net/http reference, %d streams, one process each", cfg.Streams)
		},
		compare: compareChecks,
	},
	FloodCompareScenario: {
		scenario: scenario{
			about: "the flood against ssehub (on Redis with -redis), then against the net/http reference server: " +
				"ssehub to deliver 1.5x the reference's deliveries/s, evicting no stream and losing no accepted event",
			layoutFor: floodScenario.layoutFor,
			run:       floodScenario.run,
		},
		title: func(cfg Config) string {
			broker := ""
			if cfg.Redis {
				broker = " on Redis"
			}
			return fmt.Sprintf("flood, %d publishers, %d streams: ssehub%s vs net/http reference, one process each",
				cfg.Publishers, cfg.Streams, broker)
		},
		redis:            true,
		measureReference: true,
		compare:          floodCompareChecks,
	},
}

// runPaired runs ps against one ssehub process and then one reference
// server process, and checks them side by side.
func runPaired(ctx context.Context, cfg Config, ps pairedScenario) (*report.Run, error) {
	cfg = cfg.withDefaults()
	if cfg.Remote != nil {
		return nil, errors.New("bench: a side-by-side scenario starts its own servers; it takes no remote target")
	}
	cfg.Hubs, cfg.Redis = 1, cfg.Redis && ps.redis
	title := ps.title(cfg)
	var runs []*report.Run
	var errs []error
	for _, server := range []string{ServerSSEHub, ServerNetHTTP} {
		c := cfg
		c.Server = server
		if server == ServerNetHTTP {
			c.Redis = false
		}
		fmt.Fprintf(cfg.Log, "--- %s\n", server)
		run, err := runScenario(ctx, c, ps.scenario, title)
		if run != nil {
			if server == ServerNetHTTP && ps.measureReference {
				run.Checks = nil
			}
			runs = append(runs, run)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", server, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	merged := mergeRuns(title, cfg.Command, runs)
	if len(runs) == 2 {
		ps.compare(merged, runs[0], runs[1])
	}
	return merged, errors.Join(errs...)
}

// comparePhases are the phases of each server in a compare run: the rows
// of the targets table (docs/protocol.md#performance-targets).
func (r *runner) comparePhases(ctx context.Context) error {
	if err := r.idlePhase(ctx); err != nil {
		return err
	}
	d := r.cfg.Duration
	steps := []struct {
		name  string
		rate  float64
		next  func() string
		bound time.Duration
	}{
		{"broadcast-1/s", 1, constTopic(BroadcastTopic), 120 * time.Millisecond},
		{"broadcast-10/s", 10, constTopic(BroadcastTopic), 200 * time.Millisecond},
		{"targeted-1000/s", 1000, randomUser(r.cfg.Streams), 5 * time.Millisecond},
	}
	for _, s := range steps {
		if r.cfg.Server != ServerSSEHub {
			s.bound = 0 // the reference is measured, not held to ssehub's targets
		}
		if err := r.publishPhase(ctx, s.name, s.rate, d, s.next, s.bound); err != nil {
			return err
		}
	}
	return r.saturate(ctx, "max-broadcast")
}

// Saturation steps: the broadcast rate starts at saturationStart events
// per second and grows by half each step, while the server keeps up.
const (
	saturationStart  = 5
	saturationGrowth = 1.5
	saturationSteps  = 13
	// A server keeps up with a step if it accepted keptUp of the events
	// the publisher meant to send, delivered keptUp of the deliveries
	// due by the end of the drain, dropped no stream, and kept the p99
	// latency of every sample in the step under keptUpLatency: a backlog
	// (in the server's queues or in socket buffers) shows as latency
	// long before as loss.
	keptUp        = 0.99
	keptUpLatency = time.Second
)

// saturate finds the highest broadcast rate the server sustains: it
// broadcasts at a rate that grows each step and stops after the first
// step the server did not keep up with. The phase's deliveries per second
// are those of the best step it kept up with.
//
// A server that sheds load evicts or drops streams, which then reconnect:
// no loss is checked, and the run ends with this phase.
func (r *runner) saturate(ctx context.Context, name string) error {
	// A step lasts a fifth of a publishing phase (-duration), 1 to 4s,
	// and is followed by a drain half as long.
	step := min(max(r.cfg.Duration/5, time.Second), 4*time.Second)
	drain := step / 2
	r.beginPhase(name)
	pub := r.publisher()
	best := 0.0
	rate := float64(saturationStart)
	for range saturationSteps {
		before := r.sample()
		published := pub.Published()
		pub.Run(ctx, rate, step, constTopic(BroadcastTopic))
		sent := pub.Published() - published
		sleepCtx(ctx, drain)
		after := r.sample()
		due := sent * int64(before.connected)
		got := after.delivered - before.delivered
		perSec := float64(got) / step.Seconds()
		dropped := after.reconnects > before.reconnects || after.connected < before.connected
		p99 := r.maxSampleP99(before.at, after.at)
		ok := float64(sent+1) >= keptUp*rate*step.Seconds() && due > 0 && // +1: the publisher rounds down
			float64(got) >= keptUp*float64(due) && !dropped && p99 <= keptUpLatency
		fmt.Fprintf(r.cfg.Log, "%s: %.0f events/s: %d published, %d of %d deliveries due (%.0f/s), p99 %s, streams dropped: %t\n",
			name, rate, sent, got, due, perSec, report.FormatDuration(p99), dropped)
		if !ok || ctx.Err() != nil {
			break
		}
		best = perSec
		rate *= saturationGrowth
	}
	p := r.endPhase(pub, nil)
	p.DeliveriesPerSec = best
	return ctx.Err()
}

// maxSampleP99 returns the highest interval p99 latency among the samples
// taken between from and to.
func (r *runner) maxSampleP99(from, to time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	lo, hi := from.Sub(r.started), to.Sub(r.started)
	var worst time.Duration
	for _, s := range r.run.Samples {
		if s.At > lo && s.At <= hi {
			worst = max(worst, s.Latency.P99)
		}
	}
	return worst
}

// mergeRuns puts the runs of a compare into one report: phases and samples
// in order, samples timed from the first run's start, checks labelled with
// their server.
func mergeRuns(title, command string, runs []*report.Run) *report.Run {
	out := &report.Run{Title: title, Command: command}
	for i, run := range runs {
		if i == 0 {
			out.Started, out.Host = run.Started, run.Host
		}
		shift := run.Started.Sub(out.Started)
		for _, p := range run.Phases {
			p.Start += shift
			p.End += shift
			out.Phases = append(out.Phases, p)
		}
		for _, s := range run.Samples {
			s.At += shift
			if s.Phase != "" && len(run.Phases) > 0 {
				s.Phase = run.Phases[0].Server + " " + s.Phase
			}
			out.Samples = append(out.Samples, s)
		}
		for _, c := range run.Checks {
			if len(run.Phases) > 0 {
				c.Phase = run.Phases[0].Server + " " + c.Phase
			}
			out.Checks = append(out.Checks, c)
		}
	}
	return out
}

// phaseNamed returns the phase of run named name, or a zero Phase.
func phaseNamed(run *report.Run, name string) report.Phase {
	for _, p := range run.Phases {
		if p.Name == name {
			return p
		}
	}
	return report.Phase{}
}

// vsReference renders a figure of ssehub's next to the reference's.
func vsReference(hub, ref string) string { return hub + " (net/http " + ref + ")" }

// deliveryRatioCheck is the check, in checkPhase, that ssehub's phase hub
// delivered at least 1.5 times as many events per second as the
// reference's phase ref.
func deliveryRatioCheck(checkPhase, name string, hub, ref report.Phase) report.Check {
	ratio := hub.DeliveriesPerSec / max(ref.DeliveriesPerSec, 1)
	return report.Check{Phase: checkPhase, Name: name, Target: ">= 1.5x net/http",
		Value: fmt.Sprintf("%.0f/s (net/http %.0f/s): %.2fx", hub.DeliveriesPerSec, ref.DeliveriesPerSec, ratio), OK: ratio >= 1.5}
}

// compareChecks adds the targets-table rows: ssehub's figure, the
// reference's, and whether ssehub meets its target.
func compareChecks(out, hub, ref *report.Run) {
	add := func(name, target, value string, ok bool) {
		out.Checks = append(out.Checks, report.Check{Phase: "targets table", Name: name, Target: target, Value: value, OK: ok})
	}

	hi, ri := phaseNamed(hub, "idle"), phaseNamed(ref, "idle")
	add("idle RSS per stream", "<= 5 KiB", vsReference(report.FormatBytes(hi.HubRSSPerStream), report.FormatBytes(ri.HubRSSPerStream)),
		hi.HubRSSPerStream > 0 && hi.HubRSSPerStream <= 5<<10)
	for _, row := range []struct {
		phase string
		bound time.Duration
	}{{"broadcast-1/s", 120 * time.Millisecond}, {"broadcast-10/s", 200 * time.Millisecond}, {"targeted-1000/s", 5 * time.Millisecond}} {
		h, r := phaseNamed(hub, row.phase), phaseNamed(ref, row.phase)
		add(row.phase+": p99 latency", "<= "+row.bound.String(),
			vsReference(report.FormatDuration(h.Latency.P99), report.FormatDuration(r.Latency.P99)),
			h.Latency.Count > 0 && h.Latency.P99 <= row.bound)
	}
	h10, r10 := phaseNamed(hub, "broadcast-10/s"), phaseNamed(ref, "broadcast-10/s")
	add("broadcast-10/s: lost", "0", vsReference(fmt.Sprint(h10.Lost), fmt.Sprint(r10.Lost)), h10.Delivered > 0 && h10.Lost == 0)
	add("broadcast-10/s: server CPU per delivery", "<= 8µs",
		vsReference(report.FormatDuration(h10.HubCPUPerDelivery), report.FormatDuration(r10.HubCPUPerDelivery)),
		h10.Delivered > 0 && h10.HubCPUPerDelivery <= 8*time.Microsecond)
	out.Checks = append(out.Checks, deliveryRatioCheck("targets table", "max broadcast deliveries/s",
		phaseNamed(hub, "max-broadcast"), phaseNamed(ref, "max-broadcast")))
}

// floodCompareChecks adds the side-by-side check of a flood-compare run:
// ssehub's deliveries per second against the reference's. ssehub's own
// flood checks hold it to no eviction, no loss of accepted events and its
// bound on publish latency; the reference's figures are in the phase
// table.
func floodCompareChecks(out, hub, ref *report.Run) {
	out.Checks = append(out.Checks, deliveryRatioCheck("side by side", "flood deliveries/s",
		phaseNamed(hub, "flood"), phaseNamed(ref, "flood")))
}
