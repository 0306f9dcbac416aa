package main

import (
	"errors"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envMap returns a lookupEnv over m.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*Config) // applied to DefaultConfig()
	}{
		{name: "defaults", want: func(*Config) {}},
		{
			name: "unrelated env ignored",
			env:  map[string]string{"LISTEN": ":1", "HEARTBEAT": "x", "SSEHUB": "y"},
			want: func(*Config) {},
		},

		// string
		{
			name: "string from flag",
			args: []string{"--listen", "127.0.0.1:9000"},
			want: func(c *Config) { c.Listen = "127.0.0.1:9000" },
		},
		{
			name: "string from flag with =",
			args: []string{"--log-format=json"},
			want: func(c *Config) { c.LogFormat = "json" },
		},
		{
			name: "string from env",
			env:  map[string]string{"SSEHUB_LISTEN": ":9001"},
			want: func(c *Config) { c.Listen = ":9001" },
		},
		{
			name: "string flag over env",
			args: []string{"-listen", ":9002"},
			env:  map[string]string{"SSEHUB_LISTEN": ":9001"},
			want: func(c *Config) { c.Listen = ":9002" },
		},

		// int
		{
			name: "int from flag",
			args: []string{"--history-size", "5"},
			want: func(c *Config) { c.HistorySize = 5 },
		},
		{
			name: "int zero from flag",
			args: []string{"--history-size=0"},
			want: func(c *Config) { c.HistorySize = 0 },
		},
		{
			name: "int from env",
			env:  map[string]string{"SSEHUB_HISTORY_SIZE": "7", "SSEHUB_MAX_BODY_SIZE": "4096"},
			want: func(c *Config) { c.HistorySize = 7; c.MaxBodySize = 4096 },
		},
		{
			name: "int flag over env",
			args: []string{"--history-size", "9"},
			env:  map[string]string{"SSEHUB_HISTORY_SIZE": "7"},
			want: func(c *Config) { c.HistorySize = 9 },
		},

		// duration
		{
			name: "duration from flag",
			args: []string{"--heartbeat", "250ms"},
			want: func(c *Config) { c.Heartbeat = 250 * time.Millisecond },
		},
		{
			name: "duration from env",
			env:  map[string]string{"SSEHUB_HEARTBEAT": "30s", "SSEHUB_SHUTDOWN_TIMEOUT": "1m"},
			want: func(c *Config) { c.Heartbeat = 30 * time.Second; c.ShutdownTimeout = time.Minute },
		},
		{
			name: "duration flag over env",
			args: []string{"--heartbeat=2s"},
			env:  map[string]string{"SSEHUB_HEARTBEAT": "30s"},
			want: func(c *Config) { c.Heartbeat = 2 * time.Second },
		},

		// bool
		{
			name: "bool off from flag",
			args: []string{"--demo=false"},
			want: func(c *Config) { c.Demo = false },
		},
		{
			name: "bool from env",
			env:  map[string]string{"SSEHUB_DEMO": "false"},
			want: func(c *Config) { c.Demo = false },
		},
		{
			name: "bool flag without value over env",
			args: []string{"--demo"},
			env:  map[string]string{"SSEHUB_DEMO": "0"},
			want: func(c *Config) { c.Demo = true },
		},

		{
			name: "mixed sources",
			args: []string{"--shards", "3", "--log-level", "debug"},
			env:  map[string]string{"SSEHUB_SHARDS": "8", "SSEHUB_RETRY": "1s", "SSEHUB_LOG_LEVEL": "warn"},
			want: func(c *Config) { c.Shards = 3; c.Retry = time.Second; c.LogLevel = "debug" },
		},
		{
			name: "flag repeated, last wins",
			args: []string{"--queue-size", "10", "--queue-size", "20"},
			want: func(c *Config) { c.QueueSize = 20 },
		},
		{
			name: "-- ends flags",
			args: []string{"--queue-size", "10", "--"},
			want: func(c *Config) { c.QueueSize = 10 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			got, err := parseConfig(tt.args, envMap(tt.env), &out)
			if err != nil {
				t.Fatalf("parseConfig(%q, %v) error = %v, want nil", tt.args, tt.env, err)
			}
			want := DefaultConfig()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parseConfig(%q, %v) mismatch (-want +got):\n%s", tt.args, tt.env, diff)
			}
			if out.Len() != 0 {
				t.Errorf("parseConfig(%q, %v) wrote %q, want nothing", tt.args, tt.env, out.String())
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		// Parsing.
		{name: "bad env int", env: map[string]string{"SSEHUB_HISTORY_SIZE": "ten"}, want: []string{`SSEHUB_HISTORY_SIZE (--history-size): invalid value "ten": want a whole number, such as 1000`}},
		{name: "bad env bool", env: map[string]string{"SSEHUB_DEMO": "nope"}, want: []string{`SSEHUB_DEMO (--demo): invalid value "nope": want true or false`}},
		{name: "bad env duration", env: map[string]string{"SSEHUB_HEARTBEAT": "bogus"}, want: []string{`SSEHUB_HEARTBEAT (--heartbeat): invalid value "bogus": want a duration with its unit, such as 15s`}},
		{name: "bad env, flag given too", args: []string{"--heartbeat", "1s"}, env: map[string]string{"SSEHUB_HEARTBEAT": "bogus"}, want: []string{"SSEHUB_HEARTBEAT"}},
		{
			name: "two bad env values",
			env:  map[string]string{"SSEHUB_HEARTBEAT": "bogus", "SSEHUB_SHARDS": "many"},
			want: []string{"SSEHUB_HEARTBEAT", "SSEHUB_SHARDS"},
		},
		{name: "bad flag int", args: []string{"--shards", "x"}, want: []string{`"x"`, "-shards"}},
		{name: "bad flag duration", args: []string{"--retry=3"}, want: []string{`"3"`, "-retry"}},
		{name: "flag missing value", args: []string{"--listen"}, want: []string{"-listen"}},
		{name: "unknown flag", args: []string{"--no-such-flag"}, want: []string{"-no-such-flag"}},
		{name: "positional argument", args: []string{"serve"}, want: []string{`"serve"`}},
		{name: "positional after flag", args: []string{"--shards", "2", "extra"}, want: []string{`"extra"`}},

		// validate(), reached from flags.
		{name: "mercure without keys or anonymous", args: []string{"--mercure"}, want: []string{"--mercure", "--mercure-anonymous"}},
		{name: "mercure on partitions", args: []string{"--mercure", "--mercure-anonymous", "--redis-partitions", "3"}, want: []string{"--mercure", "--redis-partitions 1"}},
		{name: "mercure path under a native path", args: []string{"--mercure", "--mercure-anonymous", "--mercure-path", "/events/mercure"}, want: []string{"--mercure-path", "/events"}},
		{name: "mercure path with a trailing slash", args: []string{"--mercure", "--mercure-anonymous", "--mercure-path", "/hub/"}, want: []string{"--mercure-path"}},
		{name: "mercure-subscriptions without mercure", args: []string{"--mercure-subscriptions"}, want: []string{"--mercure-subscriptions", "needs --mercure"}},
		{name: "mercure-subscriptions on partitions", args: []string{"--mercure", "--mercure-anonymous", "--mercure-subscriptions", "--redis-partitions", "2"},
			want: []string{"--mercure-subscriptions", "--redis-partitions 1"}},
		{name: "mercure secret too short", args: []string{"--mercure", "--mercure-publisher-jwt-secret", "short"}, want: []string{"--mercure-publisher-jwt-secret"}},
		{name: "mercure JWKS URL over plain http elsewhere than localhost", args: []string{"--mercure", "--mercure-publisher-jwks-url", "http://idp.example.com/jwks.json"},
			want: []string{"--mercure-publisher-jwks-url"}},
		{name: "mercure hub URL not absolute", args: []string{"--mercure", "--mercure-anonymous", "--mercure-hub-url", "/.well-known/mercure"},
			want: []string{"--mercure-hub-url", "absolute URL"}},
		{name: "mercure protocol unknown", args: []string{"--mercure", "--mercure-anonymous", "--mercure-protocol", "09"}, want: []string{"--mercure-protocol", "07, 08 or both"}},
		{name: "mercure protocol 08 without a resource", args: []string{"--mercure", "--mercure-anonymous", "--mercure-protocol", "08"},
			want: []string{"--mercure-protocol", "--mercure-resource"}},
		{name: "mercure key file missing", args: []string{"--mercure", "--mercure-subscriber-jwt-key-file", "/nonexistent/key.pem"},
			want: []string{"--mercure-subscriber-jwt-key-file", "no such file"}},
		{name: "mercure key file algorithm unknown", args: []string{"--mercure", "--mercure-publisher-jwt-key-file", "/nonexistent/key.pem", "--mercure-jwt-algorithm", "HS512"},
			want: []string{"--mercure-publisher-jwt-key-file", "HS512"}},
		{name: "negative shards", args: []string{"--shards=-1"}, want: []string{"--shards"}},
		{name: "negative history-size", args: []string{"--history-size=-1"}, want: []string{"--history-size", "-1"}},
		{name: "queue-size 1", args: []string{"--queue-size", "1"}, want: []string{"--queue-size", "at least 2"}},
		{name: "zero heartbeat", args: []string{"--heartbeat", "0"}, want: []string{"--heartbeat", "positive"}},
		{name: "negative publish-wait", args: []string{"--publish-wait", "-1s"}, want: []string{"--publish-wait", "negative"}},
		{name: "zero stall-timeout", args: []string{"--stall-timeout", "0"}, want: []string{"--stall-timeout", "positive"}},
		{name: "negative heartbeat", args: []string{"--heartbeat", "-1s"}, want: []string{"--heartbeat"}},
		{name: "heartbeat 50ms", args: []string{"--heartbeat", "50ms"}, want: []string{"--heartbeat", "100ms"}},
		{name: "zero write-timeout", args: []string{"--write-timeout", "0"}, want: []string{"--write-timeout"}},
		{name: "zero retry", args: []string{"--retry", "0"}, want: []string{"--retry"}},
		{name: "zero history-ttl", args: []string{"--history-ttl", "0"}, want: []string{"--history-ttl"}},
		{name: "zero idempotency-ttl", args: []string{"--idempotency-ttl", "0"}, want: []string{"--idempotency-ttl", "positive"}},
		{name: "idempotency-ttl 500ms", args: []string{"--idempotency-ttl", "500ms"}, want: []string{"--idempotency-ttl", "at least 1s"}},
		{name: "zero read-timeout", args: []string{"--read-timeout", "0"}, want: []string{"--read-timeout"}},
		{name: "zero idle-timeout", args: []string{"--idle-timeout", "0"}, want: []string{"--idle-timeout"}},
		{name: "zero shutdown-timeout", args: []string{"--shutdown-timeout", "0"}, want: []string{"--shutdown-timeout"}},
		{name: "zero max-body-size", args: []string{"--max-body-size", "0"}, want: []string{"--max-body-size"}},
		{name: "zero max-header-size", args: []string{"--max-header-size", "0"}, want: []string{"--max-header-size"}},
		{name: "zero max-data-size", args: []string{"--max-data-size", "0"}, want: []string{"--max-data-size"}},
		{name: "zero max-batch", args: []string{"--max-batch", "0"}, want: []string{"--max-batch"}},
		{name: "zero max-topics", args: []string{"--max-topics", "0"}, want: []string{"--max-topics"}},
		{name: "bad log-level", args: []string{"--log-level", "verbose"}, want: []string{"--log-level", `"verbose"`}},
		{name: "bad log-format", args: []string{"--log-format", "xml"}, want: []string{"--log-format", `"xml"`}},

		// validate(), reached from the environment: the rule names the flag.
		{name: "queue-size 1 from env", env: map[string]string{"SSEHUB_QUEUE_SIZE": "1"}, want: []string{"--queue-size"}},
		{
			name: "every rule reported",
			args: []string{"--queue-size", "1", "--heartbeat", "50ms", "--log-format", "xml"},
			want: []string{"--queue-size", "--heartbeat", "--log-format"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			_, err := parseConfig(tt.args, envMap(tt.env), &out)
			if err == nil {
				t.Fatalf("parseConfig(%q, %v) error = nil, want one naming %q", tt.args, tt.env, tt.want)
			}
			if errors.Is(err, errHelp) {
				t.Errorf("parseConfig(%q, %v) error = %v, want not errHelp", tt.args, tt.env, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("parseConfig(%q, %v) error = %q, want it to contain %q", tt.args, tt.env, err, w)
				}
			}
		})
	}
}

// TestValidateDefaults checks the defaults pass their own rules.
func TestValidateDefaults(t *testing.T) {
	if err := DefaultConfig().validate(nil); err != nil {
		t.Errorf("DefaultConfig().validate(nil) = %v, want nil", err)
	}
}

// TestValidateBoundaries checks the smallest accepted values are accepted.
func TestValidateBoundaries(t *testing.T) {
	c := DefaultConfig()
	c.Shards, c.HistorySize, c.QueueSize = 0, 0, 2
	c.Heartbeat = 100 * time.Millisecond
	c.MaxBodySize, c.MaxHeaderSize, c.MaxDataSize, c.MaxBatch, c.MaxTopics = 1, 1, 1, 1, 1
	c.WriteTimeout, c.Retry, c.HistoryTTL, c.ReadTimeout, c.IdleTimeout, c.ShutdownTimeout = 1, 1, 1, 1, 1, 1
	c.DrainWindow = 0
	c.IdempotencyTTL = time.Second
	for _, lvl := range []string{"debug", "info", "warn", "error"} {
		for _, format := range []string{"text", "json"} {
			c.LogLevel, c.LogFormat = lvl, format
			if err := c.validate(nil); err != nil {
				t.Errorf("validate(%+v) = %v, want nil", c, err)
			}
		}
	}
}

// TestConfigRedisPrefix: a prefix is a topic without ':', so that no two
// prefixes name the same Redis channel (redisbroker.ValidatePrefix).
func TestConfigRedisPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		env    bool     // set by SSEHUB_REDIS_PREFIX rather than the flag
		want   []string // substrings of the error; nil for an accepted prefix
	}{
		{prefix: "ssehub"},
		{prefix: "t1"},
		{prefix: "t1-c"},
		{prefix: "team/app.eu_1@x"},
		{prefix: "t1:c:x", want: []string{`--redis-prefix: must not contain ':', got "t1:c:x" (offset 2)`, "overlap"}},
		{prefix: "app:prod", env: true, want: []string{"SSEHUB_REDIS_PREFIX (--redis-prefix): must not contain ':'"}},
		{prefix: "", want: []string{"--redis-prefix: must be a valid topic without ':'", "empty"}},
		{prefix: "ssehub*", want: []string{"--redis-prefix: must be a valid topic without ':'", "pattern"}},
		{prefix: "{ssehub}", want: []string{"--redis-prefix: must be a valid topic without ':'", `invalid byte "{"`}},
		{prefix: "a?b", want: []string{"--redis-prefix: must be a valid topic without ':'", `invalid byte "?"`}},
	}
	for _, tt := range tests {
		args, env := []string{"--redis-prefix", tt.prefix}, map[string]string(nil)
		if tt.env {
			args, env = nil, map[string]string{"SSEHUB_REDIS_PREFIX": tt.prefix}
		}
		cfg, err := parseConfig(args, envMap(env), &strings.Builder{})
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("parseConfig(%q, %v) error = %v, want nil", args, env, err)
		case tt.want == nil && cfg.RedisPrefix != tt.prefix:
			t.Errorf("parseConfig(%q, %v).RedisPrefix = %q, want %q", args, env, cfg.RedisPrefix, tt.prefix)
		case tt.want != nil && err == nil:
			t.Errorf("parseConfig(%q, %v) error = nil, want one containing %q", args, env, tt.want)
		}
		for _, w := range tt.want {
			if err != nil && !strings.Contains(err.Error(), w) {
				t.Errorf("parseConfig(%q, %v) error = %q, want it to contain %q", args, env, err, w)
			}
		}
	}
}

func TestParseConfigHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--shards", "2", "--help"}} {
		var out strings.Builder
		_, err := parseConfig(args, envMap(nil), &out)
		if !errors.Is(err, errHelp) {
			t.Fatalf("parseConfig(%q) error = %v, want errHelp", args, err)
		}
		help := out.String()
		lines := strings.Split(help, "\n")
		def := reflect.ValueOf(DefaultConfig())
		for i := range def.NumField() {
			f := def.Type().Field(i)
			name := f.Tag.Get("flag")
			var defText string
			switch v := def.Field(i).Interface().(type) {
			case string:
				defText = strconv.Quote(v)
			case int:
				defText = strconv.Itoa(v)
			case time.Duration:
				defText = v.String()
			case bool:
				defText = strconv.FormatBool(v)
			}
			// A flag is one line "  --name type" and its help on the next.
			at := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "  --"+name+" ") })
			if at < 0 || at+1 >= len(lines) {
				t.Errorf("parseConfig(%q) usage has no line for --%s:\n%s", args, name, help)
				continue
			}
			desc := lines[at+1]
			for _, want := range []string{f.Tag.Get("help"), "(env " + envName(name) + ")", "(default " + defText + ")"} {
				if !strings.Contains(desc, want) {
					t.Errorf("parseConfig(%q) usage of --%s = %q, want it to contain %q", args, name, desc, want)
				}
			}
		}
	}
}

