// Command ssehub-bench runs ssehub's load-testing scenarios against real
// ssehub processes on this machine and prints their figures as Markdown
// tables for BENCHMARKS.md.
//
// Usage:
//
//	ssehub-bench idle [-n 10000] [-topics shared|unique] [-settle 10s] [-hub PATH] [-json]
//	ssehub-bench resume-storm [-n 10000] [-m 100] [-k 0] [-topics shared|unique] [-hubs 1] [-timeout 120s] [-hub PATH] [-json]
//
// Without -hub it builds ./cmd/ssehub with `go build`, so run it from inside
// the ssehub module.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ssehub/ssehub/bench"
)

// scenarios are the subcommands, by name.
var scenarios = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"idle":         runIdle,
	"resume-storm": runResumeStorm,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || scenarios[args[0]] == nil {
		fmt.Fprintf(stderr, "usage: ssehub-bench SCENARIO [flags]\n\nscenarios:\n  idle          hub RSS per idle stream\n  resume-storm  every stream reconnects at once with Last-Event-ID and catches up from Redis history\n\nssehub-bench SCENARIO -h lists its flags.\n")
		return 2
	}
	return scenarios[args[0]](ctx, args[1:], stdout, stderr)
}

// commonFlags are the flags every scenario takes: which hub to run, where
// streams connect from, and how the result is printed.
type commonFlags struct {
	binary  string
	verbose bool
	sources string
	asJSON  bool
}

func (f *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.binary, "hub", "", "ssehub binary to run; empty builds ./cmd/ssehub into a temporary directory")
	fs.BoolVar(&f.verbose, "v", false, "copy the hub's log to stderr")
	fs.StringVar(&f.sources, "sources", "", "comma-separated local IPs to connect from, round robin (e.g. 127.0.0.2,127.0.0.3); empty: 127.0.0.1")
	fs.BoolVar(&f.asJSON, "json", false, "also print the result as JSON")
}

// sourceList returns the -sources IPs, nil (the kernel's choice) if none.
func (f *commonFlags) sourceList() []string {
	if f.sources == "" {
		return nil
	}
	return strings.Split(f.sources, ",")
}

// start builds the hub if needed and starts count hubs with args. cleanup
// stops them and removes the build; call it in every case.
func (f *commonFlags) start(ctx context.Context, stderr io.Writer, count int, args ...string) (hubs []*bench.HubProcess, cleanup func() error, err error) {
	var cleanups []func() error
	cleanup = func() error {
		var errs []error
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		return errors.Join(errs...)
	}
	binary := f.binary
	if binary == "" {
		dir, err := os.MkdirTemp("", "ssehub-bench-")
		if err != nil {
			return nil, cleanup, err
		}
		cleanups = append(cleanups, func() error { return os.RemoveAll(dir) })
		if binary, err = bench.BuildHub(ctx, dir); err != nil {
			return nil, cleanup, err
		}
	}
	opts := bench.HubOptions{Binary: binary, Args: args}
	if f.verbose {
		opts.Log = stderr
	}
	for range count {
		hub, err := bench.StartHub(ctx, opts)
		if err != nil {
			return hubs, cleanup, err
		}
		hubs = append(hubs, hub)
		cleanups = append(cleanups, func() error {
			// The hub ends every stream on SIGTERM; its own shutdown
			// timeout is 10s, so 15s is enough unless it is stuck.
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return hub.Stop(sctx)
		})
	}
	return hubs, cleanup, nil
}

// parseFlags parses a scenario's flags, none of which take positional
// arguments. If the scenario should not run, ok is false and code is its
// exit code: 0 for -h, 2 for a usage error (which fs has already reported,
// except for a stray argument).
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

// runCleanup runs cleanup, the one commonFlags.start returned. If it fails it
// reports why and makes *code, the scenario's exit code, at least 1, so a
// hub left running or a build left behind does not pass unnoticed. Defer
// it from the scenario, whose named result code points to.
func runCleanup(cleanup func() error, stderr io.Writer, name string, code *int) {
	if err := cleanup(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		*code = max(*code, 1)
	}
}

// result is what a scenario measured.
type result interface {
	WriteTable(w io.Writer) error
}

