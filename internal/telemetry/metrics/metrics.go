// Package metrics exports ssehub's counters to Prometheus.
//
// The counts already exist: the shards, the server and the Redis broker keep
// them in atomics for their own Stats. A collector reads those at scrape
// time, so metrics add nothing to the delivery path but one latency
// observation per message per shard (an atomic add, no lock, no
// allocation), and nothing per recipient.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/shard"
)

// Metrics is one process's Prometheus registry: Go runtime and process
// metrics, the delivery latency histogram, and, once Watch is called, the
// hub's counters.
type Metrics struct {
	reg     *prometheus.Registry
	latency prometheus.Histogram
	http    http.Handler
	fast    fasthttp.RequestHandler
}

// LatencyBuckets are the upper bounds, in seconds, of the delivery latency
// histogram. The latency is measured from the event id's timestamp, which
// has a resolution of one millisecond.
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns a registry with the Go runtime and process collectors and the
// delivery latency histogram. Pass it to the shards as their Observer.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ssehub_delivery_latency_seconds",
			Help: "Time from an event's publish (its id's timestamp, 1 ms resolution; in fleet mode Redis's clock) " +
				"to its fan-out by a shard, observed once per event per shard that had recipients.",
			Buckets: LatencyBuckets,
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.latency,
	)
	m.http = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	m.fast = fasthttpadaptor.NewFastHTTPHandler(m.http)
	return m
}

// Delivered implements shard.Observer: it observes the event's latency
// from publish to fan-out.
func (m *Metrics) Delivered(msg *broker.Message, _ int, _ time.Time) {
	m.latency.Observe(max(time.Since(msg.ID.Timestamp()).Seconds(), 0))
}

// Sources are what Watch reads at each scrape. Besides the hub they are
// small interfaces, so that metrics knows no server or broker type.
type Sources struct {
	Hub *hub.Hub
	// Publishes counts the events POST /publish accepted (the native
	// front door, *httpapi.Server); nil for none.
	Publishes PublishCounter
	// MercurePublishes counts the updates the Mercure door accepted
	// (*mercure.Door); nil when it is not served.
	MercurePublishes PublishCounter
	// Broker reports a broker's own counters; nil for a broker without
	// any. They are exported as ssehub_redis_*: the Redis broker is the
	// only broker that has them (the embedded one has no connections to
	// lose), so with the embedded broker no ssehub_redis_ series exists.
	Broker broker.StatsReporter
	// History reports history kept in the hub's memory (the embedded
	// broker), exported as ssehub_history_*; nil for none.
	History broker.HistoryReporter
	// MercureSubscriptions reports the Mercure door's active
	// subscriptions (--mercure-subscriptions), exported as
	// ssehub_mercure_subscription*; nil when they are off.
	MercureSubscriptions MercureSubscriptionReporter
}

// MercureSubscriptionReporter counts a Mercure door's active
// subscriptions (*mercure.Door). Safe to call from any goroutine.
type MercureSubscriptionReporter interface {
	// MercureSubscriptionCounts returns the distinct subscriptions the
	// hub has, and the subscription events published, the subscriptions
	// and events dropped by a full queue, and the failed exchanges.
	MercureSubscriptionCounts() (active int64, events, dropped, errors uint64)
}

// PublishCounter counts accepted events. Safe to call from any goroutine.
type PublishCounter interface {
	Published() uint64
}

// Watch registers the counters of src. Call it once.
func (m *Metrics) Watch(src Sources) {
	m.reg.MustRegister(newHubCollector(src))
}

// Handler serves the metrics in Prometheus's text format on fasthttp.
func (m *Metrics) Handler() fasthttp.RequestHandler { return m.fast }

// HTTPHandler serves the metrics on net/http, for the admin listener.
func (m *Metrics) HTTPHandler() http.Handler { return m.http }

// Registry returns the registry, for tests and embedders.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var _ shard.Observer = (*Metrics)(nil)

