package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub/acl"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
	"github.com/ssehub/ssehub/transport/frontdoor"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// Config is everything `ssehub` takes. Each field is one flag, --NAME from
// its `flag` tag, one environment variable, SSEHUB_NAME (upper case, '-' as
// '_'), and one key, NAME, of the configuration file (--config), unless its
// `file` tag is "-". A flag wins over the environment, which wins over the
// file, which wins over the default. Fields tagged `secret` are not printed
// by `ssehub config check`.
type Config struct {
	ConfigFile      string        `flag:"config" file:"-" help:"TOML file of settings, keys named as the flags (listen = \":8080\"); flags and SSEHUB_* variables override it"`
	Listen          string        `flag:"listen" help:"address to serve HTTP on"`
	AdminListen     string        `flag:"admin-listen" help:"address of the admin listener, serving /debug/pprof/ and /metrics (keep it private); empty turns it off"`
	PublicMetrics   string        `flag:"public-metrics" help:"serve /metrics on the public listener too: auto (only while --admin-listen is off), on or off"`
	RedisURL        string        `flag:"redis-url" help:"Redis to run a fleet on (redis://host:6379/0); empty runs the embedded broker"`
	RedisMode       string        `flag:"redis-mode" help:"standalone, cluster (more nodes as ?addr=host:port) or sentinel (URL of a sentinel, ?master_name=NAME)"`
	RedisPrefix     string        `flag:"redis-prefix" help:"namespace of ssehub's Redis keys and channels: letters, digits and _ - . / @ (a topic without ':')"`
	RedisPartitions int           `flag:"redis-partitions" help:"partitions the fleet's topics are spread over, each with its own ids, history and Cluster hash slot (docs/fleet-design.md); every hub of a fleet needs the same; 1 is the single-slot layout"`
	RedisPubSub     int           `flag:"redis-pubsub-conns" help:"Redis pub/sub connections the hub's shards share; 0 gives each shard its own (Redis sends a broadcast once per connection)"`
	Auth            string        `flag:"auth" help:"off (anyone may subscribe and publish; for local use) or jwt"`
	JWTSecret       string        `flag:"jwt-secret" secret:"true" help:"HS256 secret (at least 32 bytes) for --auth jwt"`
	JWTKeyFile      string        `flag:"jwt-key-file" help:"PEM public key for --auth jwt, used with --jwt-algorithm"`
	JWTAlgorithm    string        `flag:"jwt-algorithm" help:"algorithm of --jwt-key-file: RS256, ES256 or EdDSA"`
	JWKSFile        string        `flag:"jwt-jwks-file" help:"local JWKS file of public keys for --auth jwt"`
	JWKSURL         string        `flag:"jwt-jwks-url" help:"JWKS URL of the identity provider's keys for --auth jwt (https; http only on localhost), fetched again while running"`
	JWTOIDC         bool          `flag:"jwt-oidc-discovery" help:"find the JWKS URL in --jwt-issuer's /.well-known/openid-configuration"`
	JWKSRefresh     time.Duration `flag:"jwt-jwks-refresh" help:"how often the keys of --jwt-jwks-url (or discovery) are fetched again"`
	JWKSUnknownKID  time.Duration `flag:"jwt-jwks-unknown-kid-refresh" help:"least time between fetches asked for by tokens naming a key id no key has (a key just rotated in)"`
	JWKSTimeout     time.Duration `flag:"jwt-jwks-timeout" help:"timeout of each JWKS or discovery request"`
	JWTIssuer       string        `flag:"jwt-issuer" help:"required iss claim; empty accepts any"`
	JWTAudience     string        `flag:"jwt-audience" help:"required aud claim; empty accepts any"`
	JWTLeeway       time.Duration `flag:"jwt-leeway" help:"clock skew allowed when checking exp and nbf"`
	PublicTopics    string        `flag:"public-topics" help:"comma-separated topics and patterns anyone may subscribe to without a token"`
	APIKeys         string        `flag:"api-keys" secret:"true" help:"comma-separated static publisher keys (Authorization: Bearer KEY) that may publish to any topic, with --auth jwt"`
	PublishRate     int           `flag:"publish-rate" help:"events per second one publisher credential may publish, in bursts of twice that; -1 for no limit"`
	CORSOrigins     string        `flag:"cors-origins" help:"comma-separated browser origins allowed cross-origin, with cookies (https://app.example.com); * allows any, without cookies"`
	Demo            bool          `flag:"demo" help:"serve the demo page at / (publish and watch events in a browser); turn it off in production with --demo=false"`
	Shards          int           `flag:"shards" help:"shard goroutines; 0 means 2 x GOMAXPROCS"`
	QueueSize       int           `flag:"queue-size" help:"messages a stream may have waiting; a stream whose queue fills while most of its shard keeps up is evicted and resumes"`
	PublishWait     time.Duration `flag:"publish-wait" help:"how long a publish waits while the hub's streams are behind before it is refused (503 overloaded, Retry-After); 0 refuses at once"`
	StallTimeout    time.Duration `flag:"stall-timeout" help:"how long a shard held up by streams that read nothing waits before it evicts them"`
	Heartbeat       time.Duration `flag:"heartbeat" help:"longest a stream goes without a write: a comment line when no event came (staggered across streams)"`
	WriteTimeout    time.Duration `flag:"write-timeout" help:"a stream that cannot take a write in this time is dropped"`
	IOUring         bool          `flag:"io-uring" help:"write each fan-out to its sockets in batches through io_uring where the kernel allows it, falling back to one write(2) per socket; false always uses write(2)"`
	SendBuffer      int           `flag:"send-buffer" unit:"bytes" help:"kernel send buffer each stream's socket starts with, in bytes (SO_SNDBUF; Linux doubles it); bounds kernel memory per stuck client and how soon it is noticed; 0 leaves the kernel's autotuning (MBs per socket)"`
	SendBufferMax   int           `flag:"send-buffer-max" unit:"bytes" help:"how far a stream's send buffer grows, doubling each time its client takes a write larger than it, so a small --send-buffer does not cap healthy clients; at most --send-buffer keeps it fixed"`
	Retry           time.Duration `flag:"retry" help:"reconnect delay told to EventSource clients"`
	HistorySize     int           `flag:"history-size" help:"events kept per topic for resume (Last-Event-ID); 0 keeps none"`
	HistoryTTL      time.Duration `flag:"history-ttl" help:"how long events are kept for resume"`
	HistoryBudget   int           `flag:"history-budget" unit:"bytes" help:"bytes of history the embedded broker keeps in all (oldest events dropped first; a resume into them gets ssehub.reset); with Redis, bound its memory with maxmemory instead"`
	IdempotencyTTL  time.Duration `flag:"idempotency-ttl" help:"how long a publish sent with an Idempotency-Key header is remembered: a retry within it returns the first ids and publishes nothing"`
	ReadTimeout     time.Duration `flag:"read-timeout" help:"time allowed to send a request (slow-client protection)"`
	IdleTimeout     time.Duration `flag:"idle-timeout" help:"keep-alive connections idle this long are closed"`
	MaxBodySize     int           `flag:"max-body-size" unit:"bytes" help:"largest publish request body in bytes (413 above)"`
	MaxHeaderSize   int           `flag:"max-header-size" unit:"bytes" help:"largest request line and headers in bytes (431 above)"`
	MaxDataSize     int           `flag:"max-data-size" unit:"bytes" help:"largest data of one event in bytes (413 above)"`
	MaxBatch        int           `flag:"max-batch" help:"most events in one publish request (413 above)"`
	MaxTopics       int           `flag:"max-topics" help:"most topics and patterns per stream, and topics per event"`
	MaxStreamsPerIP int           `flag:"max-streams-per-ip" help:"most open streams per client address; -1 for no limit (behind a proxy all clients share its address)"`
	MaxStreamsUser  int           `flag:"max-streams-per-user" help:"most open streams per authenticated user; -1 for no limit"`
	Presence        bool          `flag:"presence" help:"count who follows each topic, across the fleet, for GET /presence (see README, Presence); off keeps the connect path as it is"`
	PresenceEvents  string        `flag:"presence-events" help:"comma-separated topics and patterns whose users' joins and leaves are published as ssehub.join and ssehub.leave events to the companion topic presence:<topic> (needs --presence)"`
	PresenceTTL     time.Duration `flag:"presence-ttl" help:"how long a hub's presence outlives it when it dies without shutting down (kill -9, cut off from Redis); refreshed every third of it"`
	DrainWindow     time.Duration `flag:"drain-window" help:"on SIGTERM, open streams are told to reconnect (elsewhere) and closed one after another over this time; 0 closes them at once"`
	ShutdownTimeout time.Duration `flag:"shutdown-timeout" help:"how long shutdown (the drain included) may take before the process exits anyway"`
	Mercure         bool          `flag:"mercure" help:"serve the Mercure protocol too (docs/mercure.md; publishing and subscribing with draft-07 tokens and draft-08 access tokens), at --mercure-path"`
	MercurePath     string        `flag:"mercure-path" help:"URL path of the Mercure front door"`
	MercurePubKey   string        `flag:"mercure-publisher-jwt-secret" secret:"true" help:"HS256 secret (at least 32 bytes) of Mercure publishers' tokens (Mercure's publisher_jwt); empty: no one publishes through the Mercure door"`
	MercureSubKey   string        `flag:"mercure-subscriber-jwt-secret" secret:"true" help:"HS256 secret of Mercure subscribers' tokens (subscriber_jwt); without it and --mercure-subscriber-jwt-key-file, subscribers' tokens are checked with the publishers' keys"`
	MercureAnon     bool          `flag:"mercure-anonymous" help:"let Mercure subscribers without a token in, for public updates only (Mercure's anonymous)"`
	MercureCookie   string        `flag:"mercure-cookie-name" help:"cookie a Mercure token may come in (Mercure's cookie_name); __Secure-mercure_access_token is read too"`
	MercurePubFile  string        `flag:"mercure-publisher-jwt-key-file" help:"PEM public key of Mercure publishers' tokens, used with --mercure-jwt-algorithm (Mercure's publisher_jwt KEY ALG); with --mercure-publisher-jwt-secret, either verifies"`
	MercureSubFile  string        `flag:"mercure-subscriber-jwt-key-file" help:"PEM public key of Mercure subscribers' tokens, used with --mercure-jwt-algorithm (subscriber_jwt KEY ALG)"`
	MercurePubJWKS  string        `flag:"mercure-publisher-jwks-url" help:"JWKS URL of Mercure publishers' keys (Mercure's publisher_jwks_url; https, http only on localhost), fetched again as --jwt-jwks-refresh says; beside a secret or key file, either verifies"`
	MercureSubJWKS  string        `flag:"mercure-subscriber-jwks-url" help:"JWKS URL of Mercure subscribers' keys (subscriber_jwks_url)"`
	MercureAlg      string        `flag:"mercure-jwt-algorithm" help:"algorithm of the --mercure-*-jwt-key-file keys: RS256, ES256 or EdDSA"`
	MercureResource string        `flag:"mercure-resource" help:"the hub's resource identifier, which a draft-08 access token's aud must contain (draft-08 §6.3), such as https://hub.example.com/.well-known/mercure; empty: draft-08 tokens are refused"`
	MercureHubURL   string        `flag:"mercure-hub-url" help:"the hub's public URL, such as https://hub.example.com/.well-known/mercure: relative URL patterns and the relative topics they match (subscription events) resolve against it (draft-08 §4.2); empty: --mercure-resource if it is a URL, else http://localhost and --mercure-path"`
	MercureProto    string        `flag:"mercure-protocol" help:"the Mercure tokens accepted: 07 (the mercure claim), 08 (access tokens with authorization_details) or both (Mercure's protocol_version_compatibility)"`
	MercureSubs     bool          `flag:"mercure-subscriptions" help:"track active Mercure subscriptions across the fleet: private subscription events and GET <mercure-path>/subscriptions (Mercure's subscriptions; needs --mercure); a dead hub's drop out within --presence-ttl"`
	LogLevel        string        `flag:"log-level" help:"debug, info, warn or error"`
	LogFormat       string        `flag:"log-format" help:"text or json"`
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		Listen:          ":8080",
		PublicMetrics:   "auto",
		RedisMode:       "standalone",
		RedisPrefix:     "ssehub",
		RedisPartitions: 1,
		// One per hub: Redis writes a broadcast once per subscribed
		// connection (docs/capacity.md), and sharing one cost the hub
		// nothing measurable (BENCHMARKS.md, "Fleet mode: pub/sub connections").
		RedisPubSub:     1,
		Auth:            "off",
		Demo:            true,
		JWTAlgorithm:    "RS256",
		JWTLeeway:       30 * time.Second,
		JWKSRefresh:     time.Hour,
		JWKSUnknownKID:  time.Minute,
		JWKSTimeout:     10 * time.Second,
		QueueSize:       64,
		PublishWait:     2 * time.Second,
		StallTimeout:    time.Second,
		Heartbeat:       15 * time.Second,
		WriteTimeout:    10 * time.Second,
		IOUring:         true,
		SendBuffer:      32 << 10,
		SendBufferMax:   1 << 20,
		Retry:           3 * time.Second,
		HistorySize:     1000,
		HistoryTTL:      time.Hour,
		HistoryBudget:   256 << 20,
		IdempotencyTTL:  24 * time.Hour,
		ReadTimeout:     10 * time.Second,
		IdleTimeout:     60 * time.Second,
		MaxBodySize:     1 << 20,
		MaxHeaderSize:   8 << 10,
		MaxDataSize:     64 << 10,
		MaxBatch:        1000,
		MaxTopics:       64,
		MaxStreamsPerIP: 2000,
		PublishRate:     1000,
		MaxStreamsUser:  50,
		PresenceTTL:     30 * time.Second,
		DrainWindow:     3 * time.Second,
		ShutdownTimeout: 10 * time.Second,
		MercurePath:     "/.well-known/mercure",
		MercureCookie:   "mercureAuthorization",
		MercureAlg:      "RS256",
		MercureProto:    "both",
		LogLevel:        "info",
		LogFormat:       "text",
	}
}

