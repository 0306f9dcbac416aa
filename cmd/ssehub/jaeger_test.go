package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
)

// The tracing test sends spans to a real Jaeger (all-in-one, memory
// storage) and reads them back through its query API. Jaeger builds from
// the Go module proxy; internal/jaeger is a module of its own so that the
// server's go.mod does not carry its dependencies. Building it takes
// minutes, so the binary is kept in the user cache, one per version:
// `make test` builds it there first (make jaeger), and the test builds it
// itself when it is missing.

// jaegerToolDir is the tools module, relative to this package.
const jaegerToolDir = "../../internal/jaeger"

var jaegerVersionRE = regexp.MustCompile(`(?m)^\s*github\.com/jaegertracing/jaeger (v\S+)`)

// jaegerBinary returns the path of the Jaeger binary of the version
// internal/jaeger requires, building it if it is not in the cache.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(jaegerToolDir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := jaegerVersionRE.FindSubmatch(mod)
	if m == nil {
		t.Fatalf("%s/go.mod requires no github.com/jaegertracing/jaeger", jaegerToolDir)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	// The Makefile's JAEGER_BIN names the same path.
	bin := filepath.Join(cache, "ssehub", "jaeger-"+string(m[1]), "jaeger")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("building Jaeger %s into %s (a few minutes, once)", m[1], bin)
	start := time.Now()
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, "github.com/jaegertracing/jaeger/cmd/jaeger")
	cmd.Dir = jaegerToolDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build jaeger in %s: %v\n%s", jaegerToolDir, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built Jaeger in %v", time.Since(start).Round(time.Second))
	return bin
}

// jaeger is a running Jaeger all-in-one.
type jaeger struct {
	otlpGRPC, otlpHTTP string // OTLP receiver addresses
	query              string // base URL of the query API
}

// jaegerConfig is Jaeger v2's configuration (an OpenTelemetry Collector's)
// reduced to what the test needs, every port a free one: OTLP in, memory
// storage, the query API; no metrics endpoint, health check or sampling
// server, whose default ports could be taken.
const jaegerConfig = `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 50ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// startJaeger runs Jaeger on free loopback ports until the test ends, and
// waits until its query API answers.
func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := jaegerBinary(t)
	var ports [4]int
	for i := range ports {
		p, err := redistest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	cfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, ports[0], ports[1], ports[2], ports[3]), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	out := newOutput()
	cmd.Stdout, cmd.Stderr = out, out
	exited := startChild(t, cmd)
	j := &jaeger{
		query:    fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		otlpGRPC: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		otlpHTTP: fmt.Sprintf("127.0.0.1:%d", ports[3]),
	}
	client := newHTTPClient(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("jaeger exited (%v); output:\n%s", cmd.ProcessState, out)
		default:
		}
		if resp, err := client.Get(j.query + "/api/services"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger query API not up within 30s; output:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jaegerTrace is one trace as the query API returns it.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []jaegerTag `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string      `json:"serviceName"`
		Tags        []jaegerTag `json:"tags"`
	} `json:"processes"`
}

type jaegerTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

func tag(tags []jaegerTag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// trace fetches a trace by id; nil while Jaeger does not have it.
func (j *jaeger) trace(client *http.Client, traceID string) (*jaegerTrace, error) {
	resp, err := client.Get(j.query + "/api/traces/" + traceID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	var out struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/traces/%s = %d, %v", traceID, resp.StatusCode, err)
	}
	if len(out.Data) != 1 {
		return nil, nil
	}
	return &out.Data[0], nil
}
