package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ssehub/ssehub/bench/report"
)

// CompareScenario is the name of the side-by-side run of ssehub and the
// net/http reference server (bench/refserver) that shows the targets table
// of docs/protocol.md#performance-targets.
const CompareScenario = "compare"

// runCompare runs the same phases against one ssehub process and one
// reference server process, one after the other on the same machine, and
// checks ssehub against the targets table, absolute bounds and ratios.
func runCompare(ctx context.Context, cfg Config) (*report.Run, error) {
	cfg = cfg.withDefaults()
	if cfg.Remote != nil {
		return nil, errors.New("bench: compare starts its own servers; it takes no remote target")
	}
	cfg.Hubs, cfg.Redis = 1, false
	sc := scenario{layout: Layout{Kind: LayoutUserShared, Topic: BroadcastTopic}, run: (*runner).comparePhases}
	title := fmt.Sprintf("ssehub vs net/http reference, %d streams, one process each", cfg.Streams)
	var runs []*report.Run
	var errs []error
	for _, server := range []string{ServerSSEHub, ServerNetHTTP} {
		c := cfg
		c.Server = server
		fmt.Fprintf(cfg.Log, "--- %s\n", server)
		run, err := runScenario(ctx, c, sc, title)
		if run != nil {
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
		compareChecks(merged, runs[0], runs[1])
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

// compareChecks adds the targets-table rows: ssehub's figure, the
// reference's, and whether ssehub meets its target.
func compareChecks(out *report.Run, hub, ref *report.Run) {
	phase := func(run *report.Run, name string) report.Phase {
		for _, p := range run.Phases {
			if p.Name == name {
				return p
			}
		}
		return report.Phase{}
	}
	add := func(name, target, value string, ok bool) {
		out.Checks = append(out.Checks, report.Check{Phase: "targets table", Name: name, Target: target, Value: value, OK: ok})
	}
	vs := func(a, b string) string { return a + " (net/http " + b + ")" }

	hi, ri := phase(hub, "idle"), phase(ref, "idle")
	add("idle RSS per stream", "<= 5 KiB", vs(report.FormatBytes(hi.HubRSSPerStream), report.FormatBytes(ri.HubRSSPerStream)),
		hi.HubRSSPerStream > 0 && hi.HubRSSPerStream <= 5<<10)
	for _, row := range []struct {
		phase string
		bound time.Duration
	}{{"broadcast-1/s", 120 * time.Millisecond}, {"broadcast-10/s", 200 * time.Millisecond}, {"targeted-1000/s", 5 * time.Millisecond}} {
		h, r := phase(hub, row.phase), phase(ref, row.phase)
		add(row.phase+": p99 latency", "<= "+row.bound.String(),
			vs(report.FormatDuration(h.Latency.P99), report.FormatDuration(r.Latency.P99)),
			h.Latency.Count > 0 && h.Latency.P99 <= row.bound)
	}
	h10, r10 := phase(hub, "broadcast-10/s"), phase(ref, "broadcast-10/s")
	add("broadcast-10/s: lost", "0", vs(fmt.Sprint(h10.Lost), fmt.Sprint(r10.Lost)), h10.Delivered > 0 && h10.Lost == 0)
	add("broadcast-10/s: server CPU per delivery", "<= 8µs",
		vs(report.FormatDuration(h10.HubCPUPerDelivery), report.FormatDuration(r10.HubCPUPerDelivery)),
		h10.Delivered > 0 && h10.HubCPUPerDelivery <= 8*time.Microsecond)
	hm, rm := phase(hub, "max-broadcast"), phase(ref, "max-broadcast")
	ratio := hm.DeliveriesPerSec / max(rm.DeliveriesPerSec, 1)
	add("max broadcast deliveries/s", ">= 1.5x net/http",
		fmt.Sprintf("%.0f/s (net/http %.0f/s): %.2fx", hm.DeliveriesPerSec, rm.DeliveriesPerSec, ratio), ratio >= 1.5)
}
