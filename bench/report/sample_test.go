package report

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

var sampleOut = flag.String("sample-out", "", "write the synthetic run's HTML page to this file (TestWriteHTMLSample)")

// TestWriteHTMLSample renders a realistic synthetic run. With -sample-out
// it keeps the page for a look in a browser:
//
//	go test ./bench/report -run TestWriteHTMLSample -sample-out /tmp/sample.html
func TestWriteHTMLSample(t *testing.T) {
	run := syntheticRun(120)
	var buf bytes.Buffer
	if err := run.WriteHTML(&buf); err != nil {
		t.Fatalf("WriteHTML() = %v", err)
	}
	doc := parsePage(t, buf.Bytes())
	if got, want := doc.elements["svg"], 5; got != want {
		t.Errorf("<svg> elements = %d, want %d", got, want)
	}
	// 14 processes are more than a legend tells apart: summed by role.
	for _, want := range []string{"hub ×6", "generator ×7", "redis ×1", "summed by role"} {
		if !doc.hasText(want) {
			t.Errorf("page has no text %q", want)
		}
	}
	if *sampleOut != "" {
		if err := os.WriteFile(*sampleOut, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", *sampleOut, buf.Len())
	}
}

// syntheticRun makes up a run like the fleet broadcast bench produces:
// 100,000 streams on 6 hubs sharing a Redis, driven by 7 generator
// processes, over three phases and n one-second samples (n >= 6). It is
// deterministic.
func syntheticRun(n int) *Run {
	rng := rand.New(rand.NewPCG(1, 2))
	jitter := func(v, frac float64) float64 { return v * (1 + frac*(2*rng.Float64()-1)) }
	const (
		streams   = 100_000
		hubs      = 6
		workers   = 7
		eventsSec = 2 // published to a topic every stream follows
	)
	run := &Run{
		Title:   "broadcast, 100,000 streams, 6 hubs, redis",
		Command: "ssehub-bench fleet -n 100000 -hubs 6 -workers 7 -redis -rate 2 -slow 0.01",
		Started: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Host:    "2 CPU, go1.26.8, linux 6.1.0-28-amd64",
	}
	length := time.Duration(n) * time.Second
	connectEnd := length / 6
	slowStart := length * 2 / 3
	run.Phases = []Phase{
		{Name: "connect", Server: "ssehub", Start: 0, End: connectEnd, Streams: streams},
		{Name: "baseline", Server: "ssehub", Start: connectEnd, End: slowStart, Streams: streams},
		{Name: "slow-consumers", Server: "ssehub", Start: slowStart, End: length, Streams: streams},
	}
	phaseAt := func(at time.Duration) int {
		for i, p := range run.Phases {
			if at <= p.End {
				return i
			}
		}
		return len(run.Phases) - 1
	}

	var names, roles []string
	for i := range hubs {
		names, roles = append(names, fmt.Sprintf("hub-%d", i+1)), append(roles, "hub")
	}
	names, roles = append(names, "redis"), append(roles, "redis")
	for i := range workers {
		names, roles = append(names, fmt.Sprintf("worker-%d", i+1)), append(roles, "generator")
	}
	cpu := make([]time.Duration, len(names))

	var delivered, connectErrs int64
	for i := range n {
		at := time.Duration(i+1) * time.Second
		ph := phaseAt(at)
		ramp := math.Min(1, at.Seconds()/(connectEnd.Seconds()*0.8))
		connected := int(streams * ramp)
		if ph == 2 { // stalled streams are evicted and come back
			connected -= int(jitter(600, 0.5))
		}
		if ph == 0 && rng.IntN(4) == 0 {
			connectErrs += int64(rng.IntN(3))
		}
		perSec := jitter(float64(connected)*eventsSec, 0.03)
		if ph == 0 { // the publisher starts with the baseline
			perSec = 0
		}
		delivered += int64(perSec)

		scale := 1.0
		switch ph {
		case 0:
			scale = 1.6
		case 2:
			scale = 2.5
		}
		p50 := time.Duration(jitter(1.4, 0.2) * scale * float64(time.Millisecond))
		lat := Percentiles{
			Count: int64(perSec),
			P50:   p50,
			P90:   time.Duration(jitter(3, 0.2) * float64(p50)),
			P99:   time.Duration(jitter(8, 0.3) * float64(p50)),
			P999:  time.Duration(jitter(18, 0.4) * float64(p50)),
			Max:   time.Duration(jitter(40, 0.5) * float64(p50)),
		}
		if ph == 2 && i%9 == 0 {
			lat.Max = time.Duration(jitter(800, 0.2) * float64(time.Millisecond))
		}

		s := Sample{
			At: at, Phase: run.Phases[ph].Name,
			Connected: connected, ConnectErrors: connectErrs, Delivered: delivered,
			DeliveriesPerSec: perSec, Latency: lat,
		}
		for j, name := range names {
			var rss int64
			var busy float64 // cores
			switch roles[j] {
			case "hub":
				rss = 9<<20 + int64(connected/hubs)*2600
				busy = 0.04 + perSec/hubs*2e-6
			case "redis":
				rss = 11<<20 + int64(at.Seconds())*4096
				busy = 0.05 + eventsSec*hubs*1e-3
			default:
				rss = 30<<20 + int64(connected/workers)*3100
				busy = 0.03 + perSec/workers*1e-6
			}
			if ph == 0 && roles[j] != "redis" {
				busy += 0.15
			}
			cpu[j] += time.Duration(jitter(busy, 0.15) * float64(time.Second))
			s.Procs = append(s.Procs, Proc{Name: name, Role: roles[j], RSS: int64(jitter(float64(rss), 0.01)), CPU: cpu[j]})
		}
		run.Samples = append(run.Samples, s)
	}

	// The phases sum their samples.
	for pi := range run.Phases {
		p := &run.Phases[pi]
		var first, last *Sample
		var worst Percentiles
		for i := range run.Samples {
			s := &run.Samples[i]
			if s.Phase != p.Name {
				continue
			}
			if first == nil {
				first = s
			}
			last = s
			worst.Count += s.Latency.Count
			worst.P50 = max(worst.P50, s.Latency.P50)
			worst.P90 = max(worst.P90, s.Latency.P90)
			worst.P99 = max(worst.P99, s.Latency.P99)
			worst.P999 = max(worst.P999, s.Latency.P999)
			worst.Max = max(worst.Max, s.Latency.Max)
		}
		if first == nil {
			continue // too few samples for every phase to have one
		}
		p.Connected = last.Connected
		p.Delivered = last.Delivered - first.Delivered
		p.DeliveriesPerSec = float64(p.Delivered) / (p.End - p.Start).Seconds()
		p.Published = int64(eventsSec * (p.End - p.Start).Seconds())
		p.Latency = worst
		p.HubRSSPerStream = 2650
		for j := range names {
			pr := last.Procs[j]
			pr.PeakRSS = pr.RSS
			pr.CPU -= first.Procs[j].CPU
			p.Procs = append(p.Procs, pr)
		}
		var hubCPU time.Duration
		for _, pr := range p.Procs {
			if pr.Role == "hub" {
				hubCPU += pr.CPU
			}
		}
		if p.Delivered > 0 {
			p.HubCPUPerDelivery = hubCPU / time.Duration(p.Delivered)
		}
	}
	connect, slow := &run.Phases[0], &run.Phases[2]
	connect.ConnectErrors = connectErrs
	connect.ConnectRate = streams / (connectEnd.Seconds() * 0.8)
	connect.Published, connect.Delivered, connect.DeliveriesPerSec, connect.Latency = 0, 0, 0, Percentiles{}
	slow.Evicted, slow.Reconnects = 1_004, 1_004
	slow.CatchUp = Percentiles{Count: 1_004, P50: 180 * time.Millisecond, P90: 420 * time.Millisecond,
		P99: 910 * time.Millisecond, P999: 1300 * time.Millisecond, Max: 1450 * time.Millisecond}

	run.Checks = []Check{
		{Phase: "connect", Name: "streams connected", Target: "100,000", Value: fmtCount(int64(connect.Connected)), OK: connect.Connected == streams},
		{Phase: "baseline", Name: "p99 latency", Target: "<= 50ms", Value: fmtDuration(run.Phases[1].Latency.P99), OK: run.Phases[1].Latency.P99 <= 50*time.Millisecond},
		{Phase: "baseline", Name: "events lost", Target: "0", Value: "0", OK: true},
		{Phase: "slow-consumers", Name: "catch-up p99", Target: "<= 2s", Value: fmtDuration(slow.CatchUp.P99), OK: true},
		{Phase: "slow-consumers", Name: "max latency", Target: "<= 500ms", Value: fmtDuration(slow.Latency.Max), OK: slow.Latency.Max <= 500*time.Millisecond},
	}
	return run
}