// envName is the environment variable for a flag.
func envName(flagName string) string {
	return "SSEHUB_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// errHelp is returned by parseConfig when --help was asked for.
var errHelp = flag.ErrHelp

// parseConfig builds the configuration from defaults, the configuration file
// (--config or SSEHUB_CONFIG), the environment (read through lookupEnv) and
// args, in that order of increasing precedence. Usage goes to out, for
// --help.
func parseConfig(args []string, lookupEnv func(string) (string, bool), out io.Writer) (Config, error) {
	cfg, _, err := loadConfig(args, lookupEnv, out)
	return cfg, err
}

// loadConfig is parseConfig that also says where each value came from. It
// reports every problem it finds, of any source and kind, in one error,
// one problem per line: this is what both start and `ssehub config check`
// run, so the two refuse the same settings with the same words.
func loadConfig(args []string, lookupEnv func(string) (string, bool), out io.Writer) (Config, sources, error) {
	cfg := DefaultConfig()
	src := sources{}
	fs := newFlagSet(&cfg, out)
	// The sources are applied from the lowest precedence up, so the flags
	// come last; but --config is itself a flag: a first, silent parse
	// finds it (and --help or --version).
	var early Config
	switch _, err := parseFlags(newFlagSet(&early, io.Discard), args); {
	case errors.Is(err, errHelp):
		fs.Usage()
		return cfg, src, errHelp
	case errors.Is(err, errVersion):
		return cfg, src, errVersion
	}
	env := map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) {
		// An empty variable counts as unset, as shells and orchestrators
		// commonly leave variables defined but blank.
		if val, ok := lookupEnv(envName(fl.Name)); ok && val != "" {
			env[fl.Name] = val
		}
	})
	var errs []error
	if path := cmp.Or(early.ConfigFile, env["config"]); path != "" {
		errs = append(errs, applyFile(fs, path, src))
	}
	fs.VisitAll(func(fl *flag.Flag) {
		if val, ok := env[fl.Name]; ok {
			src[fl.Name] = envName(fl.Name)
			if err := setFlag(fl, val); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", src.label(fl.Name), err))
			}
		}
	})
	rest, err := parseFlags(fs, args)
	errs = append(errs, err)
	if len(rest) > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q; settings are --flags (run 'ssehub help' for the commands)", rest[0]))
	}
	fs.Visit(func(fl *flag.Flag) { src[fl.Name] = "--" + fl.Name })
	cfg.normalize()
	errs = append(errs, cfg.validate(src))
	return cfg, src, errors.Join(errs...)
}

