package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/sockopt"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/internal/telemetry/metrics"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/redisbroker"
	"github.com/ssehub/ssehub/transport/sse"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's worker-pool cleaner and Date-header goroutines end on
		// their own schedule (see transport/httpapi's TestMain).
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	)
}

// testHub is a real hub on the embedded broker, serving /metrics.
type testHub struct {
	addr string
	hub  *hub.Hub
}

func startHub(t *testing.T, shardCfg shard.Config) *testHub {
	t.Helper()
	m := metrics.New()
	b := membroker.New(membroker.Config{})
	shardCfg.Observer = m
	h, err := hub.New(hub.Config{Shards: 2, Shard: shardCfg}, b)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(h, httpapi.Config{Metrics: m.Handler(), SendBuffer: 4096})
	m.Watch(metrics.Sources{Hub: h, Publishes: srv})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = h.Shutdown(ctx)
		testenv.Recv(t, "Serve to return after Shutdown", served)
		b.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return &testHub{addr: ln.Addr().String(), hub: h}
}

// scrape reads GET /metrics and returns every sample by its name and labels
// as Prometheus prints them: `name{label="value"}`; a histogram as its
// _count and _sum.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s = %d %s, want 200 text/plain", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: parse: %v", url, err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			key := name + labels(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels(m)] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labels(m)] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// check compares the named samples of got with want.
func check(t *testing.T, when string, got map[string]float64, want map[string]float64) {
	t.Helper()
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: %s = %v (present %v), want %v", when, name, g, ok, w)
		}
	}
}

func publish(t *testing.T, addr, body string) []string {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish = %d %s", resp.StatusCode, raw)
	}
	var out struct{ IDs []string }
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("publish response %s: %v", raw, err)
	}
	return out.IDs
}

// subscribe opens a stream; with rcvBuf > 0 the client's receive buffer is
// that small, so a client that stops reading fills up at once.
func subscribe(t *testing.T, addr, query string, rcvBuf int, headers ...string) (net.Conn, *sse.Reader) {
	t.Helper()
	var d net.Dialer
	if rcvBuf > 0 {
		d.Control = sockopt.RecvBuffer(rcvBuf)
	}
	conn, resp := ssetest.Open(t, &d, addr, query, headers...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe %s: %s", query, resp.Status)
	}
	return conn, sse.NewReader(resp.Body)
}

func next(t *testing.T, conn net.Conn, r *sse.Reader) sse.Event {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	e, err := r.Next()
	if err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	return e
}

