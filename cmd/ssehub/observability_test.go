package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/redistest"
)

// TestFleetTracingInJaeger follows one event through a fleet of two hubs on
// Redis into Jaeger: the publisher sends a traceparent, and the trace holds
// the publish request's span (under the publisher's), the broker's
// producer span, and a delivery span from each hub, whose trace context
// crossed Redis in the message envelope. One hub exports over OTLP/gRPC,
// the other over OTLP/HTTP.
func TestFleetTracingInJaeger(t *testing.T) {
	t.Parallel()
	j := startJaeger(t)
	rs := redistest.Start(t)
	client := newHTTPClient(t)
	env := func(instance, protocol, endpoint string) []string {
		return []string{
			"OTEL_TRACES_EXPORTER=otlp",
			"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + endpoint,
			"OTEL_BSP_SCHEDULE_DELAY=50", // export within 50 ms, not 5 s
			"OTEL_TRACES_SAMPLER=parentbased_always_on",
			"OTEL_RESOURCE_ATTRIBUTES=service.instance.id=" + instance,
		}
	}
	var addrs []string
	for i, exp := range []struct{ protocol, endpoint string }{{"grpc", j.otlpGRPC}, {"http/protobuf", j.otlpHTTP}} {
		p, addr := startServing(t, env(fmt.Sprintf("hub%d", i), exp.protocol, exp.endpoint), "--redis-url", rs.URL())
		if !strings.Contains(p.stderr.String(), "tracing=true") {
			t.Fatalf("hub%d does not say it traces; stderr:\n%s", i, p.stderr)
		}
		addrs = append(addrs, addr)
	}
	var streams []*sseStream
	for _, addr := range addrs {
		waitReady(t, client, "http://"+addr+"/readyz", fleetTimeout)
		streams = append(streams, openStream(t, addr, "topic=traced/a"))
	}

	traceID, parentID := randomHex(t, 16), randomHex(t, 8)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addrs[0]+"/publish", strings.NewReader(`{"topic":"traced/a","data":"hello"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /publish = %d %s", resp.StatusCode, body)
	}
	id := regexp.MustCompile(`\d+-\d+`).FindString(string(body))
	for i, s := range streams {
		if got := s.nextEvent(t, fleetTimeout); !strings.Contains(got, "data: hello") {
			t.Fatalf("hub%d stream got %q, want the event", i, got)
		}
	}

	// Each hub exports on its own schedule: wait for the whole trace.
	var tr *jaegerTrace
	var spans map[string][]string // operation -> "instance:spanID<-parentID"
	deadline := time.Now().Add(30 * time.Second)
	for {
		tr, err = j.trace(client, traceID)
		if err != nil {
			t.Fatal(err)
		}
		spans = map[string][]string{}
		if tr != nil {
			for _, s := range tr.Spans {
				parent := ""
				for _, r := range s.References {
					if r.RefType == "CHILD_OF" {
						parent = r.SpanID
					}
				}
				instance := tag(tr.Processes[s.ProcessID].Tags, "service.instance.id")
				spans[s.OperationName] = append(spans[s.OperationName], instance+":"+s.SpanID+"<-"+parent)
			}
		}
		if len(spans["POST /publish"]) == 1 && len(spans["publish"]) == 1 && len(spans["deliver"]) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s in Jaeger after 30s: %v; want the publish request, the broker publish and a delivery by each hub", traceID, spans)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("trace %s: %v", traceID, spans)

	request, producer := spans["POST /publish"][0], spans["publish"][0]
	spanID := func(s string) string { return s[strings.Index(s, ":")+1 : strings.Index(s, "<-")] }
	if want := "hub0:" + spanID(request) + "<-" + parentID; request != want {
		t.Errorf("publish request span = %s, want it on hub0 under the publisher's span: %s", request, want)
	}
	if want := "hub0:" + spanID(producer) + "<-" + spanID(request); producer != want {
		t.Errorf("broker publish span = %s, want it under the request's span: %s", producer, want)
	}
	var instances []string
	for _, d := range spans["deliver"] {
		instance, rest, _ := strings.Cut(d, ":")
		instances = append(instances, instance)
		if _, parent, _ := strings.Cut(rest, "<-"); parent != spanID(producer) {
			t.Errorf("delivery span %s is not under the broker publish %s", d, producer)
		}
	}
	slices.Sort(instances)
	if !slices.Equal(instances, []string{"hub0", "hub1"}) {
		t.Errorf("delivery spans from %v, want one from each hub", instances)
	}
	for _, s := range tr.Spans {
		switch s.OperationName {
		case "POST /publish":
			if n, ids := tag(s.Tags, "ssehub.topic_count"), tag(s.Tags, "ssehub.event_ids"); n != "1" || !strings.Contains(ids, id) {
				t.Errorf("publish request tags topic_count=%s event_ids=%s, want 1 and %s", n, ids, id)
			}
		case "deliver":
			if n, mid := tag(s.Tags, "ssehub.recipients"), tag(s.Tags, "messaging.message.id"); n != "1" || mid != id {
				t.Errorf("delivery tags recipients=%s message.id=%s, want 1 and %s", n, mid, id)
			}
		}
	}
	for name, p := range tr.Processes {
		if p.ServiceName != "ssehub" {
			t.Errorf("process %s service name = %q, want ssehub", name, p.ServiceName)
		}
	}

	// Both hubs count the event in their metrics, and report on Redis.
	for i, addr := range addrs {
		m := scrapeText(t, client, "http://"+addr+"/metrics")
		for _, want := range []string{"ssehub_events_delivered_total 1", "ssehub_open_streams 1", "ssehub_redis_reconnects_total 0"} {
			if !strings.Contains(m, "\n"+want+"\n") {
				t.Errorf("hub%d /metrics has no line %q", i, want)
			}
		}
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// scrapeText returns the body of GET url, failing unless it is 200.
func scrapeText(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, body)
	}
	return string(body)
}

var adminRE = regexp.MustCompile(`msg="ssehub admin listening" addr=(\S+)`)

// TestAdminListener: profiles are served only on the admin listener, and
// metrics there too, and on the API only when asked (--public-metrics on)
// or while there is no admin listener.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	p, addr := startServing(t, nil, "--admin-listen", "127.0.0.1:0")
	admin := p.waitStderr(t, adminRE, 10*time.Second)
	both, bothAddr := startServing(t, nil, "--admin-listen", "127.0.0.1:0", "--public-metrics", "on")
	bothAdmin := both.waitStderr(t, adminRE, 10*time.Second)
	_, noAdminAddr := startServing(t, nil)
	_, offAddr := startServing(t, nil, "--public-metrics", "off")
	client := newHTTPClient(t)
	for _, tt := range []struct {
		url  string
		want int
	}{
		{"http://" + admin + "/debug/pprof/", http.StatusOK},
		{"http://" + admin + "/debug/pprof/goroutine?debug=1", http.StatusOK},
		{"http://" + admin + "/debug/pprof/cmdline", http.StatusNotFound},
		{"http://" + admin + "/metrics", http.StatusOK},
		{"http://" + addr + "/metrics", http.StatusNotFound},
		{"http://" + addr + "/debug/pprof/", http.StatusNotFound},
		{"http://" + bothAdmin + "/metrics", http.StatusOK},
		{"http://" + bothAddr + "/metrics", http.StatusOK},
		{"http://" + noAdminAddr + "/metrics", http.StatusOK},
		{"http://" + offAddr + "/metrics", http.StatusNotFound},
	} {
		resp, err := client.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.url, resp.StatusCode, tt.want)
		}
		if strings.HasSuffix(tt.url, "/metrics") && tt.want == http.StatusOK && !strings.Contains(string(body), "ssehub_open_streams 0") {
			t.Errorf("GET %s has no ssehub_open_streams", tt.url)
		}
	}
	// Without the flag there is no admin listener.
	p2, _ := startServing(t, nil)
	if strings.Contains(p2.stderr.String(), "admin listening") {
		t.Errorf("admin listener on without --admin-listen")
	}
}
