package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/internal/telemetry/metrics"
	"github.com/ssehub/ssehub/shard"
)

// observers returns what watches the shards' deliveries: the metrics, and
// the tracer when tracing is on.
func observers(m *metrics.Metrics, tracer *telemetry.Tracer) shard.Observer {
	if tracer == nil {
		return m
	}
	return shard.Observers(m, tracer)
}

// flushTraces exports the spans still buffered, for up to five seconds.
func flushTraces(stop func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("tracing shutdown", "err", err)
	}
}

// startAdmin serves the admin endpoints on addr, unless it is empty:
// /debug/pprof/ (profiles, which cost CPU and reveal internals, so they are
// never on the public listener) and /metrics. The returned function stops
// the listener and waits for its goroutine.
func startAdmin(addr string, m *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.HTTPHandler())
	// No /debug/pprof/cmdline: secrets may be given as flags.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener", "err", err)
		}
	}()
	log.Info("ssehub admin listening", "addr", ln.Addr().String())
	return func() {
		// Close, not Shutdown: a CPU profile in progress may take 30s.
		_ = srv.Close()
		<-done
	}, nil
}