// normalize spells the enumerated settings as validate expects them, so
// that case does not matter (SSEHUB_LOG_LEVEL=DEBUG).
func (c *Config) normalize() {
	for _, p := range []*string{&c.LogLevel, &c.LogFormat, &c.Auth, &c.RedisMode, &c.PublicMetrics, &c.MercureProto} {
		*p = strings.ToLower(strings.TrimSpace(*p))
	}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		for _, p := range []*string{&c.JWTAlgorithm, &c.MercureAlg} {
			if strings.EqualFold(*p, alg) {
				*p = alg
			}
		}
	}
}

// suffixes returns names without prefix.
func suffixes(names []string, prefix string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimPrefix(n, prefix)
	}
	return out
}

// unknownEnv returns a warning for each SSEHUB_ variable of environ
// (KEY=VALUE pairs) that names no setting: a misspelled one would
// otherwise be ignored without a word.
func unknownEnv(environ []string) []string {
	known := map[string]bool{}
	var names []string
	for _, f := range configFields() {
		name := envName(f.Tag.Get("flag"))
		known[name] = true
		names = append(names, name)
	}
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "SSEHUB_") || known[name] {
			continue
		}
		w := name + " is not a setting and is ignored"
		// Compared without the prefix they all share, which would make
		// any two names look alike.
		if best := closest(strings.TrimPrefix(name, "SSEHUB_"), suffixes(names, "SSEHUB_")); best != "" {
			w += " (did you mean SSEHUB_" + best + "?)"
		}
		warnings = append(warnings, w)
	}
	return warnings
}

