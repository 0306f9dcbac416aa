// Package report holds what a bench run measured and prints it: a final
// table for a terminal or BENCHMARKS.md, JSON for machines, a
// self-contained HTML page with charts, and a live progress line while the
// run goes on.
//
// The types here are plain data, filled in by package bench as a run
// proceeds; nothing in this package starts goroutines or touches the
// network.
package report

import "time"

// Run is one invocation of the bench: its phases and time series.
type Run struct {
	// Title names the run, such as "broadcast, 100,000 streams, 6 hubs".
	Title string `json:"title"`
	// Command is the exact command line that produced the run.
	Command string `json:"command"`
	// Started is when the run began; Samples are timed from it.
	Started time.Time `json:"started"`
	// Host describes the machine: CPU count, Go version, kernel.
	Host string `json:"host"`
	// Phases are the measured parts of the run in the order they ran
	// (for example "connect", "baseline", "slow-consumers").
	Phases []Phase `json:"phases"`
	// Samples is the time series, one per sample interval (one second by
	// default), across all phases.
	Samples []Sample `json:"samples"`
	// Checks are the targets the run was held to, with their outcome.
	Checks []Check `json:"checks"`
}

// OK reports whether every check passed.
func (r *Run) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Phase is what one measured part of a run produced, summed over all
// load-generator processes.
type Phase struct {
	// Name is the phase, such as "broadcast" or "slow-consumers".
	Name string `json:"name"`
	// Server names the server under test: "ssehub", "nethttp" (the
	// reference server) or a URL for a remote target.
	Server string `json:"server"`
	// Start and End are offsets from Run.Started.
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`

	// Streams is how many streams the phase asked for; Connected how many
	// had their response head when it ended; ConnectErrors counts failed
	// attempts (a stream may fail more than once); ConnectRate is streams
	// connected per second while connecting.
	Streams       int     `json:"streams"`
	Connected     int     `json:"connected"`
	ConnectErrors int64   `json:"connect_errors"`
	ConnectRate   float64 `json:"connect_rate"`

	// Published is how many events the server accepted (answered 2xx
	// for); PublishErrors how many events were in publish requests that
	// failed. Delivered is how many events the streams received,
	// DeliveriesPerSec that over the phase's length.
	Published        int64   `json:"published"`
	PublishErrors    int64   `json:"publish_errors"`
	Delivered        int64   `json:"delivered"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// PublishRefused counts publish requests the server refused for now
	// (429, or 503 with Retry-After, such as ssehub's "overloaded"), and
	// PublishRefusedEvents the events they carried. Nothing of them was
	// published; the publisher sent them again after the wait.
	PublishRefused       int64 `json:"publish_refused"`
	PublishRefusedEvents int64 `json:"publish_refused_events"`
	// PublishedPerSec and PublishLatency are measured for phases that
	// publish unpaced, as fast as the server answers (flood); zero
	// otherwise, where the rate is the one asked for. PublishedPerSec is
	// Published over the phase's publishing time; PublishLatency the time
	// from sending each publish request to its response, refused ones
	// included.
	PublishedPerSec float64     `json:"published_per_sec,omitempty"`
	PublishLatency  Percentiles `json:"publish_latency"`

	// Latency is end to end, from the publisher stamping an event to a
	// stream parsing it, over every delivery in the phase.
	Latency Percentiles `json:"latency"`

	// Lost, Duplicated and Reordered count deliveries against what was
	// published to each stream's topics: events a stream never received,
	// received more than once, or received after a newer one.
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	Reordered  int64 `json:"reordered"`
	// Reconnects counts streams that ended and connected again; Resets,
	// ssehub.reset events received; Evicted, stalled streams the server
	// closed (slow-consumers).
	Reconnects int64 `json:"reconnects"`
	Resets     int64 `json:"resets"`
	Evicted    int64 `json:"evicted"`
	// CatchUp is, for streams that reconnected, the time from losing
	// their connection to having every event published before they
	// reconnected: how long until they were caught up.
	CatchUp Percentiles `json:"catch_up"`

	// Procs is the resource use of every process involved, over the
	// phase.
	Procs []Proc `json:"procs"`
	// HubRSSPerStream is the servers' RSS growth since before any stream
	// connected, divided by the connected streams (bytes). Zero when not
	// measured.
	HubRSSPerStream int64 `json:"hub_rss_per_stream"`
	// HubCPUPerDelivery is the servers' CPU time in the phase divided by
	// Delivered. Zero when nothing was delivered. It includes what the
	// servers spend with no event at all (heartbeats, timers, polls):
	// at 100,000 streams on two cores, a fifth of the figure for 5,000
	// targeted events a second. HubCPUPerDeliveryAboveIdle leaves that
	// out.
	HubCPUPerDelivery time.Duration `json:"hub_cpu_per_delivery_ns"`
	// HubIdleCores is, for an idle phase, the servers' CPU time per
	// second of it (in cores): their background with every stream open
	// and no event. It includes heartbeats only if the phase lasts past
	// the servers' heartbeat interval since the streams connected (-settle).
	HubIdleCores float64 `json:"hub_idle_cores,omitempty"`
	// HubCPUPerDeliveryAboveIdle is, for a phase after an idle one, the
	// servers' CPU time in the phase less the idle phase's HubIdleCores
	// over the phase's length, divided by Delivered: what the events cost
	// on top of the background. It errs low, if anything: a stream that
	// gets events needs fewer heartbeats than an idle one. Zero when the
	// run had no idle phase before, or nothing was delivered.
	HubCPUPerDeliveryAboveIdle time.Duration `json:"hub_cpu_per_delivery_above_idle_ns,omitempty"`
}

