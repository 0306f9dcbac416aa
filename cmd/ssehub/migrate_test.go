package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/sse"
)

// TestFleetMovesToPartitions proves that a running fleet moves from the
// single-slot layout to partitions without its clients noticing
// (docs/fleet-design.md, "Moving a running fleet to partitions"): a rolling
// restart to --redis-partitions 3, `ssehub redis-layout --switch`, and a
// restart into the switched layout, all while events stream in through
// both hubs (some to topics of several partitions at once). Two streams
// follow a topic in every partition and a pattern: S1 disconnects and
// resumes with its Last-Event-ID through the other hub at every step, S2
// stays up on one hub but for the one move a restart forces. Each gets
// every event it follows once, in publish order per topic, and no
// ssehub.reset. Ids stay those of the single-slot layout (<ms>-<seq>)
// until the switch, so that hubs still at 1 resume them, and are cursors
// after it. Hubs A and B:
//
//  1. A and B run --redis-partitions 1; Redis records 1. S1 on A, S2 on
//     B. S1 resumes on B.
//  2. A is restarted with 3: it starts (migrating), and Redis still
//     records 1. S1 resumes on A (an id written at 1), then on B (an id
//     written by the migrating hub).
//  3. B is restarted with 3: its drain moves S1 and S2 to A. `ssehub
//     redis-layout` prints 1. S1 resumes on B.
//  4. `ssehub redis-layout --switch`: the record is 3. An event to every
//     partition through each hub gives both streams cursors. S1 resumes
//     on A with its cursor.
//  5. B is restarted again: with --redis-partitions 1 it is refused, with
//     3 it starts. S1 resumes on B.
//  6. Every event once, in order per topic, no reset, on both streams;
//     S2 ended only by B's drain in step 3.
//
// On a standalone Redis and on a real three-master Redis Cluster, where the
// fleet publishes with classic PUBLISH before the switch (hubs at 1 listen
// there only) and with SPUBLISH to every master after it.
func TestFleetMovesToPartitions(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		testMovesToPartitions(t, []string{"--redis-url", srv.URL(), "--redis-partitions", strconv.Itoa(partitionsTested)}, srv.Client(t), nil)
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		cluster := redistest.StartCluster(t)
		testMovesToPartitions(t, partitionedClusterArgs(cluster), cluster.Client(t), cluster.Masters(t))
	})
}

// layoutKey is where Redis records the fleet's partition count (the
// default --redis-prefix's partition 0).
const layoutKey = "{ssehub}:layout"

