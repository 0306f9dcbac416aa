// Command ssehub-bench load-tests ssehub, or any SSE server, with many
// concurrent streams, and reports loss, latency, memory and CPU.
//
// Usage:
//
//	ssehub-bench SCENARIO [flags]     run a scenario (ssehub-bench -h lists them)
//	ssehub-bench ref-server [-listen ADDR]  serve the net/http reference server
//	ssehub-bench units [flags]        measure Redis's cost per unit of work, on a private redis-server
//
// By default a scenario starts everything on this machine: a private
// redis-server (with -redis, or -hubs > 1), -hubs ssehub processes on their
// own ports, and load-generator worker processes (this binary, run again)
// of at most 15,000 streams each, each connecting from its own loopback
// address (127.0.0.2, 127.0.0.3, ...). Everything stops at the end, on
// Ctrl-C and on failure. With -target it starts no server and measures an
// existing deployment instead; -path and -publish-* describe a server that
// is not ssehub.
//
// Results: a live progress line on stderr, a Markdown table on stdout,
// and with -json and -html a JSON file and a self-contained HTML report
// with charts. The exit status is 0 only if every check passed.
//
// Without -hub it builds ./cmd/ssehub with `go build`, so run it from
// inside the ssehub module.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ssehub/ssehub/bench"
	"github.com/ssehub/ssehub/bench/report"
)