// Percentiles summarizes a latency distribution. Count is how many
// values it covers; all durations are zero when Count is.
type Percentiles struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Proc is the resource use of one process over a phase or at a sample.
type Proc struct {
	// Name is unique within a run, such as "hub-3", "redis",
	// "worker-2" or "coordinator".
	Name string `json:"name"`
	// Role is "hub", "redis" or "generator".
	Role string `json:"role"`
	// PID is the process id: a restarted hub keeps its name under a new
	// one.
	PID int `json:"pid"`
	// RSS is resident memory in bytes at the end of the phase or at the
	// sample; PeakRSS the highest seen in the phase.
	RSS     int64 `json:"rss"`
	PeakRSS int64 `json:"peak_rss,omitempty"`
	// CPU is user plus system time used: over the phase in Phase.Procs,
	// since the process started in Sample.Procs.
	CPU time.Duration `json:"cpu_ns"`
}

// Sample is the state of a run at one moment, with rates over the interval
// since the sample before.
type Sample struct {
	// At is the offset from Run.Started; Phase the phase running then.
	At    time.Duration `json:"at_ns"`
	Phase string        `json:"phase"`
	// Connected is the streams open at that moment; ConnectErrors and
	// Delivered are totals since the run began.
	Connected     int   `json:"connected"`
	ConnectErrors int64 `json:"connect_errors"`
	Delivered     int64 `json:"delivered"`
	// DeliveriesPerSec and Latency cover the interval since the previous
	// sample only.
	DeliveriesPerSec float64     `json:"deliveries_per_sec"`
	Latency          Percentiles `json:"latency"`
	// Procs is every process's RSS and CPU at that moment.
	Procs []Proc `json:"procs"`
}

// Check is one target a run is held to, such as "p99 latency <= 500ms".
type Check struct {
	// Phase is the phase it applies to.
	Phase string `json:"phase"`
	// Name says what is measured; Target the bound, as text; Value the
	// measured figure, as text.
	Name   string `json:"name"`
	Target string `json:"target"`
	Value  string `json:"value"`
	OK     bool   `json:"ok"`
}