// poll scrapes until cond holds for the samples, or fails after 5s.
func poll(t *testing.T, url, what string, cond func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := scrape(t, url)
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: no %s within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsFollowEventsAndEvictions scrapes /metrics of a real server as
// streams open, events flow, streams resume and a stuck client is evicted.
func TestMetricsFollowEventsAndEvictions(t *testing.T) {
	th := startHub(t, shard.Config{QueueSize: 4, WriteTimeout: time.Minute})
	url := "http://" + th.addr + "/metrics"
	check(t, "at start", scrape(t, url), map[string]float64{
		"ssehub_open_streams": 0, `ssehub_events_published_total{door="native"}`: 0, "ssehub_events_delivered_total": 0,
		`ssehub_stream_disconnects_total{reason="slow"}`: 0, "ssehub_shard_mailbox_capacity_messages": 1024,
		`ssehub_shard_open_streams{shard="0"}`: 0, `ssehub_shard_open_streams{shard="1"}`: 0,
	})
	start := scrape(t, url)
	if start["go_goroutines"] == 0 || start["process_resident_memory_bytes"] == 0 {
		t.Errorf("no Go runtime or process metrics")
	}
	for name := range start {
		if strings.HasPrefix(name, "ssehub_redis_") {
			t.Errorf("the embedded broker's hub exports %s; Redis metrics are for the Redis broker", name)
		}
	}

	type reader struct {
		conn net.Conn
		r    *sse.Reader
	}
	var readers []reader
	for range 3 {
		conn, r := subscribe(t, th.addr, "topic=news", 0)
		readers = append(readers, reader{conn, r})
	}
	subscribe(t, th.addr, "topic=news", 4096) // never reads again
	ids := publish(t, th.addr, `[{"topic":"news","data":"1"},{"topic":"news","data":"2"},{"topic":"other","data":"3"}]`)
	for _, rd := range readers {
		for _, want := range []string{"1", "2"} {
			if e := next(t, rd.conn, rd.r); e.Data != want {
				t.Fatalf("event data %q, want %q", e.Data, want)
			}
		}
	}
	got := poll(t, url, "8 deliveries", func(m map[string]float64) bool { return m["ssehub_events_delivered_total"] == 8 })
	check(t, "after 3 events to 4 streams", got, map[string]float64{
		"ssehub_open_streams": 4, "ssehub_subscriptions": got["ssehub_subscriptions"], `ssehub_events_published_total{door="native"}`: 3,
		"ssehub_events_delivered_total": 8, `ssehub_stream_disconnects_total{reason="slow"}`: 0,
	})
	if n := got["ssehub_subscriptions"]; n < 1 || n > 2 {
		t.Errorf("ssehub_subscriptions = %v, want news on the one or two shards with streams", n)
	}
	if per := got[`ssehub_shard_open_streams{shard="0"}`] + got[`ssehub_shard_open_streams{shard="1"}`]; per != 4 {
		t.Errorf("per-shard open streams add up to %v, want 4", per)
	}
	// One observation per event per shard with recipients.
	if n := got["ssehub_delivery_latency_seconds_count"]; n != 2*got["ssehub_subscriptions"] {
		t.Errorf("ssehub_delivery_latency_seconds_count = %v, want 2 per shard with streams", n)
	}
	if sum := got["ssehub_delivery_latency_seconds_sum"]; sum < 0 || sum > 10 {
		t.Errorf("ssehub_delivery_latency_seconds_sum = %v, want a few milliseconds", sum)
	}

	// A resume from history, and one from an unknown id.
	resumed, _ := subscribe(t, th.addr, "topic=news", 0, "Last-Event-ID: "+ids[0])
	reset, _ := subscribe(t, th.addr, "topic=news", 0, "Last-Event-ID: 1-0")
	poll(t, url, "a replay and a reset", func(m map[string]float64) bool {
		return m["ssehub_replays_total"] == 1 && m["ssehub_replayed_events_total"] == 1 && m["ssehub_resets_total"] == 1
	})

	// Big events until the stuck client's queue is full: it is evicted. The
	// other streams keep reading, so it is the only one behind: were they
	// all behind, the hub would hold publishes back instead (see shard's
	// "Overload").
	readAll := func(conn net.Conn) {
		conn.SetReadDeadline(time.Time{})
		go func() { _, _ = io.Copy(io.Discard, conn) }()
	}
	for _, rd := range readers {
		readAll(rd.conn)
	}
	readAll(resumed)
	readAll(reset)
	payload := strings.Repeat("x", 60<<10)
	evicted := func(m map[string]float64) bool { return m[`ssehub_stream_disconnects_total{reason="slow"}`] == 1 }
	for i := 0; i < 200 && !evicted(scrape(t, url)); i++ {
		publish(t, th.addr, `{"topic":"news","data":"`+payload+`"}`)
	}
	got = poll(t, url, "the eviction", evicted)
	check(t, "after the eviction", got, map[string]float64{"ssehub_open_streams": 5})
	if n := got[`ssehub_events_published_total{door="native"}`]; n <= 3 {
		t.Errorf("ssehub_events_published_total = %v, want more than 3", n)
	}
}

// The Redis broker's counters are exported when it is the broker.
func TestRedisMetrics(t *testing.T) {
	srv := redistest.Start(t)
	b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: srv.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h, err := hub.New(hub.Config{Shards: 1}, b)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	m := metrics.New()
	m.Watch(metrics.Sources{Hub: h, Broker: b})
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"ssehub_redis_reconnects_total": false, "ssehub_redis_probe_failures_total": false,
		"ssehub_redis_gap_fills_total": false, "ssehub_redis_gap_filled_events_total": false, "ssehub_redis_gap_losses_total": false}
	for _, f := range families {
		if _, ok := want[f.GetName()]; ok {
			want[f.GetName()] = true
		}
		if f.GetName() == "ssehub_events_published_total" {
			t.Errorf("ssehub_events_published_total exported without a server")
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("%s not exported", name)
		}
	}
}

// Observing a delivery costs no allocation: it runs once per message per
// shard, on the shard loop.
func TestDeliveredDoesNotAllocate(t *testing.T) {
	m := metrics.New()
	msg := &broker.Message{ID: eventid.ID{Time: uint64(time.Now().UnixMilli())}}
	start := time.Now()
	if allocs := testing.AllocsPerRun(1000, func() { m.Delivered(msg, 10, start) }); allocs != 0 {
		t.Errorf("Delivered: %v allocs, want 0", allocs)
	}
}

// fakeSubs reports fixed Mercure subscription counts.
type fakeSubs struct{}

func (fakeSubs) MercureSubscriptionCounts() (int64, uint64, uint64, uint64) { return 3, 7, 2, 1 }

// The Mercure door's subscription counters are exported when it reports
// them, and absent otherwise.
func TestMercureSubscriptionMetrics(t *testing.T) {
	b := membroker.New(membroker.Config{})
	defer b.Close()
	h, err := hub.New(hub.Config{Shards: 1}, b)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	want := map[string]float64{"ssehub_mercure_subscriptions": 3, "ssehub_mercure_subscription_events_total": 7,
		"ssehub_mercure_subscriptions_dropped_total": 2, "ssehub_mercure_subscription_errors_total": 1}
	for _, src := range []metrics.Sources{{Hub: h}, {Hub: h, MercureSubscriptions: fakeSubs{}}} {
		m := metrics.New()
		m.Watch(src)
		families, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range families {
			if _, ok := want[f.GetName()]; ok {
				mt := f.GetMetric()[0]
				got[f.GetName()] = mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
			}
		}
		if src.MercureSubscriptions == nil && len(got) != 0 {
			t.Errorf("without a reporter: %v exported", got)
		}
		if src.MercureSubscriptions != nil && !maps.Equal(got, want) {
			t.Errorf("exported %v, want %v", got, want)
		}
	}
}
