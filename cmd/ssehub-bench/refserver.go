package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/bench/refserver"
)

// runRefServer serves the minimal net/http reference server until ctx is
// done. It logs the "ssehub listening" line ssehub does, so bench.StartHub
// can run it in ssehub's place.
func runRefServer(ctx context.Context, args []string, _, stderr io.Writer) int {
	const name = "ssehub-bench refserver"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve HTTP on")
	// StartHub passes ssehub's --log-level; the reference server always
	// logs at info, which that level must leave on anyway.
	fs.String("log-level", "info", "ignored; accepted for bench.StartHub")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	ref := refserver.New(refserver.Config{})
	srv := &http.Server{Handler: ref, ReadHeaderTimeout: 10 * time.Second}
	// Shutdown waits for handlers, and streams end only when told to.
	srv.RegisterOnShutdown(ref.Close)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("ssehub listening", "addr", ln.Addr().String(), "impl", "net/http reference")

	select {
	case err := <-served:
		log.Error("serve", "err", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	log.Info("ssehub stopped", "dropped_clients", ref.Dropped())
	if err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}
