// Package telemetry traces ssehub with OpenTelemetry. One event makes one
// trace: the publish request (a server span), the broker publish (a
// producer span), and one delivery span per shard that delivered it (a
// consumer span, never one per recipient). The publish's context travels
// with the message through the broker as a W3C traceparent, in the Redis
// envelope in fleet mode, so the deliveries of every process join the trace.
package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ssehub/ssehub/hub/broker"
)

// ScopeName names ssehub's instrumentation scope.
const ScopeName = "github.com/ssehub/ssehub"

// Attribute keys of ssehub's own span attributes.
const (
	// TopicCountKey: how many distinct topics a publish request names.
	TopicCountKey = attribute.Key("ssehub.topic_count")
	// EventIDsKey: the ids a publish request was given, in request order.
	EventIDsKey = attribute.Key("ssehub.event_ids")
	// TopicsKey: the topics of a delivered event.
	TopicsKey = attribute.Key("ssehub.topics")
	// RecipientsKey: how many streams of one shard an event was delivered to.
	RecipientsKey = attribute.Key("ssehub.recipients")
	// BrokerKey: the broker a publish went through, "memory" or "redis".
	BrokerKey = attribute.Key("ssehub.broker")
)

// Tracer creates ssehub's spans. A nil *Tracer traces nothing: its methods
// return at once, touching neither headers nor messages, so a hub without
// tracing pays nothing for it.
type Tracer struct {
	tracer trace.Tracer
}

// NewTracer returns a Tracer that creates its spans with tp.
func NewTracer(tp trace.TracerProvider) *Tracer {
	return &Tracer{tracer: tp.Tracer(ScopeName)}
}

// noSpan is what a nil Tracer starts: ending it does nothing, and it never
// ends a span of the caller's context.
var noSpan trace.Span = noop.Span{}

// propagator reads and writes W3C trace context: the traceparent header,
// and tracestate, which ssehub does not carry through the broker.
var propagator = propagation.TraceContext{}

// StartServer starts the server span of an HTTP request to route ("POST
// /publish"): the child of the remote span that carrier's traceparent
// names, or a new trace's root. The caller ends the span.
func (t *Tracer) StartServer(carrier propagation.TextMapCarrier, method, route string) (context.Context, trace.Span) {
	if t == nil {
		return context.Background(), noSpan
	}
	ctx := propagator.Extract(context.Background(), carrier)
	ctx, span := t.tracer.Start(ctx, method+" "+route, serverKind...)
	if span.IsRecording() {
		span.SetAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.HTTPRoute(route))
	}
	return ctx, span
}

// The span kinds as start options, made once: most spans are not sampled,
// and those should cost as little as possible. For the same reason the
// attributes are set after the start, only on spans that record: ssehub's
// samplers (those of OTEL_TRACES_SAMPLER) do not look at them.
var (
	serverKind   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	producerKind = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
)

// StartPublish starts the producer span of a broker publish of n events,
// the child of ctx's span. It returns the traceparent the events must carry
// to their deliveries: empty when the span is not sampled, so that an
// unsampled publish costs no span anywhere downstream.
func (t *Tracer) StartPublish(ctx context.Context, brokerName string, n int) (context.Context, trace.Span, string) {
	if t == nil {
		return ctx, noSpan, ""
	}
	ctx, span := t.tracer.Start(ctx, "publish", producerKind...)
	if !span.SpanContext().IsSampled() {
		return ctx, span, ""
	}
	span.SetAttributes(semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("publish"),
		semconv.MessagingBatchMessageCount(n), BrokerKey.String(brokerName))
	var c traceparentCarrier
	propagator.Inject(ctx, &c)
	return ctx, span, c.traceparent
}

// Delivered implements shard.Observer: it records the delivery of a traced
// message by one shard as a consumer span, the child of the publish, from
// start to now.
func (t *Tracer) Delivered(m *broker.Message, recipients int, start time.Time) {
	if t == nil || m.Trace == "" {
		return
	}
	ctx := propagator.Extract(context.Background(), &traceparentCarrier{traceparent: m.Trace})
	_, span := t.tracer.Start(ctx, "deliver", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(start),
		trace.WithAttributes(semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("deliver"),
			semconv.MessagingMessageID(m.ID.String()), TopicsKey.StringSlice(m.Topics), RecipientsKey.Int(recipients)))
	span.End()
}

// End ends span, marking it failed with err if err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// EndServer ends the server span of a request answered with status, marking
// it failed for a server error (5xx: a client error is no failure of ours).
func EndServer(span trace.Span, status int) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// traceparentCarrier carries the traceparent alone: the one field, about
// 55 bytes, that ssehub puts in a message's envelope.
type traceparentCarrier struct{ traceparent string }

const traceparentHeader = "traceparent"

func (c *traceparentCarrier) Get(key string) string {
	if key == traceparentHeader {
		return c.traceparent
	}
	return ""
}

func (c *traceparentCarrier) Set(key, value string) {
	if key == traceparentHeader {
		c.traceparent = value
	}
}

func (c *traceparentCarrier) Keys() []string { return []string{traceparentHeader} }
