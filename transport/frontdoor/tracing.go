package frontdoor

import (
	"context"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/shard"
)

// There is no otelhttp for fasthttp: requestHeader and StartSpan are the
// small middleware that extracts a request's trace context.

// requestHeader adapts a fasthttp request's headers to OpenTelemetry's
// propagators. Get copies the value: fasthttp reuses the header's buffers
// once the handler returns, and the span may outlive it.
type requestHeader struct{ h *fasthttp.RequestHeader }

func (r requestHeader) Get(key string) string { return string(r.h.Peek(key)) }
func (r requestHeader) Set(key, value string) { r.h.Set(key, value) }

func (r requestHeader) Keys() []string {
	var keys []string
	for k := range r.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

// StartSpan starts the server span of a request to route, the child of the
// traceparent the client sent, if any. Without a tracer it returns a span
// that does nothing, having read no header.
func (d *Door) StartSpan(ctx *fasthttp.RequestCtx, route string) (context.Context, trace.Span) {
	return d.cfg.Tracer.StartServer(requestHeader{&ctx.Request.Header}, string(ctx.Method()), route)
}

// connectSpan is the span of a stream's connect. It ends once: when the
// stream opens (its subscriptions are active and its head is on the way),
// or when the stream ends before that. The stream's life is for metrics
// to show; a span open for hours would help no one.
//
// A nil *connectSpan stands for a span that records nothing: its methods
// do nothing, so an untraced stream costs no allocation for it.
type connectSpan struct {
	span trace.Span
	// done is owned by whoever ends the span: the shard loop (OnOpen,
	// OnEnd), or the hijack handler when the hub refused the stream.
	done bool
}

func newConnectSpan(span trace.Span) *connectSpan {
	if !span.IsRecording() {
		span.End()
		return nil
	}
	return &connectSpan{span: span}
}

// callbacks returns the stream's OnOpen and OnEnd for the span, calling
// onEnd too; OnOpen is nil when the span records nothing.
func (c *connectSpan) callbacks(onEnd func(shard.Reason)) (func(), func(shard.Reason)) {
	if c == nil {
		return nil, onEnd
	}
	return c.opened, func(r shard.Reason) {
		c.failed("stream ended before it opened: " + r.String())
		onEnd(r)
	}
}

func (c *connectSpan) opened() {
	if !c.done {
		c.done = true
		telemetry.EndServer(c.span, fasthttp.StatusOK)
	}
}

// failed ends the span of a stream that did not open, saying why. Its
// status is still 200: that is what the client was answered.
func (c *connectSpan) failed(why string) {
	if c != nil && !c.done {
		c.done = true
		c.span.SetStatus(codes.Error, why)
		telemetry.EndServer(c.span, fasthttp.StatusOK)
	}
}