// testMovesToPartitions runs TestFleetMovesToPartitions's steps on the
// Redis that partitioned (the Redis flags of a hub with partitions) names;
// rc reads the layout record there, and masters, on a Cluster, are checked
// for how events were published.
func testMovesToPartitions(t *testing.T, partitioned []string, rc redis.Cmdable, masters []*redistest.Server) {
	client := newHTTPClient(t)
	single := withPartitions(partitioned, 1)
	// A queue deep enough that no stream is evicted as slow on a busy
	// machine: S2 must be ended by B's drain only.
	extra := []string{"--drain-window", rollingDrainWindow.String(), "--queue-size", "1024"}
	topics := newPartitionedTopics()
	sel := topics.both()
	var spread []published // events to topics of every partition at once
	spreadVia := func(h *fleetHub, step int) string {
		e := publishMany(t, client, h.addr, fmt.Sprintf("s%d-%s", step, h.name), topics.all()...)
		spread = append(spread, e)
		return e.data
	}

	t.Log("step 1: hubs A and B in the single-slot layout, with --redis-partitions 1")
	hubs := startFleet(t, client, 2, slices.Concat(single, extra)...)
	a, b := hubs[0], hubs[1]
	a.name, b.name = "A", "B"
	logStderrOnFailure(t, a, b)
	every := []*fleetHub{a, b} // every hub started, to name them
	checkLayoutRecord(t, rc, "step 1", "1")
	s1 := newSubscriber("S1", sel.query, sel.follows) // resumes through the other hub at every step
	s1.connect(t, a.addr)
	s2 := newSubscriber("S2", sel.query, sel.follows) // stays up but for B's drain
	s2.connect(t, b.addr)
	pub := startPublisher(t, client, hubs, topics.all()...)
	pub.waitCount(t, stepEvents)
	spreadVia(a, 1)
	resumeOn(t, "step 1, before restart 1", s1, pub, b, false)

	t.Log("step 2: A restarted with --redis-partitions 3 on the fleet recording 1: it starts migrating")
	pub.removeHub(a.addr)
	stopHub(t, a, nil)
	a = startHub(t, client, "A'", "restarted with --redis-partitions 3 on a fleet recording 1 (step 2: it must start, migrating)",
		slices.Concat(partitioned, extra)...)
	pub.addHub(a.addr)
	every = append(every, a)
	checkLayoutRecord(t, rc, "step 2, A' started", "1")
	pub.waitCount(t, pub.count()+stepEvents)
	spreadVia(a, 2)
	resumeOn(t, "step 2, between the restarts, onto the migrating hub", s1, pub, a, false)
	resumeOn(t, "step 2, between the restarts, back onto the hub at 1", s1, pub, b, false)

	t.Log("step 3: B restarted with --redis-partitions 3; its drain moves S1 and S2 to A'")
	pub.removeHub(b.addr)
	stopHub(t, b, a, s1, s2)
	b = startHub(t, client, "B'", "restarted with --redis-partitions 3 on a fleet recording 1 (step 3: it must start, migrating)",
		slices.Concat(partitioned, extra)...)
	pub.addHub(b.addr)
	every = append(every, b)
	checkLayoutRecord(t, rc, "step 3, B' started", "1")
	checkPrintsLayout(t, "step 3, before the switch", redisLayout(t, partitioned...), "1")
	pub.waitCount(t, pub.count()+stepEvents)
	spreadVia(b, 3)
	resumeOn(t, "step 3, before the switch", s1, pub, b, false)

	t.Log("step 4: ssehub redis-layout --switch")
	// All that was published and received before it is of the
	// single-slot layout.
	publishedBefore, s1Before, s2Before := pub.count(), len(s1.events()), len(s2.events())
	for _, m := range masters {
		if n := redistest.CommandStats(t, m)["spublish"].Calls; n != 0 {
			t.Errorf("step 4, before the switch: master %s ran %d SPUBLISH, want none: the fleet publishes in the single-slot layout (classic PUBLISH, which hubs at 1 follow) until the switch", m.Addr(), n)
		}
	}
	redisLayout(t, append([]string{"--switch"}, partitioned...)...)
	checkLayoutRecord(t, rc, "step 4, after the switch", strconv.Itoa(partitionsTested))
	checkPrintsLayout(t, "step 4, after the switch", redisLayout(t, partitioned...), strconv.Itoa(partitionsTested))
	// Each hub notices at once on its next publish: these are partitioned,
	// so each stream soon has events of other partitions than 0, and
	// cursors. (Its id stays a plain one while its shard has seen nothing
	// of the other partitions: a copy from partition 0 of an event spread
	// over all of them may come before the others' copies.)
	fromA, fromB := spreadVia(a, 4), spreadVia(b, 4)
	for _, s := range []*subscriber{s1, s2} {
		s.waitFor(t, "the events to every partition published after the switch, and a cursor", func() bool {
			_, err := eventid.ParseCursor(s.lastID())
			return received(s, fromA) && received(s, fromB) && err == nil
		})
		checkCursor(t, s)
	}
	resumeOn(t, "step 4, right after the switch", s1, pub, a, true)

	t.Log("step 5: B' restarted into the switched layout: refused with --redis-partitions 1, started with 3")
	pub.removeHub(b.addr)
	stopHub(t, b, nil)
	checkRefused(t, "restarted with --redis-partitions 1 on the switched fleet (step 5)", slices.Concat(single, extra)...)
	b = startHub(t, client, "B''", "restarted with --redis-partitions 3 on the switched fleet (step 5: it must start)",
		slices.Concat(partitioned, extra)...)
	pub.addHub(b.addr)
	pub.waitCount(t, pub.count()+stepEvents)
	spreadVia(b, 5)
	resumeOn(t, "step 5, after the final restart", s1, pub, b, true)
	pub.waitCount(t, pub.count()+stepEvents)
	// Finishing the move waits for the hubs that started while it moved
	// to be restarted: on a Cluster A' still listens on classic
	// channels, which only the move's copies reach. (Elsewhere every hub
	// listens there: nothing to wait for.)
	finish := startSSEHub(t, nil, append([]string{"redis-layout", "--finish"}, partitioned...)...)
	if code, onCluster := finish.wait(t, fleetTimeout), len(masters) > 0; onCluster != (code == 1) {
		t.Errorf("redis-layout --finish with A' running (on a Cluster: %v): exit code %d; stdout %s; stderr %s",
			onCluster, code, finish.stdout, finish.stderr)
	}

	t.Log("step 6: what each stream received")
	evs := pub.finish(t)
	checkIDsIncrease(t, evs[:publishedBefore]) // one sequence: the single slot's
	checkScalarIDs(t, "before the switch", s1, s1.events()[:s1Before])
	checkScalarIDs(t, "before the switch", s2, s2.events()[:s2Before])
	for _, s := range []*subscriber{s1, s2} {
		checkPerTopicOnce(t, s, s.follows, evs, spread)
		for _, e := range s.events() {
			if e.Type == "ssehub.reset" {
				t.Errorf("subscriber %s received ssehub.reset %s %s, want none: the move loses no history", s.name, e.ID, e.Data)
			}
		}
	}
	if conns := s2.connections(); len(conns) != 2 || conns[1].hub != a.addr || conns[1].ended() {
		var where []string
		for _, c := range conns {
			where = append(where, fmt.Sprintf("%s (ended %v)", hubName(every, c.hub), c.ended()))
		}
		t.Errorf("subscriber S2 had connections %v, want its first ended by B's drain only and its second, on A', up to the end", where)
	}
	for _, m := range masters {
		if n := redistest.CommandStats(t, m)["spublish"].Calls; n == 0 {
			t.Errorf("master %s ran no SPUBLISH, want some: after the switch the fleet publishes partitioned, with sharded pub/sub", m.Addr())
		}
	}
}

