package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
)

// testECPublicKeyPEM returns a fresh P-256 public key in PEM.
func testECPublicKeyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// problems returns the problem lines of a reportInvalid output.
func problems(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// Start and `config check` run one validation: each bad configuration
// below is refused by both, with the same problems in the same words, all
// of them in one pass.
func TestStartAndConfigCheckRefuseTheSame(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // each in one problem line
	}{
		{name: "key file that does not exist", args: []string{"--auth", "jwt", "--jwt-key-file", "/nonexistent/key.pem"},
			want: []string{"--jwt-key-file: ", "no such file"}},
		{name: "redis url of another scheme", args: []string{"--redis-url", "http://x"}, want: []string{"--redis-url: ", "http"}},
		{name: "port out of range", args: []string{"--listen", ":99999"}, want: []string{"--listen: port 99999 of \":99999\" is out of range"}},
		{name: "admin port out of range", args: []string{"--admin-listen", "127.0.0.1:70000"}, want: []string{"--admin-listen: port 70000"}},
		{name: "listen without a port", args: []string{"--listen", "localhost"}, want: []string{"--listen: \"localhost\" is not host:port"}},
		{name: "cluster without a url", args: []string{"--redis-mode", "cluster"}, want: []string{"--redis-mode: cluster needs --redis-url"}},
		{name: "sentinel without a master name", args: []string{"--redis-mode", "sentinel", "--redis-url", "redis://127.0.0.1:26379"},
			want: []string{"--redis-url: sentinel mode needs the master's name: add ?master_name=NAME"}},
		{name: "origin without a scheme", args: []string{"--cors-origins", "https://ok.example, app.example.com"},
			want: []string{`--cors-origins: origin "app.example.com" needs a scheme, such as https://app.example.com`}},
		{name: "short api key", args: []string{"--auth", "jwt", "--jwt-secret", secret, "--api-keys", "abcdef"},
			want: []string{"--api-keys: key 1 of 1 is 6 bytes, want at least 16"}},
		{name: "api keys with auth off", args: []string{"--api-keys", "0123456789abcdef0123"}, want: []string{"--api-keys: need --auth jwt"}},
		{name: "short jwt secret", args: []string{"--auth", "jwt", "--jwt-secret", "short"}, want: []string{"--jwt-secret: ", "at least 32"}},
		{name: "duration without a unit", args: []string{"--heartbeat", "15"},
			want: []string{`--heartbeat: invalid value "15": want a duration with its unit, such as 15s, 500ms or 2m`}},
		{name: "size with a unit", args: []string{"--max-body-size", "1MB"},
			want: []string{`--max-body-size: invalid value "1MB": want a whole number of bytes, such as 1048576 for 1 MiB`}},
		{name: "misspelled flag", args: []string{"--listn", ":1"}, want: []string{"unknown flag --listn (did you mean --listen?)"}},
		{name: "bad enum", args: []string{"--log-level", "loud"}, want: []string{`--log-level: must be debug, info, warn or error, got "loud"`}},
		{name: "jwks url in the clear", args: []string{"--auth", "jwt", "--jwt-jwks-url", "http://idp.example/jwks.json"},
			want: []string{"--jwt-jwks-url: auth: jwks: "}},
		{name: "discovery without an issuer", args: []string{"--auth", "jwt", "--jwt-oidc-discovery"},
			want: []string{"--jwt-oidc-discovery: needs --jwt-issuer"}},
		{name: "discovery and a url", args: []string{"--auth", "jwt", "--jwt-oidc-discovery", "--jwt-issuer", "https://idp.example", "--jwt-jwks-url", "https://idp.example/k"},
			want: []string{"--jwt-oidc-discovery: finds the JWKS URL itself"}},
		{name: "mercure key file of the wrong algorithm", args: []string{"--mercure", "--mercure-publisher-jwt-key-file", writeFile(t, "ec.pem", string(testECPublicKeyPEM(t))),
			"--mercure-jwt-algorithm", "rs256"}, want: []string{"--mercure-publisher-jwt-key-file: "}},
		{name: "bad public-metrics", args: []string{"--public-metrics", "maybe"}, want: []string{"--public-metrics: must be auto, on or off"}},
		{name: "type and value problems in one pass", args: []string{"--heartbeat", "15", "--queue-size", "1", "--shards", "x"},
			env:  map[string]string{"SSEHUB_RETRY": "3"},
			want: []string{"--heartbeat: invalid value", "--queue-size: must be at least 2", "--shards: invalid value \"x\"", "SSEHUB_RETRY (--retry): invalid value \"3\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var startOut, startErr strings.Builder
			code := run(context.Background(), tt.args, procIO{lookupEnv: envMap(tt.env), stdout: &startOut, stderr: &startErr})
			if code != 2 {
				t.Fatalf("start %q: exit %d, want 2; stderr:\n%s", tt.args, code, startErr.String())
			}
			file := writeFile(t, "empty.toml", "")
			var checkOut, checkErr strings.Builder
			code = runConfig(append([]string{"check", file}, tt.args...), procIO{lookupEnv: envMap(tt.env), stdout: &checkOut, stderr: &checkErr})
			if code != 1 {
				t.Fatalf("config check %q: exit %d, want 1; stdout:\n%s\nstderr:\n%s", tt.args, code, checkOut.String(), checkErr.String())
			}
			started, checked := problems(startErr.String()), problems(checkErr.String())
			if !slices.Equal(started, checked) {
				t.Errorf("start and config check disagree:\nstart:\n%s\nconfig check:\n%s", startErr.String(), checkErr.String())
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(started, func(l string) bool { return strings.Contains(l, w) }) {
					t.Errorf("start %q problems:\n%s\nwant a line containing %q", tt.args, strings.Join(started, "\n"), w)
				}
			}
			if len(started) != len(tt.want) && tt.name != "key file that does not exist" && tt.name != "redis url of another scheme" && tt.name != "short jwt secret" {
				t.Errorf("start %q: %d problems, want %d (each once):\n%s", tt.args, len(started), len(tt.want), strings.Join(started, "\n"))
			}
			if strings.Contains(startErr.String(), "Flags") || len(startErr.String()) > 1500 {
				t.Errorf("start %q printed the usage or too much (%d bytes):\n%s", tt.args, len(startErr.String()), startErr.String())
			}
		})
	}
}

