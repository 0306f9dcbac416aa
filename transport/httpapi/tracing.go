package httpapi

import (
	"go.opentelemetry.io/otel/trace"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/telemetry"
)

// tracePublish adds what a publish request did to its span: how many
// distinct topics it named, and the ids its events were given.
func tracePublish(span trace.Span, pubs []broker.Publication, ids []string) {
	if !span.IsRecording() {
		return
	}
	topics := make(map[string]struct{})
	for _, p := range pubs {
		for _, t := range p.Topics {
			topics[t] = struct{}{}
		}
	}
	span.SetAttributes(telemetry.TopicCountKey.Int(len(topics)), telemetry.EventIDsKey.StringSlice(ids))
}