// newFlagSet returns a flag set whose flags set the fields of cfg, with
// usage to out.
func newFlagSet(cfg *Config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ssehub", flag.ContinueOnError)
	fs.SetOutput(out)
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, help := f.Tag.Get("flag"), f.Tag.Get("help")
		help += " (env " + envName(name) + ")"
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, name, *p, help)
		case *int:
			fs.IntVar(p, name, *p, help)
		case *time.Duration:
			fs.DurationVar(p, name, *p, help)
		case *bool:
			fs.BoolVar(p, name, *p, help)
		default:
			panic(fmt.Sprintf("config field %s: unsupported type %T", f.Name, p))
		}
	}
	fs.Usage = func() {
		fmt.Fprint(out, usageHead+"\nFlags of the hub (and of config check):\n")
		// Not fs.PrintDefaults: it spells flags -name where the docs and
		// errors say --name, and leaves out zero defaults (--shards 0).
		fs.VisitAll(func(fl *flag.Flag) {
			typ, usage := flag.UnquoteUsage(fl)
			def := fl.DefValue
			if typ == "string" {
				def = strconv.Quote(def)
			}
			fmt.Fprintf(out, "  --%s %s\n    \t%s (default %s)\n", fl.Name, typ, usage, def)
		})
	}
	return fs
}