func TestConfigTags(t *testing.T) {
	flagName := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	typ := reflect.TypeFor[Config]()
	flags := map[string]string{} // flag name -> field
	envs := map[string]string{}  // env name -> field
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, help := f.Tag.Get("flag"), f.Tag.Get("help")
		if !flagName.MatchString(name) {
			t.Errorf("Config.%s flag tag = %q, want a lower-case-dashed name", f.Name, name)
		}
		if help == "" {
			t.Errorf("Config.%s has no help tag", f.Name)
		}
		if prev, ok := flags[name]; ok {
			t.Errorf("Config.%s and Config.%s share flag %q", prev, f.Name, name)
		}
		flags[name] = f.Name
		env := envName(name)
		if prev, ok := envs[env]; ok {
			t.Errorf("Config.%s and Config.%s share env %s", prev, f.Name, env)
		}
		envs[env] = f.Name
	}

	// parseConfig reads exactly those variables, each once.
	var asked []string
	_, err := parseConfig(nil, func(k string) (string, bool) {
		asked = append(asked, k)
		return "", false
	}, &strings.Builder{})
	if err != nil {
		t.Fatalf("parseConfig(nil) error = %v", err)
	}
	slices.Sort(asked)
	var want []string
	for env := range envs {
		want = append(want, env)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("parseConfig looked up env (-want +got):\n%s", diff)
	}
}

func TestEnvName(t *testing.T) {
	for _, tt := range []struct{ flag, want string }{
		{"listen", "SSEHUB_LISTEN"},
		{"history-size", "SSEHUB_HISTORY_SIZE"},
		{"max-header-size", "SSEHUB_MAX_HEADER_SIZE"},
	} {
		if got := envName(tt.flag); got != tt.want {
			t.Errorf("envName(%q) = %q, want %q", tt.flag, got, tt.want)
		}
	}
}

// TestMercureSubscriptionsConfig: --mercure-subscriptions with --mercure
// is a valid configuration, on the embedded broker and on one partition.
func TestMercureSubscriptionsConfig(t *testing.T) {
	for _, args := range [][]string{
		{"--mercure", "--mercure-anonymous", "--mercure-subscriptions"},
		{"--mercure", "--mercure-anonymous", "--mercure-subscriptions", "--redis-url", "redis://127.0.0.1:1/0", "--presence-ttl", "2s"},
	} {
		c, err := parseConfig(args, envMap(nil), io.Discard)
		if err != nil || !c.MercureSubs {
			t.Errorf("parseConfig(%q) = %v, MercureSubs %v; want no error and true", args, err, c.MercureSubs)
		}
	}
}
