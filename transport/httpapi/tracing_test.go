package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// newTestTracer returns a tracer that samples every trace and records its
// spans, as they end, in the returned exporter.
func newTestTracer(t *testing.T) (*telemetry.Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return telemetry.NewTracer(tp), exp
}

// spansNamed returns the ended spans called name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// waitSpans waits until n spans called name have ended and returns them.
func waitSpans(t *testing.T, exp *tracetest.InMemoryExporter, name string, n int) []tracetest.SpanStub {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("%d %q spans", n, name), func() bool { return len(spansNamed(exp, name)) >= n })
	return spansNamed(exp, name)
}

func attrValue(s tracetest.SpanStub, key string) attribute.Value {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// attr returns the span's attribute key as text, and whether it has it.
func attr(s tracetest.SpanStub, key string) (string, bool) {
	v := attrValue(s, key)
	return v.String(), v.Type() != attribute.EMPTY
}

// traceparent formats a span context as the W3C header does.
func traceparent(sc trace.SpanContext) string {
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// remoteParent returns a context whose span is a remote one, as a publisher
// that sent a traceparent header would make it.
func remoteParent(t *testing.T, sampled bool) (context.Context, trace.SpanContext) {
	t.Helper()
	cfg := trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		Remote:  true,
	}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(cfg)
	return trace.ContextWithRemoteSpanContext(context.Background(), sc), sc
}

// Both brokers carry the publish's trace context to their subscribers (for
// Redis, through the envelope), only when the publish is sampled, and
// deliver untraced messages as before.
func TestBrokersCarryTraceContext(t *testing.T) {
	kinds := []struct {
		name string
		new  func(t *testing.T, tracer *telemetry.Tracer) broker.Broker
	}{
		{"memory", func(t *testing.T, tracer *telemetry.Tracer) broker.Broker {
			b := membroker.New(membroker.Config{Tracer: tracer})
			t.Cleanup(func() { b.Close() })
			return b
		}},
		{"redis", func(t *testing.T, tracer *telemetry.Tracer) broker.Broker {
			srv := redistest.Start(t)
			b, err := redisbroker.New(context.Background(), redisbroker.Config{
				Client: srv.Client(t), Tracer: tracer})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			tracer, exp := newTestTracer(t)
			for _, tc := range []struct {
				name      string
				tracer    *telemetry.Tracer
				sampled   bool
				wantTrace bool
			}{
				{"sampled", tracer, true, true},
				{"unsampled", tracer, false, false},
				{"no tracer", nil, true, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					exp.Reset()
					b := kind.new(t, tc.tracer)
					got, _ := brokertest.Listen(t, b, "news")
					ctx, parent := remoteParent(t, tc.sampled)
					if _, err := b.Publish(ctx, []broker.Publication{brokertest.Pub("1", "news"), brokertest.Pub("2", "news")}, broker.Idempotency{}); err != nil {
						t.Fatal(err)
					}
					testenv.WaitFor(t, "two messages", func() bool { return len(got.IDs()) == 2 })

					var want string
					if tc.wantTrace {
						spans := spansNamed(exp, "publish")
						if len(spans) != 1 || spans[0].SpanKind != trace.SpanKindProducer || spans[0].Parent.SpanID() != parent.SpanID() {
							t.Fatalf("publish spans = %+v, want one producer span, the child of the remote parent", spans)
						}
						if n, _ := attr(spans[0], "messaging.batch.message_count"); n != "2" {
							t.Errorf("publish span messaging.batch.message_count = %q, want 2", n)
						}
						want = traceparent(spans[0].SpanContext)
					} else if spans := exp.GetSpans(); len(spans) != 0 {
						t.Errorf("recorded %d spans (%v), want none", len(spans), spans[0].Name)
					}
					for _, m := range got.Messages() {
						if m.Trace != want {
							t.Errorf("message %v Trace = %q, want %q", m.ID, m.Trace, want)
						}
					}
				})
			}
		})
	}
}