// validate reports values no component could use, each named as src says
// it was set (nil: by its flag).
func (c Config) validate(src sources) error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", src.label(name), fmt.Sprintf(format, args...)))
	}
	atLeast := []struct {
		name     string
		got, min int
	}{
		{"shards", c.Shards, 0}, {"redis-pubsub-conns", c.RedisPubSub, 0}, {"redis-partitions", c.RedisPartitions, 1}, {"history-size", c.HistorySize, 0}, {"history-budget", c.HistoryBudget, 1 << 20}, {"queue-size", c.QueueSize, 2}, {"send-buffer", c.SendBuffer, 0}, {"send-buffer-max", c.SendBufferMax, 0},
		{"max-body-size", c.MaxBodySize, 1}, {"max-header-size", c.MaxHeaderSize, 1},
		{"max-data-size", c.MaxDataSize, 1}, {"max-batch", c.MaxBatch, 1}, {"max-topics", c.MaxTopics, 1},
	}
	for _, f := range atLeast {
		if f.got < f.min {
			bad(f.name, "must be at least %d, got %d", f.min, f.got)
		}
	}
	positive := []struct {
		name string
		got  time.Duration
	}{
		{"heartbeat", c.Heartbeat}, {"write-timeout", c.WriteTimeout}, {"retry", c.Retry},
		{"history-ttl", c.HistoryTTL}, {"read-timeout", c.ReadTimeout}, {"idle-timeout", c.IdleTimeout},
		{"shutdown-timeout", c.ShutdownTimeout}, {"stall-timeout", c.StallTimeout},
		{"jwt-jwks-refresh", c.JWKSRefresh}, {"jwt-jwks-unknown-kid-refresh", c.JWKSUnknownKID}, {"jwt-jwks-timeout", c.JWKSTimeout},
		{"idempotency-ttl", c.IdempotencyTTL},
	}
	for _, f := range positive {
		if f.got <= 0 {
			bad(f.name, "must be positive, got %s", f.got)
		}
	}
	// Under a second, a hub's refreshes (every third of it) would race
	// its expiry on any busy Redis.
	if c.PresenceTTL < time.Second {
		bad("presence-ttl", "must be at least 1s, got %s", c.PresenceTTL)
	}
	// Redis keeps its records with PX in milliseconds; less than a second
	// could not outlast a client's first retry anyway.
	if c.IdempotencyTTL > 0 && c.IdempotencyTTL < time.Second {
		bad("idempotency-ttl", "must be at least 1s, got %s", c.IdempotencyTTL)
	}
	if c.Heartbeat > 0 && c.Heartbeat < 100*time.Millisecond {
		bad("heartbeat", "must be at least 100ms, got %s", c.Heartbeat)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("log-level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if !slices.Contains([]string{"standalone", "cluster", "sentinel"}, c.RedisMode) {
		bad("redis-mode", "must be standalone, cluster or sentinel, got %q", c.RedisMode)
	}
	if err := redisbroker.ValidatePrefix(c.RedisPrefix); err != nil {
		bad("redis-prefix", "%v", err)
	}
	for _, f := range []struct {
		name string
		got  int
	}{{"max-streams-per-ip", c.MaxStreamsPerIP}, {"max-streams-per-user", c.MaxStreamsUser}, {"publish-rate", c.PublishRate}} {
		if f.got < -1 || f.got == 0 {
			bad(f.name, "must be at least 1, or -1 for no limit, got %d", f.got)
		}
	}
	if !slices.Contains([]string{"off", "jwt"}, c.Auth) {
		bad("auth", "must be off or jwt, got %q", c.Auth)
	}
	if c.Auth == "jwt" && c.JWTSecret == "" && c.JWTKeyFile == "" && c.JWKSFile == "" && c.JWKSURL == "" && !c.JWTOIDC {
		bad("auth", "jwt needs a key: --jwt-secret, --jwt-key-file, --jwt-jwks-file, --jwt-jwks-url or --jwt-oidc-discovery")
	}
	switch {
	case c.JWKSURL != "" && c.JWTOIDC:
		bad("jwt-oidc-discovery", "finds the JWKS URL itself: give it or --jwt-jwks-url, not both")
	case c.JWTOIDC && c.JWTIssuer == "":
		bad("jwt-oidc-discovery", "needs --jwt-issuer, whose discovery document names the JWKS URL")
	case c.Auth == "jwt" && (c.JWKSURL != "" || c.JWTOIDC):
		// What start builds, without the fetch (which runs in the
		// background and may wait for the provider).
		name := "jwt-jwks-url"
		if c.JWTOIDC {
			name = "jwt-oidc-discovery"
		}
		if err := c.remoteJWKSConfig(nil).Check(); err != nil {
			bad(name, "%v", err)
		}
	}
	if c.Auth == "jwt" {
		// Each key as start loads it: files read, keys parsed.
		for _, ks := range c.keySources() {
			if _, err := ks.keys(); err != nil {
				bad(ks.flag, "%v", err)
			}
		}
	}
	if c.Mercure {
		switch {
		case c.RedisPartitions > 1:
			bad("mercure", "needs --redis-partitions 1 for now: a Mercure update's id is a position in one partition (docs/mercure-design.md)")
		case c.MercurePubKey == "" && c.MercureSubKey == "" && c.MercurePubFile == "" && c.MercureSubFile == "" &&
			c.MercurePubJWKS == "" && c.MercureSubJWKS == "" && !c.MercureAnon:
			bad("mercure", "needs --mercure-publisher-jwt-secret, -key-file or -jwks-url, --mercure-subscriber-jwt-secret, -key-file or -jwks-url, or --mercure-anonymous")
		}
		for _, role := range []string{"publisher", "subscriber"} {
			if rc, flag := c.mercureRemoteJWKSConfig(role, nil); rc.URL != "" {
				if err := rc.Check(); err != nil {
					bad(flag, "%v", err)
				}
			}
		}
		if err := httpapi.CheckMountPath(c.MercurePath); err != nil {
			bad("mercure-path", "%v", err)
		}
		// Each key as start loads it: secrets' lengths, files read, keys
		// parsed and matched to the algorithm.
		for _, role := range []string{"publisher", "subscriber"} {
			for _, ks := range c.mercureKeySources(role) {
				if _, err := ks.keys(); err != nil {
					bad(ks.flag, "%v", err)
				}
			}
		}
		if c.MercureHubURL != "" {
			if _, err := urlpattern.NewBase(c.MercureHubURL); err != nil {
				bad("mercure-hub-url", "want an absolute URL such as https://hub.example.com/.well-known/mercure: %v", err)
			}
		}
		switch c.MercureProto {
		case "07", "both":
		case "08":
			if c.MercureResource == "" {
				bad("mercure-protocol", "08 needs --mercure-resource: draft-08 §6.3 checks every token's aud against it")
			}
		default:
			bad("mercure-protocol", "must be 07, 08 or both, got %q", c.MercureProto)
		}
	}
	switch {
	case c.MercureSubs && !c.Mercure:
		bad("mercure-subscriptions", "needs --mercure")
	case c.MercureSubs && c.RedisPartitions > 1:
		bad("mercure-subscriptions", "needs --redis-partitions 1: the subscriptions and their events live in partition 0's slot")
	}
	apiKeys := splitList(c.APIKeys)
	if len(apiKeys) > 0 && c.Auth != "jwt" {
		bad("api-keys", "need --auth jwt (with --auth off anyone may publish)")
	}
	for i, k := range apiKeys {
		if len(k) < minAPIKeyLen {
			bad("api-keys", "key %d of %d is %d bytes, want at least %d (for example 32 random letters and digits)", i+1, len(apiKeys), len(k), minAPIKeyLen)
		}
	}
	if _, err := acl.NewGrant(splitList(c.PublicTopics)); err != nil {
		bad("public-topics", "%v", err)
	}
	if _, err := acl.NewGrant(splitList(c.PresenceEvents)); err != nil {
		bad("presence-events", "%v", err)
	} else if c.PresenceEvents != "" && !c.Presence {
		bad("presence-events", "needs --presence")
	}
	switch {
	case c.RedisPartitions > redisbroker.MaxPartitions:
		bad("redis-partitions", "must be at most %d, got %d", redisbroker.MaxPartitions, c.RedisPartitions)
	case c.RedisPartitions > 1 && c.RedisURL == "":
		bad("redis-partitions", "needs --redis-url: the embedded broker has no partitions")
	case c.RedisPartitions > 1 && c.Presence:
		// Presence keeps its counts and events in partition 0's slot,
		// while a partitioned topic's history is in its own.
		bad("redis-partitions", "does not work with --presence yet: use 1, or turn presence off")
	}
	for _, o := range splitList(c.CORSOrigins) {
		if err := frontdoor.ValidateOrigin(o); err != nil {
			bad("cors-origins", "%v", err)
		}
	}
	if !slices.Contains([]string{"auto", "on", "off"}, c.PublicMetrics) {
		bad("public-metrics", "must be auto, on or off, got %q", c.PublicMetrics)
	}
	for _, l := range []struct{ name, addr string }{{"listen", c.Listen}, {"admin-listen", c.AdminListen}} {
		if l.addr == "" && l.name == "admin-listen" {
			continue
		}
		if err := checkListenAddr(l.addr); err != nil {
			bad(l.name, "%v", err)
		}
	}
	switch {
	case c.RedisURL == "" && (c.RedisMode == "cluster" || c.RedisMode == "sentinel"):
		bad("redis-mode", "%s needs --redis-url (without it the hub would run the embedded broker)", c.RedisMode)
	case c.RedisURL != "" && slices.Contains([]string{"standalone", "cluster", "sentinel"}, c.RedisMode):
		if client, err := redisClient(c); err != nil {
			bad("redis-url", "%v", err)
		} else {
			client.Close() // made, not connected: go-redis dials on first use
		}
	}
	if c.PublishWait < 0 {
		bad("publish-wait", "must not be negative, got %s", c.PublishWait)
	}
	if c.JWTLeeway < 0 {
		bad("jwt-leeway", "must not be negative, got %s", c.JWTLeeway)
	}
	if !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		bad("log-format", "must be text or json, got %q", c.LogFormat)
	}
	switch {
	case c.DrainWindow < 0:
		bad("drain-window", "must not be negative, got %s", c.DrainWindow)
	case c.ShutdownTimeout > 0 && c.DrainWindow >= c.ShutdownTimeout:
		bad("drain-window", "must be shorter than --shutdown-timeout (%s), which bounds the whole shutdown, got %s", c.ShutdownTimeout, c.DrainWindow)
	}
	return errors.Join(errs...)
}