// report prints res to stdout as a Markdown table, followed by it as
// indented JSON if asJSON is set.
func report(stdout io.Writer, res result, asJSON bool) error {
	if err := res.WriteTable(stdout); err != nil {
		return err
	}
	if asJSON {
		// The results hold only numbers, strings and slices of them,
		// which always marshal.
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return nil
}

func runIdle(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	const name = "ssehub-bench idle"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cf  commonFlags
		cfg bench.IdleConfig
	)
	cf.register(fs)
	fs.IntVar(&cfg.Streams, "n", 10000, "streams to open")
	fs.StringVar(&cfg.Topics, "topics", bench.TopicsShared, "topic layout: shared (all on \"news\") or unique (stream i on \"user/i\")")
	fs.DurationVar(&cfg.Settle, "settle", 10*time.Second, "wait after the streams opened before measuring")
	fs.IntVar(&cfg.Concurrency, "concurrency", bench.DefaultConcurrency, "streams connecting at once")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if cfg.Streams <= 0 || cfg.Settle <= 0 {
		fmt.Fprintf(stderr, "%s: -n and -settle must be positive\n", name)
		return 2
	}
	if _, err := bench.TopicsFor(cfg.Topics); err != nil {
		fmt.Fprintf(stderr, "%s: -topics: %v\n", name, err)
		return 2
	}
	cfg.Sources = cf.sourceList()
	if _, err := bench.RaiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}

	hubs, cleanup, err := cf.start(ctx, stderr, 1)
	defer runCleanup(cleanup, stderr, name, &code)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	hub := hubs[0]
	fmt.Fprintf(stderr, "hub pid %d on %s; opening %d streams (topics %s)\n", hub.PID, hub.Addr, cfg.Streams, cfg.Topics)
	res, err := bench.RunIdle(ctx, hub, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if err := report(stdout, res, cf.asJSON); err != nil {
		return 1
	}
	if !res.AllConnected() {
		fmt.Fprintf(stderr, "%s: only %d of %d streams connected\n", name, res.Connected, res.Streams)
		return 1
	}
	return 0
}

func runResumeStorm(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	const name = "ssehub-bench resume-storm"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cf   commonFlags
		cfg  bench.StormConfig
		hubs int
	)
	cf.register(fs)
	fs.IntVar(&cfg.Streams, "n", 10000, fmt.Sprintf("streams that resume at once (at most %d)", bench.MaxGeneratorStreams))
	fs.IntVar(&cfg.Events, "m", 100, "events published to each topic before the storm")
	fs.IntVar(&cfg.ResumeFrom, "k", 0, "index of the event each stream resumes after (Last-Event-ID); each misses m-1-k")
	fs.StringVar(&cfg.Topics, "topics", bench.TopicsShared, "topic layout: shared (all on \""+bench.StormTopic+"\") or unique (stream i on \"user/i\", m events each)")
	fs.IntVar(&hubs, "hubs", 1, "hub processes sharing the Redis; stream i goes to hub i % hubs")
	fs.DurationVar(&cfg.Timeout, "timeout", 120*time.Second, "give up (and fail) if publishing and the storm take longer")
	fs.IntVar(&cfg.Concurrency, "concurrency", bench.DefaultConcurrency, "streams connecting at once (until their response head)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	switch {
	case cfg.Streams <= 0 || cfg.Streams > bench.MaxGeneratorStreams:
		fmt.Fprintf(stderr, "%s: -n must be 1 to %d (one generator process)\n", name, bench.MaxGeneratorStreams)
		return 2
	case cfg.Events <= 0 || cfg.ResumeFrom < 0 || cfg.ResumeFrom >= cfg.Events:
		fmt.Fprintf(stderr, "%s: want -m > 0 and 0 <= -k < -m\n", name)
		return 2
	case cfg.Topics != bench.TopicsShared && cfg.Topics != bench.TopicsUnique:
		fmt.Fprintf(stderr, "%s: -topics %q, want %s or %s\n", name, cfg.Topics, bench.TopicsShared, bench.TopicsUnique)
		return 2
	case hubs <= 0 || cfg.Timeout <= 0:
		fmt.Fprintf(stderr, "%s: -hubs and -timeout must be positive\n", name)
		return 2
	}
	cfg.Sources = cf.sourceList()
	if _, err := bench.RaiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}

	redis, err := bench.StartRedis(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	defer redis.Stop() // after the hubs: deferred first
	// History must hold every event a stream missed.
	history := max(cfg.Events, 1000)
	procs, cleanup, err := cf.start(ctx, stderr, hubs, "--redis-url", redis.URL(), "--history-size", strconv.Itoa(history))
	defer runCleanup(cleanup, stderr, name, &code)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	for _, h := range procs {
		fmt.Fprintf(stderr, "hub pid %d on %s\n", h.PID, h.Addr)
	}
	fmt.Fprintf(stderr, "redis pid %d on %s; publishing %d events per topic, then %d streams resume (topics %s)\n",
		redis.PID, redis.Addr, cfg.Events, cfg.Streams, cfg.Topics)
	res, err := bench.RunResumeStorm(ctx, procs, redis, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if err := report(stdout, res, cf.asJSON); err != nil {
		return 1
	}
	if !res.OK() {
		fmt.Fprintf(stderr, "%s: %d of %d streams caught up (%d resets, %d out of order, %d extra, timed out %t)\n",
			name, res.CaughtUp, res.Streams, res.Resets, res.Disordered, res.Extra, res.TimedOut)
		return 1
	}
	return 0
}
