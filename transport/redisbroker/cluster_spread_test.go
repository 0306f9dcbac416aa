package redisbroker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/redistest"
)

// The uniform topic mix of the spread test and benchmark: events in
// batches of spreadBatch, each to one of spreadTopics distinct topics in
// turn (targeted notifications), with a 64-byte payload.
const (
	spreadBatch  = 100
	spreadTopics = 10_000
	// spreadTolerance is how far from an even share of the masters' work
	// each master may be, relative to the even share: the acceptance item
	// of the partitions issue (docs/fleet-design.md, "What is measured").
	spreadTolerance = 0.25
)

// masterLoad is one master's work from INFO: its publish script runs
// (EVALSHA and EVAL), the PUBLISH and SPUBLISH those ran, and its CPU.
type masterLoad struct {
	scripts, publishes int64
	cpu                time.Duration
}

// readLoads reads each master's load so far.
func readLoads(tb testing.TB, masters []*redistest.Server) []masterLoad {
	tb.Helper()
	loads := make([]masterLoad, len(masters))
	for i, m := range masters {
		stats := redistest.CommandStats(tb, m)
		loads[i] = masterLoad{
			scripts:   stats["evalsha"].Calls + stats["eval"].Calls,
			publishes: stats["publish"].Calls + stats["spublish"].Calls,
			cpu:       redistest.CPU(tb, m),
		}
	}
	return loads
}

// loadSince is each master's load between before and after.
func loadSince(before, after []masterLoad) []masterLoad {
	d := make([]masterLoad, len(after))
	for i := range after {
		d[i] = masterLoad{
			scripts:   after[i].scripts - before[i].scripts,
			publishes: after[i].publishes - before[i].publishes,
			cpu:       after[i].cpu - before[i].cpu,
		}
	}
	return d
}

// shares returns each master's share of the total of what field reads,
// and the largest deviation of a share from an even one, relative to the
// even share (0.25: some master has 25% more or less than even).
func shares(loads []masterLoad, field func(masterLoad) float64) (each []float64, maxDev float64) {
	var total float64
	for _, l := range loads {
		total += field(l)
	}
	even := 1 / float64(len(loads))
	each = make([]float64, len(loads))
	for i, l := range loads {
		if total > 0 {
			each[i] = field(l) / total
		}
		maxDev = max(maxDev, math.Abs(each[i]-even)/even)
	}
	return each, maxDev
}

func scriptsOf(l masterLoad) float64   { return float64(l.scripts) }
func publishesOf(l masterLoad) float64 { return float64(l.publishes) }
func cpuOf(l masterLoad) float64       { return l.cpu.Seconds() }

