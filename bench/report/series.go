package report

import (
	"math"
	"strconv"
	"time"
)

// palette tells up to twelve lines apart: Tableau 10 and two more.
var palette = []string{
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
	"#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f4e79", "#8c564b",
}

// maxProcLines is the most processes the memory and CPU charts draw one
// line each; with more, a legend of colours no longer tells them apart,
// so the charts sum processes by role instead.
const maxProcLines = 12

// charts builds the page's charts from r's samples: latency, connected
// streams, deliveries, then memory and CPU per process.
func (r *Run) charts() []chart {
	lat := []struct {
		name, color string
		dash        bool
		pick        func(Percentiles) time.Duration
	}{
		{"p50", "#59a14f", false, func(l Percentiles) time.Duration { return l.P50 }},
		{"p90", "#4e79a7", false, func(l Percentiles) time.Duration { return l.P90 }},
		{"p99", "#f28e2b", false, func(l Percentiles) time.Duration { return l.P99 }},
		{"p99.9", "#e15759", false, func(l Percentiles) time.Duration { return l.P999 }},
		{"max", "#5b6475", true, func(l Percentiles) time.Duration { return l.Max }},
	}
	latency := chart{
		title: "End-to-end latency",
		note:  "per sample interval, log scale",
		log:   true,
		tick:  func(ms float64) string { return fmtDuration(time.Duration(ms * float64(time.Millisecond))) },
	}
	for _, l := range lat {
		s := series{name: l.name, color: l.color, dash: l.dash}
		for _, smp := range r.Samples {
			y := math.NaN()
			if smp.Latency.Count > 0 {
				y = float64(l.pick(smp.Latency)) / float64(time.Millisecond)
			}
			s.pts = append(s.pts, point{smp.At.Seconds(), y})
		}
		latency.series = append(latency.series, s)
	}

	connected := series{name: "connected", color: "#4e79a7"}
	delivered := series{name: "deliveries/s", color: "#59a14f"}
	for _, smp := range r.Samples {
		x := smp.At.Seconds()
		connected.pts = append(connected.pts, point{x, float64(smp.Connected)})
		delivered.pts = append(delivered.pts, point{x, smp.DeliveriesPerSec})
	}

	rss, cpu, byRole := procSeries(r.Samples)
	per := "per process"
	if byRole {
		per = "summed by role"
	}
	unit, scale := memUnit(rss)
	for i := range rss {
		for j := range rss[i].pts {
			rss[i].pts[j].y /= scale
		}
	}
	return []chart{
		latency,
		{title: "Connected streams", tick: fmtSI, series: []series{connected}},
		{title: "Deliveries per second", note: "events received by all streams", tick: fmtSI, series: []series{delivered}},
		{title: "Resident memory (RSS)", note: per, tick: func(v float64) string { return sig3(v) + " " + unit }, series: rss},
		{title: "CPU", note: per + ", cores busy over each sample interval", tick: sig3, series: cpu},
	}
}

// bands returns r's phases as chart bands.
func (r *Run) bands() []band {
	bs := make([]band, len(r.Phases))
	for i, p := range r.Phases {
		bs[i] = band{name: p.Name, start: p.Start.Seconds(), end: p.End.Seconds()}
	}
	return bs
}

// minCPUInterval is the shortest interval the CPU chart divides CPU time
// by. /proc counts CPU time in 10 ms ticks, and the bench samples at
// phase boundaries too, sometimes a few milliseconds after the last
// sample: over such an interval a tick or two read as many cores busy.
const minCPUInterval = 500 * time.Millisecond

// procSeries returns each process's RSS (bytes) at every sample and CPU
// (cores: CPU time over wall time since the previous CPU point, at least
// minCPUInterval before), or, with more than maxProcLines processes, their
// sums by role. A process missing from a sample is a gap, and so is a CPU
// interval over which its CPU time fell, as it does when a process is
// restarted under the same name.
func procSeries(samples []Sample) (rss, cpu []series, byRole bool) {
	var names []string
	role := map[string]string{}
	for _, s := range samples {
		for _, p := range s.Procs {
			if _, ok := role[p.Name]; !ok {
				names = append(names, p.Name)
				role[p.Name] = p.Role
			}
		}
	}
	byRole = len(names) > maxProcLines
	key := func(name string) string {
		switch {
		case !byRole:
			return name
		case role[name] == "":
			return "other"
		}
		return role[name]
	}
	var keys []string
	index := map[string]int{}
	members := map[string]int{}
	for _, n := range names {
		k := key(n)
		if _, ok := index[k]; !ok {
			index[k] = len(keys)
			keys = append(keys, k)
		}
		members[k]++
	}
	for i, k := range keys {
		name := k
		if byRole {
			name = k + " ×" + strconv.Itoa(members[k])
		}
		color := palette[i%len(palette)]
		rss = append(rss, series{name: name, color: color})
		cpu = append(cpu, series{name: name, color: color})
	}

	var prev map[string]Proc // the processes at the last CPU point
	var prevAt time.Duration
	for _, s := range samples {
		mem := make([]float64, len(keys))
		busy := make([]float64, len(keys))
		seen := make([]bool, len(keys))
		ran := make([]bool, len(keys))
		cur := make(map[string]Proc, len(s.Procs))
		dt := (s.At - prevAt).Seconds()
		cpuPoint := prev != nil && s.At-prevAt >= minCPUInterval
		for _, p := range s.Procs {
			k := index[key(p.Name)]
			mem[k] += float64(p.RSS)
			seen[k] = true
			if q, ok := prev[p.Name]; ok && dt > 0 && p.CPU >= q.CPU {
				busy[k] += (p.CPU - q.CPU).Seconds()
				ran[k] = true
			}
			cur[p.Name] = p
		}
		x := s.At.Seconds()
		for k := range keys {
			y := math.NaN()
			if seen[k] {
				y = mem[k]
			}
			rss[k].pts = append(rss[k].pts, point{x, y})
			if !cpuPoint {
				continue
			}
			y = math.NaN()
			if ran[k] {
				y = busy[k] / dt
			}
			cpu[k].pts = append(cpu[k].pts, point{x, y})
		}
		if prev == nil || cpuPoint {
			prev, prevAt = cur, s.At
		}
	}
	return rss, cpu, byRole
}

// memUnit picks the unit for a memory axis from the largest value in ss
// (bytes), and the bytes in that unit.
func memUnit(ss []series) (string, float64) {
	var top float64
	for _, s := range ss {
		for _, p := range s.pts {
			if !math.IsNaN(p.y) {
				top = max(top, p.y)
			}
		}
	}
	switch {
	case top >= 10<<30:
		return "GiB", 1 << 30
	case top >= 1<<20:
		return "MiB", 1 << 20
	}
	return "KiB", 1 << 10
}