// hubCollector reads the counters at scrape time.
type hubCollector struct {
	src Sources

	openStreams, shardStreams, subscriptions, shardSubscriptions *prometheus.Desc
	mailbox, mailboxCapacity, ioUring                            *prometheus.Desc
	published, dispatched, delivered, duplicates                 *prometheus.Desc
	disconnects                                                  *prometheus.Desc
	behind, paused, congested, pauses, pausedSeconds             *prometheus.Desc
	publishWait, publishRefused                                  *prometheus.Desc
	replays, replayed, resets                                    *prometheus.Desc
	redisReconnects, redisProbeFailures                          *prometheus.Desc
	redisGapFills, redisGapFilled, redisGapLosses                *prometheus.Desc
	redisOthersCongested, redisCongestionErrors                  *prometheus.Desc
	historyEvents, historyBytes, historyBudget, historyDrops     *prometheus.Desc
	presenceMembers, presenceBatches, presenceErrors             *prometheus.Desc
	presenceFlushes, presenceDeferred                            *prometheus.Desc
	mercureSubs, mercureSubEvents, mercureSubDropped             *prometheus.Desc
	mercureSubErrors                                             *prometheus.Desc

	reasons []shard.Reason
	// shardLabels holds "0", "1", ...: a hub's shard count is fixed.
	shardLabels []string
}