// newSpreadBroker returns a broker of n partitions on the cluster client,
// its keys under prefix, closed when tb ends. It has published a batch to
// every partition already, so that each master has the publish script
// loaded: a first EVALSHA fails with NOSCRIPT and the broker runs the
// pipeline again with EVAL, which would count twice.
func newSpreadBroker(tb testing.TB, client *redis.ClusterClient, prefix string, n int) *Broker {
	tb.Helper()
	br, err := New(context.Background(), Config{Client: client, Prefix: prefix, Partitions: n,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { br.Close() })
	warm := make([]broker.Publication, spreadBatch)
	for i := range warm {
		warm[i] = broker.Publication{Topics: []string{fmt.Sprintf("warm/%d", i)}, Data: []byte("x")}
	}
	if _, err := br.Publish(context.Background(), warm, broker.Idempotency{}); err != nil {
		tb.Fatalf("Publish(warm-up) = %v", err)
	}
	return br
}

// partitionMasters returns the index in masters of the master serving
// each of br's partitions.
func partitionMasters(tb testing.TB, cluster *redistest.Cluster, masters []*redistest.Server, br *Broker) []int {
	tb.Helper()
	idx := make([]int, len(br.parts))
	for k, p := range br.parts {
		idx[k] = slices.Index(masters, cluster.MasterOf(tb, p.slot))
		if idx[k] < 0 {
			tb.Fatalf("partition %d (slot %d): its master is not one of the masters %v", k, p.slot, addrsOf(masters))
		}
	}
	return idx
}

func addrsOf(nodes []*redistest.Server) []string {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// publishUniform publishes n events, spreadBatch per call; event i goes
// to topic user/<i mod spreadTopics>.
func publishUniform(tb testing.TB, br *Broker, n int) {
	tb.Helper()
	data := []byte(strings.Repeat("x", 64))
	pubs := make([]broker.Publication, spreadBatch)
	for start := 0; start < n; start += spreadBatch {
		batch := pubs[:min(spreadBatch, n-start)]
		for j := range batch {
			batch[j] = broker.Publication{Topics: []string{fmt.Sprintf("user/%d", (start+j)%spreadTopics)}, Data: data}
		}
		if _, err := br.Publish(context.Background(), batch, broker.Idempotency{}); err != nil {
			tb.Fatalf("Publish(events %d..%d) = %v", start, start+len(batch)-1, err)
		}
	}
}

// TestClusterPublishSpreads: on a real 3-master Redis Cluster, a fleet of
// three partitions has one partition on each master, and a uniform topic
// mix spreads the publish scripts and the SPUBLISHes they run within 25% of
// even across the masters; a fleet of one partition (the single-slot
// layout) runs them all on one master. Counts only: CPU is measured by
// BenchmarkClusterPublishSpread.
func TestClusterPublishSpreads(t *testing.T) {
	const events = 3000
	cluster := redistest.StartCluster(t)
	client := cluster.Client(t)
	masters := cluster.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("cluster has masters %v, want 3", addrsOf(masters))
	}

	t.Run("partitions=3", func(t *testing.T) {
		br := newSpreadBroker(t, client, "spread3", 3)
		on := partitionMasters(t, cluster, masters, br)
		if !slices.Equal(slices.Sorted(slices.Values(on)), []int{0, 1, 2}) {
			t.Fatalf("partitions' masters = %v (slots %d, %d, %d), want one partition on each of the 3 masters",
				on, br.parts[0].slot, br.parts[1].slot, br.parts[2].slot)
		}
		before := readLoads(t, masters)
		publishUniform(t, br, events)
		loads := loadSince(before, readLoads(t, masters))
		t.Logf("per master: publish scripts %d, %d, %d; SPUBLISH %d, %d, %d",
			loads[0].scripts, loads[1].scripts, loads[2].scripts, loads[0].publishes, loads[1].publishes, loads[2].publishes)
		var published int64
		for _, l := range loads {
			published += l.publishes
		}
		if published != events {
			t.Errorf("masters ran %d PUBLISH and SPUBLISH in all (%+v), want %d: one per event", published, loads, events)
		}
		for _, c := range []struct {
			what  string
			field func(masterLoad) float64
		}{{"publish scripts", scriptsOf}, {"SPUBLISHes", publishesOf}} {
			each, dev := shares(loads, c.field)
			if dev > spreadTolerance {
				t.Errorf("shares of the %s per master = %.3f (loads %+v), deviation %.0f%% from even, want at most %.0f%%",
					c.what, each, loads, dev*100, spreadTolerance*100)
			}
		}
	})

	t.Run("partitions=1", func(t *testing.T) {
		br := newSpreadBroker(t, client, "spread1", 1)
		home := partitionMasters(t, cluster, masters, br)[0]
		before := readLoads(t, masters)
		publishUniform(t, br, events)
		loads := loadSince(before, readLoads(t, masters))
		for i, l := range loads {
			want := masterLoad{cpu: l.cpu}
			if i == home {
				want.scripts, want.publishes = events/spreadBatch, events
			}
			if l != want {
				t.Errorf("master %d (%s): %d publish scripts, %d PUBLISH; want %d and %d (the single slot is on master %d)",
					i, masters[i].Addr(), l.scripts, l.publishes, want.scripts, want.publishes, home)
			}
		}
	})
}

// BenchmarkClusterPublishSpread publishes a uniform mix of targeted events
// (b.N events, 100 per call, each to one of 10,000 topics) through a fleet
// of one partition (the single-slot layout) and of three, on the same real
// 3-master Redis Cluster, and reports how the masters share the work: for
// each master (mN, in start order) its share of the publish scripts run (mN-scripts-%), of the
// PUBLISH/SPUBLISH they ran (mN-pub-%) and of the Redis CPU used
// (mN-cpu-%), the largest deviation of a master's share from an even third
// (*-max-dev-%, relative to the third), and the Redis CPU per event summed
// over the masters and on the busiest master alone: the fleet's publish
// rate is bound by its busiest master's core.
//
// Each run of a sub-benchmark has a prefix of its own, so the two layouts
// and the runs of one never share keys; the cluster is shared, started once
// per run of the benchmark. CPU comes from INFO cpu: a master's own
// background work (cluster bus pings, cron) is counted too.
func BenchmarkClusterPublishSpread(b *testing.B) {
	cluster := redistest.StartCluster(b)
	client := cluster.Client(b)
	masters := cluster.Masters(b)
	if len(masters) != 3 {
		b.Fatalf("cluster has masters %v, want 3", addrsOf(masters))
	}
	runs := 0
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			runs++
			br := newSpreadBroker(b, client, fmt.Sprintf("spread%d-%d", n, runs), n)
			on := partitionMasters(b, cluster, masters, br)
			if n == 3 && !slices.Equal(slices.Sorted(slices.Values(on)), []int{0, 1, 2}) {
				b.Fatalf("partitions' masters = %v, want one partition on each of the 3 masters", on)
			}
			before := readLoads(b, masters)
			b.ResetTimer()
			publishUniform(b, br, b.N)
			b.StopTimer()
			loads := loadSince(before, readLoads(b, masters))
			var cpu, busiest time.Duration
			for _, l := range loads {
				cpu += l.cpu
				busiest = max(busiest, l.cpu)
			}
			for _, m := range []struct {
				name  string
				field func(masterLoad) float64
			}{{"scripts", scriptsOf}, {"pub", publishesOf}, {"cpu", cpuOf}} {
				each, dev := shares(loads, m.field)
				for i, s := range each {
					b.ReportMetric(s*100, fmt.Sprintf("m%d-%s-%%", i, m.name))
				}
				b.ReportMetric(dev*100, m.name+"-max-dev-%")
			}
			b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "redis-µs/event")
			b.ReportMetric(busiest.Seconds()*1e6/float64(b.N), "busiest-µs/event")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
