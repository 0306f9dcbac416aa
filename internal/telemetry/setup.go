package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Enabled reports whether the environment asks for traces: the SDK is not
// disabled (OTEL_SDK_DISABLED), and OTEL_TRACES_EXPORTER names an exporter
// other than "none", or is unset while an OTLP endpoint is set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), in
// which case it means "otlp" as the specification says.
//
// The specification's default exporter is "otlp" even with nothing set; ssehub
// traces only when asked to, since a hub nobody collects traces from
// should not try to reach a collector on localhost.
func Enabled(lookupEnv func(string) (string, bool)) bool {
	get := func(k string) string { v, _ := lookupEnv(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch exporter := get("OTEL_TRACES_EXPORTER"); exporter {
	case "none":
		return false
	case "":
		return get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return true
	}
}

// Setup configures tracing from the standard OpenTelemetry environment
// variables: the exporter (OTEL_TRACES_EXPORTER: otlp or console; see
// autoexport), its endpoint and protocol (OTEL_EXPORTER_OTLP_*), the
// sampler (OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG), the batching
// (OTEL_BSP_*) and the resource (OTEL_SERVICE_NAME, default "ssehub", and
// OTEL_RESOURCE_ATTRIBUTES). It returns a nil Tracer when Enabled says no,
// and a function that exports the spans still buffered and stops the
// exporter, bounded by its context; call it at shutdown.
//
// OpenTelemetry's internal errors (an unreachable collector, a malformed
// sampler argument) are logged to log as warnings.
func Setup(ctx context.Context, log *slog.Logger) (*Tracer, func(context.Context) error, error) {
	if !Enabled(os.LookupEnv) {
		return nil, func(context.Context) error { return nil }, nil
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "err", err)
	}))
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing exporter OTEL_TRACES_EXPORTER=%q: %w", os.Getenv("OTEL_TRACES_EXPORTER"), err)
	}
	res, err := resource.New(ctx,
		resource.WithService(), // service.instance.id, unique per process
		resource.WithAttributes(semconv.ServiceName("ssehub")),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithFromEnv(), // last, so that the environment wins
	)
	if err != nil {
		_ = exporter.Shutdown(ctx)
		return nil, nil, fmt.Errorf("tracing resource: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based
	// always-on), read by the SDK itself.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return NewTracer(tp), tp.Shutdown, nil
}
