package telemetry_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/internal/telemetry/metrics"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/membroker"
)

// dispatchCounter is a shard observer that counts dispatches (one per
// event per shard), and wakes a waiter once a target is reached.
type dispatchCounter struct {
	n       atomic.Int64
	target  atomic.Int64
	reached chan struct{} // capacity 1
	timeout *time.Timer   // owned by the waiter
}

func (c *dispatchCounter) Delivered(*broker.Message, int, time.Time) {
	if c.n.Add(1) >= c.target.Load() {
		select {
		case c.reached <- struct{}{}:
		default:
		}
	}
}

// wait returns once n dispatches in all have been made.
func (c *dispatchCounter) wait(b *testing.B, n int64) {
	c.target.Store(n)
	for c.n.Load() < n {
		c.timeout.Reset(10 * time.Second)
		select {
		case <-c.reached:
		case <-c.timeout.C:
			b.Fatalf("%d of %d dispatches after 10s", c.n.Load(), n)
		}
	}
}

// nullConn is a stream's connection to /dev/null: a real file descriptor,
// so the shards write to it with a system call per write, straight from
// their loop when they can, as they write to sockets. It has no deadlines,
// and the benchmark closes it.
type nullConn struct{ *os.File }

func (nullConn) SetWriteDeadline(time.Time) error { return nil }
func (nullConn) Close() error                     { return nil }

// BenchmarkBroadcastTracing measures what tracing costs on the publish
// path: the publish request's server span, the broker's producer span, one
// event through the embedded broker to every shard, and each shard's
// fan-out to its streams with one delivery span per shard. ns/op is per
// event. The setups: no observer at all (the shards before issue 6);
// tracing off (metrics only, ssehub's default); tracing on but sampling
// nothing (OTEL_TRACES_SAMPLER=parentbased_traceidratio, ratio 0); and 1%
// sampled, exporting through the batcher to a discarding exporter.
func BenchmarkBroadcastTracing(b *testing.B) {
	setups := []struct {
		name    string
		metrics bool
		ratio   float64 // negative: no tracer
	}{
		{"observers=none", false, -1},
		{"tracing=off", true, -1},
		{"tracing=unsampled", true, 0},
		{"tracing=sampled_1pct", true, 0.01},
	}
	for _, subs := range []int{4, 1000} {
		for _, setup := range setups {
			b.Run(fmt.Sprintf("subs=%d/%s", subs, setup.name), func(b *testing.B) {
				tracer := benchTracer(b, setup.ratio)
				var obs []shard.Observer
				if setup.metrics {
					obs = append(obs, metrics.New())
				}
				if tracer != nil {
					obs = append(obs, tracer)
				}
				benchmarkBroadcast(b, subs, tracer, shard.Observers(obs...))
			})
		}
	}
}

func benchmarkBroadcast(b *testing.B, subs int, tracer *telemetry.Tracer, obs shard.Observer) {
	const shards = 4
	brk := membroker.New(membroker.Config{HistorySize: 16, Tracer: tracer})
	defer brk.Close()
	dispatched := &dispatchCounter{reached: make(chan struct{}, 1), timeout: time.NewTimer(time.Hour)}
	defer dispatched.timeout.Stop()
	h, err := hub.New(hub.Config{Shards: shards, Shard: shard.Config{
		QueueSize: 256, Heartbeat: time.Hour, Observer: shard.Observers(obs, dispatched)}}, brk)
	if err != nil {
		b.Fatal(err)
	}
	var opened sync.WaitGroup
	opened.Add(subs)
	for range subs {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close() // after the hub's shutdown, deferred below
		err = h.Stream(nullConn{f}, hub.StreamRequest{Stream: shard.Stream{
			Selection: broker.Selection{Topics: []string{"news"}},
			OnOpen:    opened.Done,
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	defer h.Shutdown(context.Background())
	testenv.WaitAll(b, "every stream to open", &opened)
	busy := 0
	for _, st := range h.Stats() {
		if st.Clients > 0 {
			busy++
		}
	}

	pubs := []broker.Publication{{Topics: []string{"news"}, Data: []byte(`{"headline":"a small event, as most are"}`)}}
	noHeader := propagation.MapCarrier{} // each publish starts a trace, which the sampler decides
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ctx, span := tracer.StartServer(noHeader, "POST", "/publish")
		if _, err := h.Publish(ctx, pubs, hub.Idempotency{}); err != nil {
			b.Fatal(err)
		}
		telemetry.EndServer(span, 200)
		// One event at a time: the shards find their mailboxes empty, so
		// they write to every stream at once from their loops, as they do
		// at moderate rates; a shard that found more waiting would queue
		// and start flushers, which this benchmark is not about.
		dispatched.wait(b, int64(i+1)*int64(busy))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	var delivered, evicted uint64
	for _, st := range h.Stats() {
		delivered += st.Deliveries
		evicted += st.Ended[shard.ReasonSlow] + st.Ended[shard.ReasonWriteFailed]
	}
	if evicted > 0 || delivered != uint64(b.N)*uint64(subs) {
		b.Fatalf("%d deliveries for %d events to %d streams, %d streams ended", delivered, b.N, subs, evicted)
	}
}

// BenchmarkTracingPerEvent measures tracing's own work for one event, in
// one goroutine and without the hub: the request's server span, the
// producer span and its traceparent, and the delivery spans of four
// shards. It is the difference tracing makes to each event, free of the
// scheduling noise of BenchmarkBroadcastTracing.
func BenchmarkTracingPerEvent(b *testing.B) {
	for _, setup := range []struct {
		name  string
		ratio float64 // negative: no tracer
	}{
		{"tracing=off", -1},
		{"tracing=unsampled", 0},
		{"tracing=sampled_1pct", 0.01},
		{"tracing=sampled_all", 1},
	} {
		b.Run(setup.name, func(b *testing.B) {
			tracer := benchTracer(b, setup.ratio)
			noHeader := propagation.MapCarrier{}
			msg := &broker.Message{Topics: []string{"news"}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ctx, span := tracer.StartServer(noHeader, "POST", "/publish")
				_, producer, tp := tracer.StartPublish(ctx, "memory", 1)
				msg.ID.Seq, msg.Trace = uint64(i), tp
				for range 4 {
					tracer.Delivered(msg, 250, time.Now())
				}
				producer.End()
				telemetry.EndServer(span, 200)
			}
		})
	}
}

// benchTracer returns a tracer sampling ratio of new traces into a no-op
// exporter, shut down when b ends; a negative ratio means tracing off
// (nil).
func benchTracer(b *testing.B, ratio float64) *telemetry.Tracer {
	if ratio < 0 {
		return nil
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return telemetry.NewTracer(tp)
}