// withPartitions returns a copy of args with --redis-partitions n.
func withPartitions(args []string, n int) []string {
	out := slices.Clone(args)
	if i := slices.Index(out, "--redis-partitions"); i >= 0 && i+1 < len(out) {
		out[i+1] = strconv.Itoa(n)
		return out
	}
	return append(out, "--redis-partitions", strconv.Itoa(n))
}

// checkLayoutRecord checks the partition count Redis records for the
// fleet.
// The record is the count, then, once the fleet switched, when it did.
func checkLayoutRecord(t *testing.T, rc redis.Cmdable, step, want string) {
	t.Helper()
	got, err := rc.Get(context.Background(), layoutKey).Result()
	if count, _, _ := strings.Cut(got, " "); err != nil || count != want {
		t.Fatalf("%s: Redis records %q (%v) in %s, want the count %q", step, got, err, layoutKey, want)
	}
}

// redisLayout runs `ssehub redis-layout args` to its end and returns what
// it printed; it fails the test unless it exits 0.
func redisLayout(t *testing.T, args ...string) string {
	t.Helper()
	p := startSSEHub(t, nil, append([]string{"redis-layout"}, args...)...)
	if code := p.wait(t, fleetTimeout); code != 0 {
		t.Fatalf("ssehub redis-layout %s: exit code %d, want 0; stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, p.stdout, p.stderr)
	}
	return p.stdout.String()
}

// checkPrintsLayout checks that out, what `ssehub redis-layout` printed,
// names the partition count want.
func checkPrintsLayout(t *testing.T, step, out, want string) {
	t.Helper()
	if !regexp.MustCompile(`\b` + want + `\b`).MatchString(out) {
		t.Errorf("%s: ssehub redis-layout printed %q, want the recorded layout, %s", step, out, want)
	}
}

// startHub starts a hub with args, named name, and waits until it is
// ready; why says what the step expects of it, for the failure if the hub
// exits instead.
func startHub(t *testing.T, client *http.Client, name, why string, args ...string) *fleetHub {
	t.Helper()
	p := startSSEHub(t, nil, append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	deadline := time.NewTimer(fleetTimeout)
	defer deadline.Stop()
	for {
		if m := listeningRE.FindStringSubmatch(p.stderr.String()); m != nil {
			h := &fleetHub{name: name, addr: m[1], proc: p}
			logStderrOnFailure(t, h)
			poll(t, fmt.Sprintf("hub %s, %s: /readyz 200", name, why), func() (bool, string) {
				st := readyStatus(client, h.addr)
				return st == http.StatusOK, fmt.Sprintf("status %d; stderr:\n%s", st, p.stderr)
			})
			return h
		}
		select {
		case <-p.stderr.written:
		case <-p.exited:
			if !listeningRE.MatchString(p.stderr.String()) {
				t.Fatalf("hub %s, %s: exited with code %d instead of starting; stderr:\n%s", name, why, p.cmd.ProcessState.ExitCode(), p.stderr)
			}
		case <-deadline.C:
			t.Fatalf("hub %s, %s: not listening after %v; stderr:\n%s", name, why, fleetTimeout, p.stderr)
		}
	}
}

// checkRefused starts a hub with args and checks that it refuses to run:
// it exits non-zero, saying why in terms of partitions.
func checkRefused(t *testing.T, why string, args ...string) {
	t.Helper()
	p := startSSEHub(t, nil, append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	select {
	case <-p.exited:
	case <-time.After(fleetTimeout):
		t.Fatalf("a hub %s still runs after %v, want it refused; stderr:\n%s", why, fleetTimeout, p.stderr)
	}
	if code := p.cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(p.stderr.String(), "partitions") {
		t.Errorf("a hub %s exited with code %d, want it refused: non-zero, with stderr naming the partitions; stderr:\n%s", why, code, p.stderr)
	}
}

// stopHub ends h as a rolling restart does, with SIGTERM: h drains its
// streams, subs, which reconnect to the hub to as EventSource does (after
// the retry they were told, with Last-Event-ID), and exits 0.
func stopHub(t *testing.T, h, to *fleetHub, subs ...*subscriber) {
	t.Helper()
	sigterm := time.Now()
	if err := h.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", h.name, err)
	}
	if len(subs) > 0 {
		moves, _ := reconnectAfterRetry(t, subs, &balancer{hubs: []*fleetHub{to}}, h, sigterm)
		t.Logf("%s drained: %s", h.name, spreadReport(moves))
	}
	if code := h.proc.wait(t, fleetTimeout); code != 0 {
		t.Errorf("%s after SIGTERM: exit code %d, want 0", h.name, code)
	}
}

// resumeOn waits until s's connection has received an event (so that its
// Last-Event-ID was written by that hub), closes it, lets the publisher go
// on for events s misses, and resumes s with its Last-Event-ID on the hub
// to. Before the switch every id s has received must be of the
// single-slot layout; after it, s must resume from a cursor.
func resumeOn(t *testing.T, step string, s *subscriber, pub *publisher, to *fleetHub, cursor bool) {
	t.Helper()
	from := s.current()
	s.waitFor(t, step+": an event on its current connection", func() bool {
		from.mu.Lock()
		defer from.mu.Unlock()
		return len(from.events) > 0
	})
	from.close()
	pub.waitCount(t, pub.count()+stepEvents/2)
	if cursor {
		checkCursor(t, s)
	} else {
		checkScalarIDs(t, step, s, s.events())
	}
	t.Logf("%s: subscriber %s resumes from %s on %s", step, s.name, s.lastID(), to.name)
	connectAccepted(t, s, to.addr)
}

// checkScalarIDs checks that each of events, received by s, has an id of
// the single-slot layout, which a hub at --redis-partitions 1 resumes.
func checkScalarIDs(t *testing.T, step string, s *subscriber, events []sse.Event) {
	t.Helper()
	for _, e := range events {
		if _, err := eventid.Parse(e.ID); err != nil {
			t.Fatalf("%s: subscriber %s received %s %s with id %q, want an id of the single-slot layout (<ms>-<seq>): %v", step, s.name, e.Type, e.Data, e.ID, err)
		}
	}
}

// received reports whether s has received an event with data.
func received(s *subscriber, data string) bool {
	return slices.ContainsFunc(s.events(), func(e sse.Event) bool { return e.Data == data })
}