func newHubCollector(src Sources) *hubCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	c := &hubCollector{
		src:                   src,
		openStreams:           desc("ssehub_open_streams", "SSE streams open in this process."),
		shardStreams:          desc("ssehub_shard_open_streams", "SSE streams open on each shard.", "shard"),
		subscriptions:         desc("ssehub_subscriptions", "Distinct topics and patterns the shards of this process subscribe to at the broker (each shard subscribes on its own)."),
		shardSubscriptions:    desc("ssehub_shard_subscriptions", "Distinct topics and patterns each shard subscribes to at the broker.", "shard"),
		ioUring:               desc("ssehub_shard_io_uring", "1 if the shard writes its fan-outs through io_uring, 0 if with one write(2) per socket (--io-uring=false, or the kernel refused io_uring).", "shard"),
		mailbox:               desc("ssehub_shard_mailbox_messages", "Broker messages waiting for each shard's loop; the broker waits while a mailbox is full.", "shard"),
		mailboxCapacity:       desc("ssehub_shard_mailbox_capacity_messages", "Capacity of each shard's mailbox."),
		published:             desc("ssehub_events_published_total", "Events accepted on this process, by door: native (POST /publish) or mercure (POST to the Mercure path).", "door"),
		dispatched:            desc("ssehub_shard_events_total", "Events the shards fanned out, counted once per shard that received them."),
		delivered:             desc("ssehub_events_delivered_total", "Events queued or written to streams, counted once per stream."),
		duplicates:            desc("ssehub_shard_duplicate_events_total", "Events a shard received twice (matching both a topic and a pattern) and dropped."),
		disconnects:           desc("ssehub_stream_disconnects_total", "Streams ended, by reason; reason=\"slow\" counts the clients evicted for a full queue.", "reason"),
		behind:                desc("ssehub_shard_streams_behind", "Streams of each shard whose queue was at least half full at the last count: more than one in eight pauses the shard.", "shard"),
		paused:                desc("ssehub_shard_paused", "1 while the shard takes no events from the broker until its streams catch up (overload), else 0.", "shard"),
		congested:             desc("ssehub_shard_congested", "1 while the shard holds publishes back (paused, or its mailbox filling), else 0.", "shard"),
		pauses:                desc("ssehub_shard_pauses_total", "Times a shard paused because its streams were behind."),
		pausedSeconds:         desc("ssehub_shard_paused_seconds_total", "Time shards spent paused, summed over shards (pauses that ended)."),
		publishWait:           desc("ssehub_publish_wait_seconds", "How long publishes that found the hub congested waited, refused ones included; publishes that did not wait are not counted."),
		publishRefused:        desc("ssehub_publishes_refused_total", "Publish requests refused with 503 overloaded after waiting --publish-wait."),
		replays:               desc("ssehub_replays_total", "Resumes (Last-Event-ID) answered from history."),
		replayed:              desc("ssehub_replayed_events_total", "Events written by resume replays."),
		resets:                desc("ssehub_resets_total", "Resumes answered with an ssehub.reset event: history could not fill the gap."),
		redisReconnects:       desc("ssehub_redis_reconnects_total", "Redis pub/sub connections re-established."),
		redisProbeFailures:    desc("ssehub_redis_probe_failures_total", "Silent Redis pub/sub connections found by a probe (and reconnected)."),
		redisGapFills:         desc("ssehub_redis_gap_fills_total", "Gap fills from history after a Redis pub/sub reconnect."),
		redisGapFilled:        desc("ssehub_redis_gap_filled_events_total", "Events delivered by gap fills."),
		redisGapLosses:        desc("ssehub_redis_gap_losses_total", "Gaps history could not fill; the shard's streams were ended to resume."),
		redisOthersCongested:  desc("ssehub_redis_others_congested", "1 while another hub of the fleet is congested, so this one holds publishes back too; else 0."),
		redisCongestionErrors: desc("ssehub_redis_congestion_errors_total", "Failed exchanges of congestion with the fleet: other hubs may not hear that this one is congested."),
		historyEvents:         desc("ssehub_history_events", "Events the embedded broker keeps for resume."),
		historyBytes:          desc("ssehub_history_bytes", "What the events kept for resume count against --history-budget (frames, topic names and a fixed overhead each)."),
		historyBudget:         desc("ssehub_history_budget_bytes", "--history-budget: the most ssehub_history_bytes may reach."),
		historyDrops:          desc("ssehub_history_budget_drops_total", "Events dropped from history before their time to stay within --history-budget; resumes from before them get ssehub.reset."),
		presenceMembers:       desc("ssehub_presence_members", "Presence counts this hub keeps in the broker: one per shard, topic and user (the anonymous streams of a shard on a topic count as one). Only with --presence."),
		presenceBatches:       desc("ssehub_presence_batches_total", "Writes of presence counts to the broker (one Redis pipeline each, at most one per 250 ms tick). Only with --presence."),
		presenceErrors:        desc("ssehub_presence_errors_total", "Presence writes and refreshes the broker failed or did not answer; retried at the next tick. Only with --presence."),
		presenceFlushes:       desc("ssehub_shard_presence_flushes_total", "Batches of changed presence counts the shards handed to the hub's tracker. Only with --presence."),
		presenceDeferred:      desc("ssehub_shard_presence_deferred_total", "Shard ticks whose presence batch found the tracker's queue full and waited for the next tick. Only with --presence."),
		mercureSubs:           desc("ssehub_mercure_subscriptions", "Distinct active Mercure subscriptions this hub has (streams of one subscriber with one selector are one). Only with --mercure-subscriptions."),
		mercureSubEvents:      desc("ssehub_mercure_subscription_events_total", "Mercure subscription events (created, ended, reaped from a dead hub) this hub published. Only with --mercure-subscriptions."),
		mercureSubDropped:     desc("ssehub_mercure_subscriptions_dropped_total", "Mercure subscriptions not registered and subscription events not published because their bounded queue was full (the store or the broker stalled). Only with --mercure-subscriptions."),
		mercureSubErrors:      desc("ssehub_mercure_subscription_errors_total", "Writes of Mercure subscriptions, reaps and publishes of their events that failed; retried at the next tick. Only with --mercure-subscriptions."),
		reasons:               shard.Reasons(),
	}
	for i := range src.Hub.Stats() {
		c.shardLabels = append(c.shardLabels, strconv.Itoa(i))
	}
	return c
}

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.src.Hub.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	var total shard.Stats
	for i, st := range stats {
		gauge(c.shardStreams, float64(st.Clients), c.shardLabels[i])
		gauge(c.shardSubscriptions, float64(st.Subscriptions), c.shardLabels[i])
		gauge(c.mailbox, float64(st.Mailbox), c.shardLabels[i])
		gauge(c.ioUring, boolValue(st.IOUring), c.shardLabels[i])
		gauge(c.behind, float64(st.Behind), c.shardLabels[i])
		gauge(c.paused, boolValue(st.Paused), c.shardLabels[i])
		gauge(c.congested, boolValue(st.Congested), c.shardLabels[i])
		total.Pauses += st.Pauses
		total.PausedFor += st.PausedFor
		total.Clients += st.Clients
		total.Subscriptions += st.Subscriptions
		total.MailboxSize = st.MailboxSize
		total.Messages += st.Messages
		total.Deliveries += st.Deliveries
		total.Duplicates += st.Duplicates
		total.Replays += st.Replays
		total.Replayed += st.Replayed
		total.Resets += st.Resets
		total.PresenceFlushes += st.PresenceFlushes
		total.PresenceDeferred += st.PresenceDeferred
		for r, n := range st.Ended {
			total.Ended[r] += n
		}
	}
	gauge(c.openStreams, float64(total.Clients))
	gauge(c.subscriptions, float64(total.Subscriptions))
	gauge(c.mailboxCapacity, float64(total.MailboxSize))
	counter(c.dispatched, total.Messages)
	counter(c.delivered, total.Deliveries)
	counter(c.duplicates, total.Duplicates)
	counter(c.replays, total.Replays)
	counter(c.replayed, total.Replayed)
	counter(c.resets, total.Resets)
	for _, r := range c.reasons {
		counter(c.disconnects, total.Ended[r], r.String())
	}
	counter(c.pauses, total.Pauses)
	ch <- prometheus.MustNewConstMetric(c.pausedSeconds, prometheus.CounterValue, total.PausedFor.Seconds())
	ps := c.src.Hub.PublishStats()
	counter(c.publishRefused, ps.Refused)
	ch <- publishWaitHistogram(c.publishWait, ps)
	if c.src.Publishes != nil {
		counter(c.published, c.src.Publishes.Published(), "native")
	}
	if c.src.MercurePublishes != nil {
		counter(c.published, c.src.MercurePublishes.Published(), "mercure")
	}
	if c.src.Broker != nil {
		rs := c.src.Broker.Stats()
		counter(c.redisReconnects, rs.Reconnects)
		counter(c.redisProbeFailures, rs.ProbeFailures)
		counter(c.redisGapFills, rs.GapFills)
		counter(c.redisGapFilled, rs.GapMessages)
		counter(c.redisGapLosses, rs.GapLosses)
		gauge(c.redisOthersCongested, boolValue(rs.OthersCongested))
		counter(c.redisCongestionErrors, rs.CongestionErrors)
	}
	if c.src.Hub.Presence() != nil {
		pr := c.src.Hub.PresenceStats()
		gauge(c.presenceMembers, float64(pr.Members))
		counter(c.presenceBatches, pr.Batches)
		counter(c.presenceErrors, pr.Errors)
		counter(c.presenceFlushes, total.PresenceFlushes)
		counter(c.presenceDeferred, total.PresenceDeferred)
	}
	if c.src.MercureSubscriptions != nil {
		active, events, dropped, errs := c.src.MercureSubscriptions.MercureSubscriptionCounts()
		gauge(c.mercureSubs, float64(active))
		counter(c.mercureSubEvents, events)
		counter(c.mercureSubDropped, dropped)
		counter(c.mercureSubErrors, errs)
	}
	if c.src.History != nil {
		hs := c.src.History.HistoryStats()
		gauge(c.historyEvents, float64(hs.Events))
		gauge(c.historyBytes, float64(hs.Bytes))
		gauge(c.historyBudget, float64(hs.Budget))
		counter(c.historyDrops, hs.BudgetDrops)
	}
}

// publishWaitHistogram turns the hub's per-bucket wait counts into a
// Prometheus histogram, whose buckets are cumulative.
func publishWaitHistogram(d *prometheus.Desc, ps hub.PublishStats) prometheus.Metric {
	buckets := make(map[float64]uint64, len(hub.WaitBuckets))
	var count uint64
	for i, le := range hub.WaitBuckets {
		count += ps.Waits[i]
		buckets[le] = count
	}
	count += ps.Waits[len(hub.WaitBuckets)]
	return prometheus.MustNewConstHistogram(d, count, ps.WaitTime.Seconds(), buckets)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