func TestMaxSendBuffer(t *testing.T) {
	for _, tt := range []struct{ size, max, want int }{
		{32 << 10, 1 << 20, 1 << 20}, {32 << 10, 0, -1}, {32 << 10, 32 << 10, -1}, {32 << 10, 16 << 10, -1}, {0, 0, -1}, {0, 1 << 20, 1 << 20},
	} {
		if got := maxSendBuffer(Config{SendBuffer: tt.size, SendBufferMax: tt.max}); got != tt.want {
			t.Errorf("--send-buffer %d --send-buffer-max %d: MaxSendBuffer %d, want %d (negative: fixed)", tt.size, tt.max, got, tt.want)
		}
	}
}

func TestUnknownEnv(t *testing.T) {
	got := unknownEnv([]string{"SSEHUB_LISTN=:1", "SSEHUB_LISTEN=:2", "HOME=/root", "SSEHUB_NOTHING_LIKE_IT=1", "SSEHUB_LOG_LEVEL=DEBUG",
		"SSEHUB_JWTSECRET=x", "SSEHUB_X=1"})
	want := []string{
		"SSEHUB_LISTN is not a setting and is ignored (did you mean SSEHUB_LISTEN?)",
		"SSEHUB_NOTHING_LIKE_IT is not a setting and is ignored",
		"SSEHUB_JWTSECRET is not a setting and is ignored (did you mean SSEHUB_JWT_SECRET?)",
		"SSEHUB_X is not a setting and is ignored",
	}
	if !slices.Equal(got, want) {
		t.Errorf("unknownEnv = %q, want %q", got, want)
	}
}