// A publish request with a traceparent header makes one trace: the
// request's server span (the child of the header's span), the broker's
// producer span, and one consumer span per shard that delivered the event,
// with its recipient count. A stream's connect span ends once it is open.
func TestTracedPublishAndDelivery(t *testing.T) {
	tracer, exp := newTestTracer(t)
	th := startHub(t, hubOptions{
		hub:    hub.Config{Shards: 4, Shard: shard.Config{Observer: tracer}},
		server: httpapi.Config{Tracer: tracer},
		broker: membroker.Config{Tracer: tracer},
	})
	const subscribers = 6
	var streams []*stream
	for range subscribers {
		streams = append(streams, th.subscribe(t, "topic=news"))
	}
	connects := waitSpans(t, exp, "GET /events", subscribers)
	for _, s := range connects {
		if code, _ := attr(s, "http.response.status_code"); s.SpanKind != trace.SpanKindServer || code != "200" {
			t.Errorf("connect span kind %v status %q, want a server span with 200", s.SpanKind, code)
		}
	}

	_, parent := remoteParent(t, true)
	req, _ := http.NewRequest(http.MethodPost, th.url+"/publish",
		strings.NewReader(`[{"topic":"news","data":"1"},{"topics":["news","other"],"data":"2"}]`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", traceparent(parent))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /publish = %d %s", resp.StatusCode, body)
	}
	for _, s := range streams {
		s.expectData("1", "2")
	}

	server := waitSpans(t, exp, "POST /publish", 1)[0]
	if server.SpanContext.TraceID() != parent.TraceID() || server.Parent.SpanID() != parent.SpanID() || server.SpanKind != trace.SpanKindServer {
		t.Fatalf("publish server span %v parent %v, want a server span, the child of %v", server.SpanContext, server.Parent, parent)
	}
	if n, _ := attr(server, "ssehub.topic_count"); n != "2" {
		t.Errorf("ssehub.topic_count = %q, want 2", n)
	}
	var published struct{ IDs []string }
	_ = json.Unmarshal(body, &published)
	if ids := attrValue(server, "ssehub.event_ids").AsStringSlice(); !slices.Equal(ids, published.IDs) || len(ids) != 2 {
		t.Errorf("ssehub.event_ids = %q, want the ids of the response %s", ids, body)
	}
	producer := waitSpans(t, exp, "publish", 1)[0]
	if producer.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("producer span's parent = %v, want the server span %v", producer.Parent.SpanID(), server.SpanContext.SpanID())
	}
	// Each event reaches every shard with a subscriber once: one span per
	// event per such shard, whose recipient counts add up.
	shards := 0
	for _, st := range th.hub.Stats() {
		if st.Clients > 0 {
			shards++
		}
	}
	deliveries := waitSpans(t, exp, "deliver", 2*shards)
	recipients := map[string]int{}
	for _, d := range deliveries {
		if d.Parent.SpanID() != producer.SpanContext.SpanID() || d.SpanKind != trace.SpanKindConsumer {
			t.Errorf("deliver span kind %v parent %v, want a consumer span, the child of the producer %v", d.SpanKind, d.Parent.SpanID(), producer.SpanContext.SpanID())
		}
		id, _ := attr(d, "messaging.message.id")
		recipients[id] += int(attrValue(d, "ssehub.recipients").AsInt64())
	}
	if len(deliveries) != 2*shards || len(recipients) != 2 {
		t.Errorf("%d deliver spans for %d events, want one per event per shard with subscribers (%d)", len(deliveries), len(recipients), 2*shards)
	}
	for id, n := range recipients {
		if n != subscribers {
			t.Errorf("event %s: recipients add up to %d, want %d", id, n, subscribers)
		}
	}
}

// A publish whose traceparent says "not sampled" records nothing, and its
// event carries no trace to the shards.
func TestUnsampledPublishRecordsNoSpan(t *testing.T) {
	tracer, exp := newTestTracer(t)
	th := startHub(t, hubOptions{
		hub:    hub.Config{Shard: shard.Config{Observer: tracer}},
		server: httpapi.Config{Tracer: tracer},
		broker: membroker.Config{Tracer: tracer},
	})
	s := th.subscribe(t, "topic=news")
	waitSpans(t, exp, "GET /events", 1)
	exp.Reset()
	_, parent := remoteParent(t, false)
	req, _ := http.NewRequest(http.MethodPost, th.url+"/publish", strings.NewReader(`{"topic":"news","data":"1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", traceparent(parent))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.expectData("1")
	if spans := exp.GetSpans(); len(spans) != 0 {
		names := make([]string, len(spans))
		for i, sp := range spans {
			names[i] = sp.Name
		}
		t.Errorf("recorded spans %v, want none", names)
	}
}