func main() {
	bench.MaybeRunWorker()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		usage(stderr)
		return 2
	}
	name := args[1]
	switch name {
	case "ref-server":
		return runRefServer(ctx, args[2:], stdout, stderr)
	case "units":
		return runUnits(ctx, args[2:], stdout, stderr)
	}
	known := false
	for _, s := range bench.ScenarioNames() {
		known = known || s == name
	}
	if !known {
		fmt.Fprintf(stderr, "ssehub-bench: unknown scenario %q\n\n", name)
		usage(stderr)
		return 2
	}
	return runScenario(ctx, name, args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: ssehub-bench SCENARIO [flags]\n\nscenarios:\n")
	for _, s := range bench.ScenarioNames() {
		fmt.Fprintf(w, "  %-15s %s\n", s, bench.ScenarioAbout(s))
	}
	fmt.Fprintf(w, "  %-15s %s\n", "ref-server", "serve the net/http reference server (compare and flood-compare start it themselves)")
	fmt.Fprintf(w, "  %-15s %s\n\nssehub-bench SCENARIO -h lists the flags.\n", "units", "Redis CPU per published event, fan-out connection, pattern and replayed event")
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runScenario(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ssehub-bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg                      bench.Config
		hubArgs, hubEnv, targets listFlag
		headers                  listFlag
		pubHeaders               listFlag
		path, jsonOut, htmlOut   string
		pub                      bench.PublishTemplate
		verbose, quiet           bool
		rssTarget                int64
	)
	fs.IntVar(&cfg.Streams, "n", 1000, "streams to hold")
	fs.IntVar(&cfg.Workers, "workers", 0, fmt.Sprintf("load-generator processes; 0: as few as %d streams each allows", bench.MaxGeneratorStreams))
	fs.IntVar(&cfg.Hubs, "hubs", 1, "ssehub processes to start, each on its own port")
	fs.BoolVar(&cfg.Redis, "redis", false, "start a private redis-server and run the hubs on it (implied by -hubs > 1)")
	fs.StringVar(&cfg.Server, "server", bench.ServerSSEHub, "server to start: ssehub, or nethttp (the reference server)")
	fs.StringVar(&cfg.Binary, "hub", "", "ssehub binary; empty builds ./cmd/ssehub")
	fs.Var(&hubArgs, "hub-arg", "extra ssehub flag, such as -hub-arg=--heartbeat=30s (repeatable)")
	fs.Var(&hubEnv, "hub-env", "extra environment variable for the servers, such as -hub-env=GOMAXPROCS=1 (repeatable)")
	fs.IntVar(&cfg.WorkerProcs, "worker-procs", 0, "GOMAXPROCS of each load-generator process (0: the Go default)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "events per second in the publishing phases (0: the scenario's default)")
	fs.Float64Var(&cfg.StormRate, "storm-rate", 0, "broadcast events per second during the fleet scenario's resume storm (0: 0.5)")
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "length of each publishing phase")
	fs.IntVar(&cfg.Pad, "pad", 0, "padding bytes in each event's data")
	fs.DurationVar(&cfg.Settle, "settle", 10*time.Second, "idle time before memory is read")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", 0, "first connects per second in all (0: as fast as -concurrency allows)")
	fs.IntVar(&cfg.Concurrency, "concurrency", bench.DefaultConcurrency, "streams making their first connection at once, per worker (reconnects are not bounded, as browsers' are not)")
	fs.Float64Var(&cfg.SlowFraction, "slow-fraction", 0.05, "share of streams that stop reading (slow-consumers, fleet)")
	fs.IntVar(&cfg.Publishers, "publishers", 16, "publishers of flood and flood-compare, each with one request of one event in flight")
	fs.DurationVar(&cfg.Targets.P99, "p99", 0, "check: p99 latency of the publishing phase at most this (0: no check)")
	fs.Int64Var(&rssTarget, "rss-per-stream", 0, "check: hub RSS per idle stream at most this many bytes (0: no check)")
	fs.DurationVar(&cfg.Targets.CatchUp, "catch-up", 10*time.Second, "check (resume-storm): every resumed stream caught up within this")
	fs.Var(&targets, "target", "host:port of an existing deployment to measure instead of starting one (repeatable)")
	fs.StringVar(&path, "path", "", `subscribe request target with {topic}, for a server that is not ssehub (default "/events?topic={topic}")`)
	fs.Var(&headers, "header", `extra subscribe request header, "Name: value" (repeatable)`)
	fs.StringVar(&pub.URL, "publish-url", "", "publish URL with {topic} and {data}, for a server that is not ssehub (default: ssehub's POST /publish on the targets)")
	fs.StringVar(&pub.Method, "publish-method", "POST", "publish request method (with -publish-url)")
	fs.StringVar(&pub.ContentType, "publish-content-type", "application/x-www-form-urlencoded", "publish request content type (with -publish-url)")
	fs.StringVar(&pub.Body, "publish-body", "topic={topic}&data={data}", "publish request body with {topic} and {data} (with -publish-url)")
	fs.Var(&pubHeaders, "publish-header", `extra publish request header, "Name: value" (repeatable)`)
	fs.StringVar(&jsonOut, "json", "", "write the report as JSON to this file")
	fs.StringVar(&htmlOut, "html", "", "write the report as a self-contained HTML page to this file")
	fs.BoolVar(&verbose, "v", false, "copy the servers' logs to stderr")
	fs.BoolVar(&quiet, "q", false, "no progress line")
	if code, ok := parseFlags(fs, args[2:], stderr); !ok {
		return code
	}
	cfg.HubArgs, cfg.HubEnv = hubArgs, hubEnv
	cfg.Targets.RSSPerStream = rssTarget
	cfg.Command = strings.Join(append([]string{"ssehub-bench"}, args[1:]...), " ")
	cfg.Log = stderr
	if verbose {
		cfg.HubLog = stderr
	}
	if !quiet {
		cfg.Progress = report.NewProgress(stderr)
	}
	if cfg.Hubs > 1 || bench.NeedsFleet(name) {
		cfg.Redis = true
	}
	if len(targets) > 0 {
		cfg.Remote = &bench.Remote{Targets: targets, Path: path, Headers: headers, PublishHeaders: pubHeaders}
		if pub.URL != "" {
			cfg.Remote.Publish = &pub
		}
	} else if cfg.Server == bench.ServerSSEHub && cfg.Binary == "" {
		dir, err := os.MkdirTemp("", "ssehub-bench-")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if cfg.Binary, err = bench.BuildHub(ctx, dir); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}

	res, err := bench.Run(ctx, name, cfg)
	code := 0
	if err != nil {
		fmt.Fprintf(stderr, "ssehub-bench %s: %v\n", name, err)
		code = 1
	}
	if res == nil {
		return max(code, 1)
	}
	if werr := writeReports(res, stdout, jsonOut, htmlOut); werr != nil {
		fmt.Fprintf(stderr, "ssehub-bench %s: %v\n", name, werr)
		code = 1
	}
	if !res.OK() {
		fmt.Fprintf(stderr, "ssehub-bench %s: some checks failed\n", name)
		code = 1
	}
	return code
}

// writeReports prints the table and writes the JSON and HTML files asked
// for.
func writeReports(res *report.Run, stdout io.Writer, jsonOut, htmlOut string) error {
	errs := []error{res.WriteTable(stdout)}
	write := func(path string, w func(io.Writer) error) {
		if path == "" {
			return
		}
		f, err := os.Create(path)
		if err == nil {
			err = errors.Join(w(f), f.Close())
		}
		errs = append(errs, err)
	}
	write(jsonOut, res.WriteJSON)
	write(htmlOut, res.WriteHTML)
	return errors.Join(errs...)
}

// parseFlags parses a subcommand's flags, none of which take positional
// arguments. If it should not run, ok is false and code is its exit code:
// 0 for -h, 2 for a usage error (which fs has already reported, except for
// a stray argument).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}
