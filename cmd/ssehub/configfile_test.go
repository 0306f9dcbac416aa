package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeFile writes content to a file in a fresh directory and returns its
// path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const exampleFile = `
# every type of value
listen = "127.0.0.1:9000"
history-size = 5000
heartbeat = "20s"
demo = false
public-topics = "status,public/*"
`

func TestParseConfigFile(t *testing.T) {
	fromFile := func(c *Config) {
		c.Listen, c.HistorySize, c.Heartbeat, c.Demo, c.PublicTopics = "127.0.0.1:9000", 5000, 20*time.Second, false, "status,public/*"
	}
	tests := []struct {
		name string
		file string // written to a file named by --config, or by SSEHUB_CONFIG with env "SSEHUB_CONFIG": "$FILE"
		args []string
		env  map[string]string
		want func(c *Config, path string)
	}{
		{
			name: "every type",
			file: exampleFile,
			args: []string{"--config", "$FILE"},
			want: func(c *Config, path string) { fromFile(c); c.ConfigFile = path },
		},
		{
			name: "file from env",
			file: exampleFile,
			env:  map[string]string{"SSEHUB_CONFIG": "$FILE"},
			want: func(c *Config, path string) { fromFile(c); c.ConfigFile = path },
		},
		{
			name: "--config over SSEHUB_CONFIG",
			file: exampleFile,
			args: []string{"--config=$FILE"},
			env:  map[string]string{"SSEHUB_CONFIG": "/nonexistent.toml"},
			want: func(c *Config, path string) { fromFile(c); c.ConfigFile = path },
		},
		{
			name: "env over file, flag over both",
			file: exampleFile,
			args: []string{"--config", "$FILE", "--heartbeat", "5s"},
			env:  map[string]string{"SSEHUB_HEARTBEAT": "10s", "SSEHUB_HISTORY_SIZE": "7"},
			want: func(c *Config, path string) {
				fromFile(c)
				c.ConfigFile, c.Heartbeat, c.HistorySize = path, 5*time.Second, 7
			},
		},
		{
			name: "flag before --config still wins",
			file: exampleFile,
			args: []string{"--listen", ":1", "--config", "$FILE"},
			want: func(c *Config, path string) { fromFile(c); c.ConfigFile, c.Listen = path, ":1" },
		},
		{
			name: "empty file",
			file: "# nothing set\n",
			args: []string{"--config", "$FILE"},
			want: func(c *Config, path string) { c.ConfigFile = path },
		},
		{
			name: "a rule across keys, met in the file",
			file: "shutdown-timeout = \"1m\"\ndrain-window = \"30s\"\n",
			args: []string{"--config", "$FILE"},
			want: func(c *Config, path string) {
				c.ConfigFile, c.ShutdownTimeout, c.DrainWindow = path, time.Minute, 30*time.Second
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "ssehub.toml", tt.file)
			args := substitute(tt.args, path)
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = strings.ReplaceAll(v, "$FILE", path)
			}
			var out strings.Builder
			got, err := parseConfig(args, envMap(env), &out)
			if err != nil {
				t.Fatalf("parseConfig(%q, %v) with %s error = %v, want nil", args, env, tt.file, err)
			}
			want := DefaultConfig()
			tt.want(&want, path)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parseConfig(%q, %v) with %s mismatch (-want +got):\n%s", args, env, tt.file, diff)
			}
		})
	}
}

func substitute(args []string, path string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "$FILE", path)
	}
	return out
}

func TestParseConfigFileErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string // substrings of the error; "$FILE" is the file's path
	}{
		{name: "unknown key", file: "heartbeet = \"1s\"\n", want: []string{`$FILE: unknown key "heartbeet"`}},
		{name: "flag spelling", file: "--listen = \":1\"\n", want: []string{`unknown key "--listen"`}},
		{name: "table", file: "[redis]\nurl = \"redis://x\"\n", want: []string{`unknown key "redis"`}},
		{name: "config in the file", file: "config = \"other.toml\"\n", want: []string{`"config" cannot be set in a configuration file`}},
		{name: "string for int", file: "history-size = \"5\"\n", want: []string{`$FILE: history-size: want an integer, got string "5"`}},
		{name: "float for int", file: "history-size = 5.5\n", want: []string{"history-size: want an integer, got float 5.5"}},
		{name: "int for string", file: "listen = 8080\n", want: []string{"listen: want a string, got integer 8080"}},
		{name: "int for duration", file: "heartbeat = 15\n", want: []string{`heartbeat: want a duration string such as "15s", got integer 15`}},
		{name: "string for bool", file: "demo = \"no\"\n", want: []string{`demo: want a boolean (true or false), got string "no"`}},
		{name: "array", file: "public-topics = [\"a\", \"b\"]\n", want: []string{"public-topics: want a string, got an array"}},
		{name: "bad duration", file: "heartbeat = \"soon\"\n", want: []string{`$FILE: heartbeat: invalid value "soon": want a duration with its unit`}},
		{name: "every bad key reported", file: "a = 1\nretry = 3\nb = 2\n", want: []string{`unknown key "a"`, `unknown key "b"`, "retry: want a duration"}},
		{name: "syntax", file: "listen = \n", want: []string{"$FILE: toml: line 1"}},
		{name: "duplicate key", file: "listen = \":1\"\nlisten = \":2\"\n", want: []string{"$FILE: toml: line 2", "listen"}},

		// validate(), reached from the file: the rule names the key and file.
		{name: "rule", file: "queue-size = 1\n", want: []string{"$FILE: queue-size: must be at least 2, got 1"}},
		{name: "enum", file: "log-level = \"verbose\"\n", want: []string{`$FILE: log-level: must be debug, info, warn or error, got "verbose"`}},
		{name: "across keys", file: "drain-window = \"20s\"\n", want: []string{"$FILE: drain-window: must be shorter than --shutdown-timeout (10s)"}},
		{name: "env names itself", file: "queue-size = 8\n", env: map[string]string{"SSEHUB_QUEUE_SIZE": "1"}, want: []string{"SSEHUB_QUEUE_SIZE (--queue-size): must be at least 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "ssehub.toml", tt.file)
			var out strings.Builder
			_, err := parseConfig([]string{"--config", path}, envMap(tt.env), &out)
			if err == nil {
				t.Fatalf("parseConfig with %q: error = nil, want one with %q", tt.file, tt.want)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "$FILE", path); !strings.Contains(err.Error(), w) {
					t.Errorf("parseConfig with %q: error = %q, want it to contain %q", tt.file, err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.toml")
		_, err := parseConfig(nil, envMap(map[string]string{"SSEHUB_CONFIG": path}), &strings.Builder{})
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("parseConfig with SSEHUB_CONFIG=%s (missing): error = %v, want one naming the file", path, err)
		}
	})
}

// TestFileKeysAreTheFlags: every flag but --config is a key of the file.
func TestFileKeysAreTheFlags(t *testing.T) {
	for _, f := range configFields() {
		name := f.Tag.Get("flag")
		if want := name != "config"; fileKeys[name] != want {
			t.Errorf("file key %q allowed = %v, want %v", name, fileKeys[name], want)
		}
	}
}

// TestWriteConfigRoundTrip: what `config check` prints is itself a
// configuration file that gives the same configuration.
func TestWriteConfigRoundTrip(t *testing.T) {
	path := writeFile(t, "in.toml", exampleFile+"jwt-audience = \"https://a.example, \\\"quoted\\\"\\t\\u00e9\"\n")
	env := envMap(map[string]string{"SSEHUB_RETRY": "1500ms"})
	args := []string{"--config", path, "--shards", "3"}
	cfg, src, err := loadConfig(args, env, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	var printed strings.Builder
	if err := writeConfig(&printed, cfg, src); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`listen = "127.0.0.1:9000"`, "# " + path, "# SSEHUB_RETRY", "# --shards", "# default"} {
		if !strings.Contains(printed.String(), line) {
			t.Errorf("writeConfig printed:\n%s\nwant it to contain %q", printed.String(), line)
		}
	}
	again := writeFile(t, "out.toml", printed.String())
	got, err := parseConfig([]string{"--config", again}, envMap(nil), &strings.Builder{})
	if err != nil {
		t.Fatalf("parseConfig of the printed configuration:\n%s\nerror = %v", printed.String(), err)
	}
	cfg.ConfigFile = again
	if diff := cmp.Diff(cfg, got); diff != "" {
		t.Errorf("printed configuration read back mismatch (-want +got):\n%s\nprinted:\n%s", diff, printed.String())
	}
}

// TestWriteConfigRedactsSecrets: a printed configuration can be pasted
// into a ticket.
func TestWriteConfigRedactsSecrets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.JWTSecret, cfg.APIKeys = "s3cret-s3cret-s3cret-s3cret-s3cret", "key-one,key-two"
	var printed strings.Builder
	if err := writeConfig(&printed, cfg, sources{}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret", "key-one"} {
		if strings.Contains(printed.String(), secret) {
			t.Errorf("writeConfig printed the secret %q:\n%s", secret, printed.String())
		}
	}
	if !strings.Contains(printed.String(), `jwt-secret = "(redacted)"`) {
		t.Errorf("writeConfig printed:\n%s\nwant jwt-secret redacted", printed.String())
	}
}

// TestConfigCheckCommand runs `ssehub config check` as operators do.
func TestConfigCheckCommand(t *testing.T) {
	good := writeFile(t, "good.toml", exampleFile)
	bad := writeFile(t, "bad.toml", "heartbeet = \"1s\"\nhistory-size = \"many\"\n")
	invalid := writeFile(t, "invalid.toml", "queue-size = 1\nlog-format = \"xml\"\n")
	tests := []struct {
		name       string
		env        []string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{
			name: "valid", args: []string{"config", "check", good}, wantCode: 0,
			wantStdout: []string{`listen = "127.0.0.1:9000"`, `heartbeat = "20s"`, "# " + good, `log-level = "info"`},
		},
		{
			name: "env and flags", env: []string{"SSEHUB_LOG_LEVEL=debug"}, args: []string{"config", "check", good, "--shards", "4"}, wantCode: 0,
			wantStdout: []string{`log-level = "debug"`, "# SSEHUB_LOG_LEVEL", "shards = 4", "# --shards"},
		},
		{
			name: "unknown key and wrong type", args: []string{"config", "check", bad}, wantCode: 1,
			wantStderr: []string{`unknown key "heartbeet"`, `history-size: want an integer, got string "many"`},
		},
		{
			name: "bad values", args: []string{"config", "check", invalid}, wantCode: 1,
			wantStderr: []string{invalid + ": queue-size: must be at least 2", invalid + `: log-format: must be text or json, got "xml"`},
		},
		{name: "no file", args: []string{"config", "check"}, wantCode: 2, wantStderr: []string{"Usage: ssehub config check FILE"}},
		{name: "no verb", args: []string{"config"}, wantCode: 2, wantStderr: []string{"Usage: ssehub config check FILE"}},
		{name: "serving with a bad file", args: []string{"--config", bad}, wantCode: 2, wantStderr: []string{`unknown key "heartbeet"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startSSEHub(t, tt.env, tt.args...)
			code := p.wait(t, 10*time.Second)
			if code != tt.wantCode {
				t.Errorf("%v ssehub %q exit code = %d, want %d; stderr:\n%s", tt.env, tt.args, code, tt.wantCode, p.stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(p.stdout.String(), w) {
					t.Errorf("%v ssehub %q stdout:\n%s\nwant it to contain %q", tt.env, tt.args, p.stdout, w)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(p.stderr.String(), w) {
					t.Errorf("%v ssehub %q stderr:\n%s\nwant it to contain %q", tt.env, tt.args, p.stderr, w)
				}
			}
			if listeningRE.MatchString(p.stderr.String()) {
				t.Errorf("%v ssehub %q started serving", tt.env, tt.args)
			}
		})
	}
}

// TestDocsConfigFile: the example in docs/ passes `ssehub config check`
// and sets what it says.
func TestDocsConfigFile(t *testing.T) {
	// The key file it names is the deployment's; a test key stands in.
	key := writeFile(t, "jwt-public.pem", string(testECPublicKeyPEM(t)))
	cfg, err := parseConfig([]string{"--config", "../../docs/ssehub.toml", "--jwt-key-file", key}, envMap(nil), &strings.Builder{})
	if err != nil {
		t.Fatalf("docs/ssehub.toml: %v", err)
	}
	if cfg.Auth != "jwt" || cfg.DrainWindow != 5*time.Second || cfg.ShutdownTimeout != 15*time.Second || cfg.Demo {
		t.Errorf("docs/ssehub.toml gives %+v, want auth jwt, drain-window 5s, shutdown-timeout 15s, no demo", cfg)
	}
}
