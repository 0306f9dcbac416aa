package telemetry_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	remoteTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSpanID  = "00f067aa0ba902b7"
)

func newTracer(t testing.TB, sampler sdktrace.Sampler) (*telemetry.Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return telemetry.NewTracer(tp), exp
}

func header(traceparent string) propagation.MapCarrier {
	if traceparent == "" {
		return propagation.MapCarrier{}
	}
	return propagation.MapCarrier{"traceparent": traceparent}
}

// The three spans of one event chain up: the request's server span under
// the client's traceparent, the producer span under it, and a consumer
// span per delivery under the traceparent the message carried.
func TestSpansChain(t *testing.T) {
	tracer, exp := newTracer(t, sdktrace.ParentBased(sdktrace.AlwaysSample()))
	ctx, server := tracer.StartServer(header("00-"+remoteTraceID+"-"+remoteSpanID+"-01"), "POST", "/publish")
	ctx, producer, tp := tracer.StartPublish(ctx, "memory", 3)
	producer.End()
	telemetry.EndServer(server, 200)

	want := "00-" + server.SpanContext().TraceID().String() + "-" + producer.SpanContext().SpanID().String() + "-01"
	if tp != want {
		t.Fatalf("StartPublish traceparent = %q, want %q", tp, want)
	}
	if trace.SpanFromContext(ctx) != producer {
		t.Errorf("StartPublish's context does not hold the producer span")
	}
	start := time.Now().Add(-time.Millisecond)
	msg := &broker.Message{ID: eventid.ID{Time: 1, Seq: 2}, Topics: []string{"a", "b"}, Trace: tp}
	tracer.Delivered(msg, 7, start)

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
		if got := s.SpanContext.TraceID().String(); got != remoteTraceID {
			t.Errorf("span %s trace id = %s, want the client's %s", s.Name, got, remoteTraceID)
		}
	}
	for _, tt := range []struct {
		name   string
		kind   trace.SpanKind
		parent string
	}{
		{"POST /publish", trace.SpanKindServer, remoteSpanID},
		{"publish", trace.SpanKindProducer, server.SpanContext().SpanID().String()},
		{"deliver", trace.SpanKindConsumer, producer.SpanContext().SpanID().String()},
	} {
		s, ok := byName[tt.name]
		if !ok {
			t.Errorf("no span %q", tt.name)
			continue
		}
		if s.SpanKind != tt.kind || s.Parent.SpanID().String() != tt.parent {
			t.Errorf("span %q: kind %v parent %s, want %v under %s", tt.name, s.SpanKind, s.Parent.SpanID(), tt.kind, tt.parent)
		}
	}
	deliver := byName["deliver"]
	if !deliver.StartTime.Equal(start) {
		t.Errorf("deliver span starts %v, want the fan-out's start %v", deliver.StartTime, start)
	}
	attrs := map[string]string{}
	for _, kv := range deliver.Attributes {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["ssehub.recipients"] != "7" || attrs["messaging.message.id"] != "1-2" {
		t.Errorf("deliver span attributes = %v, want 7 recipients of message 1-2", attrs)
	}
}

// An unsampled publish hands no traceparent to its messages, so no shard
// makes a span for them; neither does a message without one.
func TestUnsampledPublishCarriesNothing(t *testing.T) {
	tracer, exp := newTracer(t, sdktrace.ParentBased(sdktrace.AlwaysSample()))
	ctx, server := tracer.StartServer(header("00-"+remoteTraceID+"-"+remoteSpanID+"-00"), "POST", "/publish")
	_, producer, tp := tracer.StartPublish(ctx, "redis", 1)
	producer.End()
	server.End()
	if tp != "" {
		t.Errorf("unsampled StartPublish traceparent = %q, want none", tp)
	}
	tracer.Delivered(&broker.Message{Trace: tp}, 1, time.Now())
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans recorded, want none", n)
	}
}

// A nil Tracer does nothing, and the spans it returns do not end the
// caller's.
func TestNilTracer(t *testing.T) {
	var tracer *telemetry.Tracer
	real, exp := newTracer(t, sdktrace.AlwaysSample())
	ctx, parent := real.StartServer(header(""), "GET", "/x")

	sctx, span := tracer.StartServer(header("00-"+remoteTraceID+"-"+remoteSpanID+"-01"), "POST", "/publish")
	if span.IsRecording() || trace.SpanContextFromContext(sctx).IsValid() {
		t.Errorf("nil Tracer's server span records or carries a trace")
	}
	pctx, producer, tp := tracer.StartPublish(ctx, "memory", 1)
	if tp != "" || producer.IsRecording() || pctx != ctx {
		t.Errorf("nil Tracer's StartPublish = (%v, %v, %q), want the context back, a no-op span, no traceparent", pctx, producer, tp)
	}
	telemetry.End(producer, errors.New("failed"))
	telemetry.EndServer(span, 500)
	tracer.Delivered(&broker.Message{Trace: "00-" + remoteTraceID + "-" + remoteSpanID + "-01"}, 1, time.Now())
	if n := len(exp.GetSpans()); n != 0 || !parent.IsRecording() {
		t.Errorf("nil Tracer's spans ended the caller's span or recorded %d spans", n)
	}
}

func TestEndMarksErrors(t *testing.T) {
	tracer, exp := newTracer(t, sdktrace.AlwaysSample())
	_, ok, _ := tracer.StartPublish(context.Background(), "memory", 1)
	telemetry.End(ok, nil)
	_, failed, _ := tracer.StartPublish(context.Background(), "memory", 1)
	telemetry.End(failed, errors.New("redis down"))
	_, s500 := tracer.StartServer(header(""), "POST", "/publish")
	telemetry.EndServer(s500, 503)
	_, s400 := tracer.StartServer(header(""), "POST", "/publish")
	telemetry.EndServer(s400, 400)
	var got []codes.Code
	for _, s := range exp.GetSpans() {
		got = append(got, s.Status.Code)
	}
	want := []codes.Code{codes.Unset, codes.Error, codes.Error, codes.Unset}
	if len(got) != len(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statuses %v, want %v (a client error is no failure of the server)", got, want)
			break
		}
	}
}

func TestEnabled(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": " "}, false},
		{map[string]string{"OTEL_SERVICE_NAME": "hub", "OTEL_TRACES_SAMPLER": "always_on"}, false},
	} {
		lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
		if got := telemetry.Enabled(lookup); got != tt.want {
			t.Errorf("Enabled(%v) = %v, want %v", tt.env, got, tt.want)
		}
	}
}

func TestSetup(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		exporter   string
		wantTracer bool
		wantErr    string
	}{
		{"", false, ""},
		{"none", false, ""},
		{"console", true, ""},
		{"otlp", true, ""},
		{"zipkin-not-built-in", false, "zipkin-not-built-in"},
	} {
		t.Run(tt.exporter, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_EXPORTER", tt.exporter)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
			tracer, shutdown, err := telemetry.Setup(context.Background(), log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Setup error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tracer != nil) != tt.wantTracer {
				t.Errorf("Setup tracer = %v, want one: %v", tracer, tt.wantTracer)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}