func TestEnumsIgnoreCase(t *testing.T) {
	cfg, err := parseConfig(nil, envMap(map[string]string{
		"SSEHUB_LOG_LEVEL": "DEBUG", "SSEHUB_LOG_FORMAT": "JSON", "SSEHUB_AUTH": "Off", "SSEHUB_REDIS_MODE": "Standalone", "SSEHUB_JWT_ALGORITHM": "es256",
		"SSEHUB_MERCURE_JWT_ALGORITHM": "eddsa", "SSEHUB_MERCURE_PROTOCOL": "BOTH",
	}), &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogLevel != "debug" || cfg.LogFormat != "json" || cfg.Auth != "off" || cfg.RedisMode != "standalone" || cfg.JWTAlgorithm != "ES256" ||
		cfg.MercureAlg != "EdDSA" || cfg.MercureProto != "both" {
		t.Errorf("got log-level %q, log-format %q, auth %q, redis-mode %q, jwt-algorithm %q, mercure-jwt-algorithm %q, mercure-protocol %q; want them in their canonical case",
			cfg.LogLevel, cfg.LogFormat, cfg.Auth, cfg.RedisMode, cfg.JWTAlgorithm, cfg.MercureAlg, cfg.MercureProto)
	}
}

func TestLoopbackFor(t *testing.T) {
	for in, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:8080": "127.0.0.1:8080", "[::]:8080": "[::1]:8080",
		"10.0.0.5:9000": "10.0.0.5:9000", "localhost:80": "localhost:80",
	} {
		if got := loopbackFor(in); got != want {
			t.Errorf("loopbackFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEditDistanceAndClosest(t *testing.T) {
	if d := editDistance("listn", "listen"); d != 1 {
		t.Errorf("editDistance(listn, listen) = %d, want 1", d)
	}
	if got := closest("heartbet", []string{"heartbeat", "history-ttl"}); got != "heartbeat" {
		t.Errorf("closest(heartbet) = %q, want heartbeat", got)
	}
	if got := closest("zzz", []string{"heartbeat", "listen"}); got != "" {
		t.Errorf("closest(zzz) = %q, want none", got)
	}
}

// `ssehub health` asks the hub on this machine, found by the same --listen
// the hub reads; and the hub warns about SSEHUB_* variables it ignores.
func TestHealthCommandAndUnknownEnvWarning(t *testing.T) {
	t.Parallel()
	p, addr := startServing(t, []string{"SSEHUB_LISTN=:9"})
	if !strings.Contains(p.stderr.String(), "SSEHUB_LISTN is not a setting and is ignored (did you mean SSEHUB_LISTEN?)") {
		t.Errorf("hub stderr = %q, want a warning about SSEHUB_LISTN", p.stderr.String())
	}
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		env  map[string]string
		code int
		out  string
	}{
		{args: []string{"--listen", addr}, code: 0, out: "/healthz"},
		{args: []string{"--ready"}, env: map[string]string{"SSEHUB_LISTEN": addr}, code: 0, out: "/readyz"},
		{args: []string{"--url", "http://" + addr + "/no-such-path"}, code: 1},
		{args: []string{"--listen", "127.0.0.1:1"}, code: 1},
		{args: []string{"extra"}, code: 2},
	} {
		var stdout, stderr strings.Builder
		code := runHealth(ctx, tt.args, procIO{lookupEnv: envMap(tt.env), stdout: &stdout, stderr: &stderr})
		if code != tt.code || !strings.Contains(stdout.String(), tt.out) {
			t.Errorf("ssehub health %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q", tt.args, code, stdout.String(), stderr.String(), tt.code, tt.out)
		}
	}
}
