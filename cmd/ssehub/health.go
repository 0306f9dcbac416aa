package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// runHealth is `ssehub health`: it asks the hub listening on this
// machine's --listen (from the same flags, SSEHUB_* variables and --config
// file the hub reads) whether it is alive (/healthz) or, with --ready,
// ready (/readyz), and exits 0 if so, 1 if not. It needs no shell, curl or
// wget, so a minimal container image can use it as its health check.
func runHealth(ctx context.Context, args []string, p procIO) int {
	fs := flag.NewFlagSet("ssehub health", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "", "URL to ask instead of http://127.0.0.1:PORT/healthz, PORT from --listen")
	ready := fs.Bool("ready", false, "ask /readyz (ready to serve: Redis reachable, not draining) rather than /healthz (the process answers)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the answer")
	listen := fs.String("listen", "", "the hub's --listen, if not the one its environment or --config gives")
	config := fs.String("config", "", "the hub's --config file, if not SSEHUB_CONFIG")
	rest, err := parseFlags(fs, args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprintln(p.stdout, "Usage: ssehub health [--ready] [--url URL] [--timeout 2s] [--listen ADDR] [--config FILE]\n\n"+
			"Exits 0 if the hub on this machine answers 200, 1 otherwise.")
		return 0
	case errors.Is(err, errVersion):
		fmt.Fprintln(p.stdout, versionLine())
		return 0
	case err == nil && len(rest) > 0:
		err = fmt.Errorf("unexpected argument %q", rest[0])
	}
	if err != nil {
		fmt.Fprintf(p.stderr, "ssehub health: %v\n", err)
		return 2
	}
	target := *url
	if target == "" {
		path := "/healthz"
		if *ready {
			path = "/readyz"
		}
		addr := *listen
		if addr == "" {
			addr = hubListenAddr(*config, p.lookupEnv)
		}
		target = "http://" + loopbackFor(addr) + path
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(p.stderr, "ssehub health: %v\n", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(p.stderr, "ssehub health: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(p.stderr, "ssehub health: %s answered %s: %s\n", target, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintf(p.stdout, "%s: %s\n", target, strings.TrimSpace(string(body)))
	return 0
}

// hubListenAddr returns the --listen the hub reads from configFile (or
// SSEHUB_CONFIG) and the environment. Other settings are not checked: a
// health check must not fail for a problem the running hub does not have.
func hubListenAddr(configFile string, lookupEnv func(string) (string, bool)) string {
	var args []string
	if configFile != "" {
		args = []string{"--config", configFile}
	}
	cfg, _, _ := loadConfig(args, lookupEnv, io.Discard)
	return cfg.Listen
}

// loopbackFor turns a listen address into one to dial on this machine:
// an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes the
// loopback address.
func loopbackFor(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch ip := net.ParseIP(host); {
	case host == "" || ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
