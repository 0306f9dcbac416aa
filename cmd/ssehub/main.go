// Command ssehub serves Server-Sent Events streams and a publish API.
//
// Run it with no flags for a standalone hub on :8080 with the embedded
// broker; `ssehub --help` lists every flag and its environment variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/acl"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/internal/telemetry/metrics"
	"github.com/ssehub/ssehub/internal/version"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// usageHead starts `ssehub help`: the commands, before the hub's flags.
const usageHead = `Usage:
  ssehub [flags]                    serve streams and the publish API
  ssehub config check FILE [flags]  check a configuration and print it in effect
  ssehub token [flags]              mint a development token (HS256)
  ssehub health [flags]             ask a running hub on this machine whether it is up
  ssehub redis-layout [--switch | --finish] [flags]
                                    show the Redis fleet's partitions, switch it to --redis-partitions, or finish the move
  ssehub version                    print the version
  ssehub help                       print this help

ssehub streams Server-Sent Events to browsers and apps, and lets backends publish to them.
Every flag is also an SSEHUB_* environment variable and a key of the --config file.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once, as if
	// ssehub did not handle signals: an operator's way out of a long drain.
	context.AfterFunc(ctx, stop)
	os.Exit(runCommand(ctx, os.Args[1:], procIO{lookupEnv: os.LookupEnv, environ: os.Environ(), stdout: os.Stdout, stderr: os.Stderr}))
}

// procIO is what a command reads and writes of its process: tests give
// their own.
type procIO struct {
	lookupEnv      func(string) (string, bool)
	environ        []string // KEY=VALUE pairs, for warnings about unknown SSEHUB_* variables
	stdout, stderr io.Writer
}

// runCommand runs the command args name (the hub when args starts with a
// flag or is empty) and returns the exit code: 0 done, 1 failed, 2 a usage
// or configuration error.
func runCommand(ctx context.Context, args []string, p procIO) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return run(ctx, args, p)
	}
	switch args[0] {
	case "token":
		return runToken(args[1:], p)
	case "config":
		return runConfig(args[1:], p)
	case "health":
		return runHealth(ctx, args[1:], p)
	case "redis-layout":
		return runLayout(ctx, args[1:], p)
	case "version":
		fmt.Fprintln(p.stdout, versionLine())
		return 0
	case "help":
		_, _ = parseConfig([]string{"--help"}, noEnv, p.stdout)
		return 0
	}
	fmt.Fprintf(p.stderr, "ssehub: unknown command %q%s; run 'ssehub help' for the commands\n",
		args[0], didYouMean(args[0], []string{"token", "config", "health", "redis-layout", "version", "help"}))
	return 2
}

// noEnv is a lookupEnv of an empty environment.
func noEnv(string) (string, bool) { return "", false }

// didYouMean returns " (did you mean NAME?)" for the closest of names to
// s, if one is close; otherwise "".
func didYouMean(s string, names []string) string {
	if best := closest(s, names); best != "" {
		return " (did you mean " + best + "?)"
	}
	return ""
}

// run is the hub without the process: it serves until ctx ends, then shuts
// down, and returns the exit code.
func run(ctx context.Context, args []string, p procIO) int {
	cfg, err := parseConfig(args, p.lookupEnv, p.stdout)
	if done := answered(err, p); done {
		return 0
	}
	if err != nil {
		// A misspelled variable may be why: SSEHUB_JWTSECRET leaves
		// --auth jwt without a key.
		for _, w := range unknownEnv(p.environ) {
			fmt.Fprintf(p.stderr, "warning: %s\n", w)
		}
		reportInvalid(p.stderr, "ssehub", err)
		return 2
	}
	log := newLogger(cfg, p.stderr)
	for _, w := range unknownEnv(p.environ) {
		log.Warn(w)
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("ssehub stopped", "err", err)
		return 1
	}
	return 0
}

// answered reports whether err says the flags asked for the help (which
// parsing printed) or the version, which it prints; the command is then
// done.
func answered(err error, p procIO) bool {
	switch {
	case errors.Is(err, errHelp):
		return true
	case errors.Is(err, errVersion):
		fmt.Fprintln(p.stdout, versionLine())
		return true
	}
	return false
}

// reportInvalid writes a configuration's problems, one per line, under
// who (the command), and how to get help: the same words for start and
// `config check`.
func reportInvalid(w io.Writer, who string, err error) {
	fmt.Fprintf(w, "%s: invalid configuration:\n", who)
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintln(w, "Run 'ssehub help' for every setting.")
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the hub until ctx ends.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	tracer, stopTracing, err := telemetry.Setup(ctx, log)
	if err != nil {
		return err
	}
	defer flushTraces(stopTracing, log)
	b, closeBroker, err := newBroker(ctx, cfg, log, tracer)
	if err != nil {
		return err
	}
	defer closeBroker()
	m := metrics.New()
	publishWait := cfg.PublishWait
	if publishWait == 0 {
		publishWait = -1 // the hub's "refuse at once"; its zero is the default
	}
	var presenceEvents func(string) bool
	if cfg.PresenceEvents != "" {
		g, _ := acl.NewGrant(splitList(cfg.PresenceEvents)) // validated already
		presenceEvents = g.AllowsTopic
	}
	h, err := hub.New(hub.Config{
		Shards: cfg.Shards,
		Shard: shard.Config{
			QueueSize:    cfg.QueueSize,
			Heartbeat:    cfg.Heartbeat,
			WriteTimeout: cfg.WriteTimeout,
			StallTimeout: cfg.StallTimeout,
			Observer:     observers(m, tracer),
			NoIOUring:    !cfg.IOUring,
		},
		PublishWait:    publishWait,
		Logger:         log,
		Presence:       cfg.Presence,
		PresenceTTL:    cfg.PresenceTTL,
		PresenceEvents: presenceEvents,
	}, b)
	if err != nil {
		return err
	}
	verifier, public, stopAuth, err := newAuth(cfg, log)
	if err != nil {
		_ = h.Shutdown(context.Background())
		return err
	}
	defer stopAuth() // after the server stops: it verifies tokens until then
	srv := httpapi.New(h, httpapi.Config{
		Retry:             cfg.Retry,
		WriteTimeout:      cfg.WriteTimeout,
		SendBuffer:        cfg.SendBuffer,
		MaxSendBuffer:     maxSendBuffer(cfg),
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxBodyBytes:      cfg.MaxBodySize,
		MaxHeaderBytes:    cfg.MaxHeaderSize,
		MaxTopics:         cfg.MaxTopics,
		MaxStreamsPerIP:   cfg.MaxStreamsPerIP,
		MaxStreamsPerUser: cfg.MaxStreamsUser,
		Publish: httpapi.PublishLimits{
			MaxBatch:     cfg.MaxBatch,
			MaxTopics:    cfg.MaxTopics,
			MaxDataBytes: cfg.MaxDataSize,
		},
		Logger:         log,
		Auth:           verifier,
		PublicTopics:   public,
		CORSOrigins:    splitList(cfg.CORSOrigins),
		APIKeys:        splitList(cfg.APIKeys),
		PublishRate:    cfg.PublishRate,
		IdempotencyTTL: cfg.IdempotencyTTL,
		Demo:           cfg.Demo,
		PresenceEvents: presenceEvents != nil,
		Tracer:         tracer,
		Metrics:        publicMetrics(cfg, m),
	})
	sources := metrics.Sources{Hub: h, Publishes: srv}
	var door *mercure.Door
	if cfg.Mercure {
		var stopKeys func()
		door, stopKeys, err = newMercureDoor(cfg, h, b, srv, log)
		defer stopKeys() // after the server stops: the door verifies tokens until then
		if err != nil {
			_ = h.Shutdown(context.Background())
			return err
		}
		srv.Mount(door.Path(), door.Handle)
		if p := door.MetadataPath(); p != "" {
			srv.Mount(p, door.HandleMetadata) // draft-08's protected resource metadata (RFC 9728)
		}
		sources.MercurePublishes = door
		log.Info("serving the Mercure protocol", "path", door.Path(), "anonymous", cfg.MercureAnon, "protocol", cfg.MercureProto, "resource", cfg.MercureResource)
	}
	sources.Broker, _ = b.(broker.StatsReporter)    // nil for the embedded broker
	sources.History, _ = b.(broker.HistoryReporter) // nil for Redis
	if cfg.MercureSubs {
		sources.MercureSubscriptions = door
	}
	m.Watch(sources)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = h.Shutdown(context.Background())
		return err
	}
	stopAdmin, err := startAdmin(cfg.AdminListen, m, log)
	if err != nil {
		ln.Close()
		_ = h.Shutdown(context.Background())
		return err
	}
	defer stopAdmin()
	log.Info("ssehub listening", "addr", ln.Addr().String(), "broker", brokerName(cfg),
		"shards", len(h.Stats()), "history_size", cfg.HistorySize, "history_ttl", cfg.HistoryTTL,
		"tracing", tracer != nil, "io_uring", usesIOUring(h), "version", version.String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}

	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if serveErr == nil {
		// /readyz fails from now on and new streams are sent elsewhere;
		// open ones are told to reconnect elsewhere a few at a time, while
		// publishing goes on (README "Graceful drain").
		start := time.Now()
		log.Info("ssehub draining", "streams", openStreams(h), "window", cfg.DrainWindow, "timeout", cfg.ShutdownTimeout)
		if err := srv.Drain(sctx, cfg.DrainWindow); err != nil {
			log.Warn("drain cut short; closing the remaining streams", "err", err, "streams", openStreams(h))
		} else {
			log.Info("ssehub drained", "took", time.Since(start).Round(time.Millisecond))
		}
	}
	log.Info("ssehub shutting down")
	// The Mercure door ends its active subscriptions (their events go
	// through the hub) before the hub shuts down.
	err = errors.Join(serveErr, srv.Shutdown(sctx), closeDoor(sctx, door), h.Shutdown(sctx))
	if serveErr == nil {
		<-served
	}
	log.Info("ssehub stopped")
	return err
}

// maxSendBuffer maps --send-buffer-max onto httpapi's MaxSendBuffer, whose
// zero means its default: here at most --send-buffer, 0 included, keeps
// the buffer fixed.
func maxSendBuffer(cfg Config) int {
	if cfg.SendBufferMax <= cfg.SendBuffer {
		return -1
	}
	return cfg.SendBufferMax
}

// publicMetrics returns the /metrics handler for the public listener, or
// nil (404) when --public-metrics says it is served on the admin listener
// alone: metrics tell anyone who can reach them how busy the hub is.
func publicMetrics(cfg Config, m *metrics.Metrics) fasthttp.RequestHandler {
	if cfg.PublicMetrics == "on" || cfg.PublicMetrics == "auto" && cfg.AdminListen == "" {
		return m.Handler()
	}
	return nil
}

// openStreams returns how many streams h has open.
func openStreams(h *hub.Hub) int64 {
	var n int64
	for _, st := range h.Stats() {
		n += st.Clients
	}
	return n
}

// newAuth builds the token verifier (nil with --auth off) and the public
// topics grant. With a JWKS URL it also starts fetching its keys; stop
// releases that, once nothing verifies tokens any more.
func newAuth(cfg Config, log *slog.Logger) (v *auth.Verifier, public acl.Grant, stop func(), err error) {
	stop = func() {}
	public, err = acl.NewGrant(splitList(cfg.PublicTopics))
	if err != nil {
		return nil, acl.Grant{}, stop, fmt.Errorf("--public-topics: %w", err)
	}
	if cfg.Auth == "off" {
		log.Warn("authentication is off: anyone can subscribe to any topic and publish; use --auth jwt in production")
		return nil, public, stop, nil
	}
	var keys []auth.KeyConfig
	for _, ks := range cfg.keySources() {
		k, err := ks.keys()
		if err != nil {
			return nil, acl.Grant{}, stop, fmt.Errorf("--%s: %w", ks.flag, err)
		}
		keys = append(keys, k...)
	}
	var remote *auth.RemoteJWKS
	if cfg.JWKSURL != "" || cfg.JWTOIDC {
		remote, err = auth.NewRemoteJWKS(cfg.remoteJWKSConfig(logFetch(log)))
		if err != nil {
			return nil, acl.Grant{}, stop, fmt.Errorf("--jwt-jwks-url: %w", err)
		}
		stop = remote.Close
	}
	v, err = auth.NewVerifier(auth.Config{Keys: keys, Remote: remote, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway})
	if err != nil {
		stop()
		return nil, acl.Grant{}, func() {}, fmt.Errorf("--auth jwt: %w", err)
	}
	return v, public, stop, nil
}

// logFetch logs each fetch of a JWKS URL: failures (an error while no key
// is in use), keys skipped, and the first and unknown-kid fetches. It runs
// on the key set's refresh goroutine and does not block.
func logFetch(log *slog.Logger) func(auth.FetchResult) {
	return func(r auth.FetchResult) {
		for _, err := range r.Skipped {
			log.Warn("jwks: key left out", "url", r.URL, "err", err)
		}
		switch {
		case r.Err != nil && r.Keys == 0:
			log.Error("jwks: no keys yet; tokens that need them get 401 keys_unavailable", "url", r.URL, "trigger", r.Trigger, "err", r.Err)
		case r.Err != nil:
			log.Warn("jwks: fetch failed; the last keys stay in use", "url", r.URL, "trigger", r.Trigger, "keys", r.Keys, "err", r.Err)
		case r.Trigger == auth.TriggerSchedule:
			log.Debug("jwks: keys fetched", "url", r.URL, "keys", r.Keys, "took", r.Duration)
		default:
			log.Info("jwks: keys fetched", "url", r.URL, "trigger", r.Trigger, "keys", r.Keys, "took", r.Duration)
		}
	}
}

// newBroker returns the broker cfg asks for and a function that releases it.
func newBroker(ctx context.Context, cfg Config, log *slog.Logger, tracer *telemetry.Tracer) (broker.Broker, func(), error) {
	if cfg.RedisURL == "" {
		b := membroker.New(membroker.Config{
			HistorySize:   historySize(cfg.HistorySize),
			HistoryTTL:    cfg.HistoryTTL,
			HistoryBudget: cfg.HistoryBudget,
			Tracer:        tracer,
		})
		return b, func() { b.Close() }, nil
	}
	redis.SetLogger(redisLogger{log})
	client, err := redisClient(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("--redis-url: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := redisbroker.New(cctx, redisbroker.Config{
		Client:      client,
		Prefix:      cfg.RedisPrefix,
		Partitions:  cfg.RedisPartitions,
		PubSubConns: cfg.RedisPubSub,
		HistorySize: historySize(cfg.HistorySize),
		HistoryTTL:  cfg.HistoryTTL,
		Logger:      log,
		Tracer:      tracer,
	})
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return b, func() { b.Close(); client.Close() }, nil
}

// redisClient builds the go-redis client for --redis-url and --redis-mode.
//
// Its commands honour their context's deadline (ContextTimeoutEnabled):
// otherwise go-redis waits out its own read timeout whatever the caller
// allows, and /readyz, bounded to 2s, took 5s to answer while Redis was
// paused.
func redisClient(cfg Config) (redis.UniversalClient, error) {
	switch cfg.RedisMode {
	case "cluster":
		opt, err := redis.ParseClusterURL(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		opt.ContextTimeoutEnabled = true
		return redis.NewClusterClient(opt), nil
	case "sentinel":
		opt, err := redis.ParseFailoverURL(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		if opt.MasterName == "" {
			return nil, errors.New("sentinel mode needs the master's name: add ?master_name=NAME to the sentinel's URL")
		}
		opt.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(opt), nil
	default:
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		opt.ContextTimeoutEnabled = true
		return redis.NewClient(opt), nil
	}
}

func brokerName(cfg Config) string {
	if cfg.RedisURL == "" {
		return "memory"
	}
	return "redis-" + cfg.RedisMode
}

// historySize maps the flag (0 keeps none) onto the broker's config (0
// means the default, negative keeps none).
func historySize(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// usesIOUring reports whether the shards write through io_uring: all of
// them do or none, as they ask the same kernel.
func usesIOUring(h *hub.Hub) bool {
	stats := h.Stats()
	return len(stats) > 0 && stats[0].IOUring
}

// closeDoor closes door, if there is one.
func closeDoor(ctx context.Context, door *mercure.Door) error {
	if door == nil {
		return nil
	}
	return door.Close(ctx)
}

// newMercureDoor builds the Mercure front door of --mercure: its own
// verifiers (Mercure tokens: auth.Config.Mercure), sharing the native
// server's stream limits and publish rates.
//
// stop closes the JWKS URLs' fetchers; call it once the server has
// stopped (it is a no-op when there are none, and set even on error).
func newMercureDoor(cfg Config, h *hub.Hub, b broker.Broker, srv *httpapi.Server, log *slog.Logger) (door *mercure.Door, stop func(), err error) {
	var remotes []*auth.RemoteJWKS
	stop = func() {
		for _, r := range remotes {
			r.Close()
		}
	}
	// One verifier per role, with the role's secret, key file and JWKS
	// URL: any verifies (a secret and a key during a rotation, or apps of
	// both kinds). No key: nil, which the door reads as "nobody" for
	// publishers and "the publishers' keys" for subscribers.
	verifier := func(role string) (*auth.Verifier, error) {
		var keys []auth.KeyConfig
		for _, ks := range cfg.mercureKeySources(role) {
			k, err := ks.keys()
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", ks.flag, err)
			}
			keys = append(keys, k...)
		}
		var remote *auth.RemoteJWKS
		if rc, flag := cfg.mercureRemoteJWKSConfig(role, logFetch(log.With("jwks", "mercure "+role))); rc.URL != "" {
			var err error
			if remote, err = auth.NewRemoteJWKS(rc); err != nil {
				return nil, fmt.Errorf("--%s: %w", flag, err)
			}
			remotes = append(remotes, remote)
		}
		if len(keys) == 0 && remote == nil {
			return nil, nil
		}
		v, err := auth.NewVerifier(auth.Config{Keys: keys, Remote: remote, Leeway: cfg.JWTLeeway, Mercure: true})
		if err != nil {
			return nil, fmt.Errorf("mercure %s keys: %w", role, err)
		}
		return v, nil
	}
	pub, err := verifier("publisher")
	if err != nil {
		return nil, stop, err
	}
	sub, err := verifier("subscriber")
	if err != nil {
		return nil, stop, err
	}
	protocol := map[string]mercure.Generation{"07": mercure.Draft07, "08": mercure.Draft08}[cfg.MercureProto] // "both": 0
	if cfg.MercureResource == "" && protocol != mercure.Draft07 {
		log.Warn("no --mercure-resource: Mercure draft-08 access tokens are refused, since their aud cannot be checked (draft-08 §6.3)")
	}
	var subs broker.MercureSubscriptionStore
	if cfg.MercureSubs {
		var ok bool
		if subs, ok = b.(broker.MercureSubscriptionStore); !ok {
			return nil, stop, errors.New("--mercure-subscriptions: this broker keeps no subscriptions")
		}
	}
	return mercure.New(h, srv.Door(), mercure.Config{
		Path:         cfg.MercurePath,
		Publishers:   pub,
		Subscribers:  sub,
		Anonymous:    cfg.MercureAnon,
		CORSOrigins:  splitList(cfg.CORSOrigins),
		CookieName:   cfg.MercureCookie,
		Resource:     cfg.MercureResource,
		HubURL:       cfg.MercureHubURL,
		Protocol:     protocol,
		MaxSelectors: cfg.MaxTopics,
		MaxTopics:    cfg.MaxTopics,
		// As on the native API: a publish waits for the broker as long
		// as a stream's write may take.
		PublishTimeout: cfg.WriteTimeout,
		IdempotencyTTL: cfg.IdempotencyTTL,
		Logger:         log,

		// --mercure-subscriptions: a dead hub's drop out within
		// --presence-ttl, as its presence does.
		Subscriptions:    subs,
		SubscriptionsTTL: cfg.PresenceTTL,
	}), stop, nil
}
