package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/redisbroker"
	"github.com/ssehub/ssehub/transport/sse"
)

// The fleet guarantees of fleet_test.go and rolling_test.go (pub/sub kill,
// hub kill -9 with a resume storm, Redis restarted empty, rolling restart),
// on a fleet of partitionsTested partitions on a real three-master Redis
// Cluster (docs/fleet-design.md). There a stream's ids are cursors, not
// the publish ids, and order is guaranteed per topic, not across topics:
// these tests check with checkPerTopicOnce (every followed event once, by
// its data; each topic's in publish order), or with checkOnceOrReset
// where a master lost its data.
//
// TestFaults also runs its scenarios on such a fleet (its "cluster"
// subtests), counting per partition: an event's position is its cursor's
// component in the partition of its topic (faultRun.figuresOf).

// partitionedTopics are what these tests follow and publish: a topic of
// each partition followed exactly, one of each matched by the pattern
// pat/*, and one of each followed by no one, which checks that nothing
// leaks.
type partitionedTopics struct{ exact, matched, ignored []string }

func newPartitionedTopics() partitionedTopics {
	return partitionedTopics{
		exact:   partitionTopics("part", partitionsTested),
		matched: partitionTopics("pat", partitionsTested),
		ignored: partitionTopics("other", partitionsTested),
	}
}

func (p partitionedTopics) all() []string { return slices.Concat(p.exact, p.matched, p.ignored) }

// both follows every exact topic and the pattern: a stream in every
// partition twice over, whose events of pat/* come through each
// partition's pattern channel.
func (p partitionedTopics) both() selection {
	return selection{"both", "topic=" + strings.Join(p.exact, "&topic=") + "&topic=pat/*",
		func(t string) bool { return slices.Contains(p.exact, t) || strings.HasPrefix(t, "pat/") }}
}

// exactOnly follows the exact topics alone: a topic on each master.
func (p partitionedTopics) exactOnly() selection {
	return selection{"exact", "topic=" + strings.Join(p.exact, "&topic="),
		func(t string) bool { return slices.Contains(p.exact, t) }}
}

// pattern follows pat/* alone.
func (p partitionedTopics) pattern() selection {
	return selection{"pattern", "topic=pat/*", func(t string) bool { return strings.HasPrefix(t, "pat/") }}
}

// partitionedClusterArgs returns the flags of a hub of a partitioned fleet
// on cluster, and extra.
func partitionedClusterArgs(cluster *redistest.Cluster, extra ...string) []string {
	addrs := cluster.Addrs()
	return append([]string{"--redis-mode", "cluster", "--redis-partitions", strconv.Itoa(partitionsTested),
		"--redis-url", "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")}, extra...)
}

// startPartitionedFleet starts n hubs with partitions on cluster (and
// extra flags), logs their stderr if the test fails, and waits until they
// have settled on the masters (waitPartitionsSettled).
func startPartitionedFleet(t *testing.T, cluster *redistest.Cluster, n int, extra ...string) (*http.Client, []*fleetHub) {
	t.Helper()
	client := newHTTPClient(t)
	hubs := startFleet(t, client, n, partitionedClusterArgs(cluster, extra...)...)
	logStderrOnFailure(t, hubs...)
	waitPartitionsSettled(t, client, cluster, hubs)
	return client, hubs
}

// waitPartitionsSettled waits until every master has one pub/sub
// connection from each of hubs (one partition per master, one connection
// per partition and hub: --redis-pubsub-conns 1), each subscribed to
// something, and every hub answers /readyz 200 again. /readyz may answer
// 200 before that: a hub's new connection to a partition can first reach
// another node, be refused with MOVED and be re-established, and the hub
// refuses new streams meanwhile (ErrBrokerDown) for a few hundred
// milliseconds after it said it was ready.
func waitPartitionsSettled(t *testing.T, client *http.Client, cluster *redistest.Cluster, hubs []*fleetHub) {
	t.Helper()
	masters := cluster.Masters(t)
	if len(masters) != partitionsTested {
		t.Fatalf("%d masters, want one per partition (%d)", len(masters), partitionsTested)
	}
	rcs := make([]*redis.Client, len(masters))
	for i, m := range masters {
		rcs[i] = m.Client(t)
	}
	poll(t, "every hub's pub/sub connections on their partitions' masters", func() (bool, string) {
		for i, rc := range rcs {
			list, err := rc.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
			if err != nil {
				return false, err.Error()
			}
			lines := strings.Fields(strings.ReplaceAll(list, " ", "_"))
			subscribed := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "_ssub=0_") }) < 0
			if len(lines) != len(hubs) || !subscribed {
				return false, fmt.Sprintf("master %s: pub/sub clients:\n%s", masters[i].Addr(), list)
			}
		}
		for _, h := range hubs {
			if st := readyStatus(client, h.addr); st != http.StatusOK {
				return false, fmt.Sprintf("%s /readyz %d", h.name, st)
			}
		}
		return true, ""
	})
}

// logStderrOnFailure logs each hub's stderr at the end of a failed test.
func logStderrOnFailure(t *testing.T, hubs ...*fleetHub) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range hubs {
				t.Logf("%s stderr:\n%s", h.name, h.proc.stderr)
			}
		}
	})
}

// checkCursor checks that s's Last-Event-ID is a cursor of the fleet's
// partitions, as a resume sends it.
func checkCursor(t *testing.T, s *subscriber) {
	t.Helper()
	id := s.lastID()
	if c, err := eventid.ParseCursor(id); err != nil || len(c) != partitionsTested {
		t.Fatalf("subscriber %s: Last-Event-ID %q (%v), want a cursor of %d partitions", s.name, id, err, partitionsTested)
	}
}

// TestFleetPartitionsPubSubKill: every master drops every pub/sub
// connection, twice, while events stream in to topics of every partition.
// Each hub reconnects each partition's connection to its master and fills
// the gap from that partition's history: every stream stays up, on one
// connection, and has every event it follows once, in publish order per
// topic, including events to topics of several partitions at once.
func TestFleetPartitionsPubSubKill(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	client, hubs := startPartitionedFleet(t, cluster, 2)
	topics := newPartitionedTopics()
	subs := subscribeAll(t, hubs, topics.both(), topics.exactOnly(), topics.pattern())

	masters := cluster.Masters(t)
	rcs := make([]*redis.Client, len(masters))
	conns := make([][]string, len(masters))
	for i, m := range masters {
		rcs[i] = m.Client(t)
		ids, err := pubsubClients(rcs[i])
		if err != nil || len(ids) == 0 {
			t.Fatalf("master %s: pub/sub clients %v, %v; want the hubs' connections to its partition", m.Addr(), ids, err)
		}
		conns[i] = ids
	}
	pub := startPublisher(t, client, hubs, topics.all()...)
	var spread []published
	for round := 1; round <= 2; round++ {
		pub.waitCount(t, round*stepEvents)
		for i, rc := range rcs {
			killed, err := rc.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
			if err != nil || killed == 0 {
				t.Fatalf("master %s: CLIENT KILL TYPE pubsub = %d, %v; want some killed", masters[i].Addr(), killed, err)
			}
		}
		// Wait until the hubs are back on new connections everywhere
		// before the next round, so that it hits those.
		for i, rc := range rcs {
			conns[i] = waitResubscribed(t, rc, conns[i])
		}
		t.Logf("round %d: killed every master's pub/sub connections after %d events", round, pub.count())
		spread = append(spread, publishMany(t, client, hubs[round%2].addr, fmt.Sprintf("s%d-all", round),
			slices.Concat(topics.exact, topics.matched, topics.ignored)...))
	}
	pub.waitCount(t, pub.count()+stepEvents)
	evs := pub.finish(t)
	for _, s := range subs {
		checkPerTopicOnce(t, s, s.follows, evs, spread)
		if len(s.conns) != 1 {
			t.Errorf("subscriber %s reconnected %d times, want its stream to stay up", s.name, len(s.conns)-1)
		}
	}
	for _, h := range hubs {
		if !strings.Contains(h.proc.stderr.String(), "reconnecting") {
			t.Errorf("%s logged no pub/sub reconnect", h.name)
		}
	}
}

// TestFleetPartitionsHubKill: one of three hubs dies with SIGKILL while
// events stream in. Its clients, two identical ones per selection, all
// reconnect at the same moment to the other hubs with their Last-Event-ID,
// a cursor (a small resume storm), and, stitched across connections, every
// client has every event it follows once, in publish order per topic.
func TestFleetPartitionsHubKill(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	client, hubs := startPartitionedFleet(t, cluster, 3)
	topics := newPartitionedTopics()
	both2 := topics.both()
	both2.name = "both2"
	subs := subscribeAll(t, hubs, topics.both(), both2, topics.exactOnly(), topics.pattern())
	pub := startPublisher(t, client, hubs, topics.all()...)
	pub.waitCount(t, stepEvents)
	for _, s := range subs {
		s.waitEvents(t, 1) // so each has a cursor to resume from
	}
	spread := []published{publishMany(t, client, hubs[0].addr, "s-before", slices.Concat(topics.exact, topics.matched)...)}

	victim := hubs[2]
	pub.removeHub(victim.addr)
	victim.kill(t)
	var moved []*subscriber
	for _, s := range subs {
		if s.current().hub == victim.addr {
			s.waitFor(t, "end of stream from the killed hub", s.current().ended)
			checkCursor(t, s)
			moved = append(moved, s)
		}
	}
	// The storm: every moved client resumes at once, each pair from the
	// same cursor.
	conns := make([]*sseConn, len(moved))
	errs := make([]error, len(moved))
	var wg sync.WaitGroup
	for i, s := range moved {
		wg.Go(func() { conns[i], errs[i] = s.dial(hubs[i%2].addr) })
	}
	wg.Wait()
	for i, c := range conns {
		if c != nil {
			t.Cleanup(c.close)
		} else {
			t.Fatalf("subscriber %s resuming: %v", moved[i].name, errs[i])
		}
	}
	t.Logf("killed %s after %d events; %d clients resumed at once", victim.name, pub.count(), len(moved))
	spread = append(spread, publishMany(t, client, hubs[1].addr, "s-after", slices.Concat(topics.exact, topics.matched)...))
	pub.waitCount(t, pub.count()+stepEvents)
	evs := pub.finish(t)
	for _, s := range subs {
		checkPerTopicOnce(t, s, s.follows, evs, spread)
	}
}

// partitionSlotRE matches a hub's log line of a partition's slot.
var partitionSlotRE = regexp.MustCompile(`msg="redis partition" partition=(\d+) tag=\S+ slot=(\d+)`)

// partitionSlot returns the Cluster slot of partition k, as hub logged it
// at start.
func partitionSlot(t *testing.T, hub *fleetHub, k int) int {
	t.Helper()
	for _, m := range partitionSlotRE.FindAllStringSubmatch(hub.proc.stderr.String(), -1) {
		if m[1] == strconv.Itoa(k) {
			slot, _ := strconv.Atoi(m[2])
			return slot
		}
	}
	t.Fatalf("%s did not log the slot of partition %d; stderr:\n%s", hub.name, k, hub.proc.stderr)
	return 0
}

// connectAccepted connects s to the hub at addr with its Last-Event-ID, and
// again, as EventSource does, while the hub answers with a stream that
// ends at once: it does so while one of its pub/sub connections is being
// re-established (docs/reliability.md).
func connectAccepted(t *testing.T, s *subscriber, addr string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s.connect(t, addr)
		if !waitEnded(s.current(), 300*time.Millisecond) {
			return
		}
		if attempt == 20 {
			t.Fatalf("subscriber %s: the hub ended the stream at once 20 times", s.name)
		}
	}
}

// TestFleetPartitionsMasterRestartEmpty: the master of one partition (the
// victim) is killed and restarted empty; it rejoins the Cluster with its
// slots, and the partition's history is gone. Four clients:
//
//   - one stays connected across the restart: it has every event once, in
//     order per topic, and no ssehub.reset, as the hub fills its gap from
//     the partition's new history, including an event published to the
//     victim's partition as soon as it takes writes, possibly before the
//     hub has resubscribed there;
//   - one misses events in every partition and resumes after the restart:
//     it must be told with ssehub.reset (history_lost), never skip events
//     silently;
//   - one follows only the other partitions' topics, misses some, and
//     resumes: the lost history is none of its business, it gets exactly
//     what it missed, with no reset;
//   - one follows a topic in every partition but missed only events of the
//     other partitions, all still in history: it gets a reset naming only
//     the lost partition's topic (history cannot tell whether it missed
//     something there), then exactly what it missed in the others.
//
// Nobody gets an event twice, and no event is missing unless a reset the
// client received covers it.
func TestFleetPartitionsMasterRestartEmpty(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	client, hubs := startPartitionedFleet(t, cluster, 2)
	topics := newPartitionedTopics()
	const lost = 1 // the partition whose master restarts
	victim := cluster.MasterOf(t, partitionSlot(t, hubs[0], lost))
	var others []string // exact topics of the partitions that keep their history
	for k, tp := range topics.exact {
		if k != lost {
			others = append(others, tp)
		}
	}

	both, exact := topics.both(), topics.exactOnly()
	stays := newSubscriber("stays", both.query, both.follows)
	stays.connect(t, hubs[0].addr)
	resumer := newSubscriber("resumer", both.query, both.follows)
	resumer.connect(t, hubs[0].addr)
	survivor := newSubscriber("survivor", "topic="+strings.Join(others, "&topic="), func(tp string) bool { return slices.Contains(others, tp) })
	survivor.connect(t, hubs[1].addr)
	// It follows no pattern: the events published to the victim's
	// partition after the restart are for the stream that stays, and this
	// one misses only events of the other partitions.
	spanning := newSubscriber("spanning", exact.query, exact.follows)
	spanning.connect(t, hubs[1].addr)
	subs := []*subscriber{stays, resumer, survivor, spanning}

	pub := startPublisher(t, client, hubs, topics.all()...)
	pub.waitCount(t, stepEvents)
	for _, s := range subs {
		s.waitEvents(t, 1)
	}
	resumer.current().close()
	survivor.current().close()
	pub.waitCount(t, pub.count()+stepEvents)
	// The steady publisher stops short of the restart: it fails on the
	// 503 a publish to the victim's partition gets while it is down.
	before := pub.finish(t)
	checkPerTopicOnce(t, spanning, spanning.follows, before, nil) // everything of the victim's partition
	spanning.current().close()
	var evs []published // every event published, in order; single-topic
	evs = append(evs, before...)
	for i := range 10 {
		evs = append(evs, mustPublish(t, client, hubs[i%2].addr, others[i%len(others)], fmt.Sprintf("o%d", i)))
	}
	rc := victim.Client(t)
	conns, err := pubsubClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	resumeFrom := map[*subscriber]string{resumer: resumer.lastID(), spanning: spanning.lastID()}

	victim.Restart() // SIGKILL, then a fresh redis-server on its port and nodes.conf: no data
	// As soon as the victim takes writes again (a restarted master waits
	// 2s), publish to its partition, retrying with an Idempotency-Key:
	// the hubs may not have resubscribed there yet.
	gap := publishRetrying(t, client, hubs[1].addr, topics.matched[lost], "gap")
	t.Logf("published %s to the restarted partition; hubs' /readyz then: %d, %d (503 while a pub/sub connection is being re-established)",
		gap.id, readyStatus(client, hubs[0].addr), readyStatus(client, hubs[1].addr))
	evs = append(evs, gap)
	cluster.WaitReady(t)
	waitPubSub(t, rc, len(conns))
	for _, h := range hubs {
		waitReady(t, client, "http://"+h.addr+"/readyz", fleetTimeout)
	}

	connectAccepted(t, resumer, hubs[1].addr)
	connectAccepted(t, survivor, hubs[0].addr)
	connectAccepted(t, spanning, hubs[0].addr)
	var after []published // not the steady publisher again: its events' data would repeat
	for i := range stepEvents {
		after = append(after, mustPublish(t, client, hubs[i%2].addr, topics.all()[i%len(topics.all())], fmt.Sprintf("a%d", i)))
	}
	evs = append(evs, after...)

	resets := map[*subscriber][]sse.Event{}
	for _, s := range subs {
		resets[s] = checkOnceOrReset(t, s, evs, after)
	}
	if len(resets[stays]) != 0 || len(stays.conns) != 1 {
		t.Errorf("the stream that stayed got %d resets over %d connections, want none and one connection", len(resets[stays]), len(stays.conns))
	}
	if len(resets[survivor]) != 0 {
		t.Errorf("subscriber survivor, following no topic of the lost partition, got %d resets, want none", len(resets[survivor]))
	}
	for _, s := range []*subscriber{resumer, spanning} {
		var d struct{ Reason, LastEventID string }
		if len(resets[s]) > 0 {
			_ = json.Unmarshal([]byte(resets[s][0].Data), &d)
		}
		switch {
		case s == resumer && len(resets[s]) != 1:
			t.Errorf("subscriber resumer resumed into the lost history and got %d resets, want one", len(resets[s]))
		case len(resets[s]) > 0 && d.LastEventID != resumeFrom[s]:
			t.Errorf("subscriber %s: ssehub.reset data %s, want lastEventId %s (the id it resumed from)", s.name, resets[s][0].Data, resumeFrom[s])
		}
	}
	if n := len(resets[spanning]); n != 1 {
		t.Errorf("subscriber spanning got %d resets, want one, for the lost partition", n)
	} else {
		var d struct{ Topics []string }
		_ = json.Unmarshal([]byte(resets[spanning][0].Data), &d)
		if !slices.Equal(d.Topics, []string{topics.exact[lost]}) {
			t.Errorf("subscriber spanning: reset names topics %q, want only the lost partition's [%s]", d.Topics, topics.exact[lost])
		}
	}
}

// publishRetrying publishes one event until it is answered 200, retrying
// with the same Idempotency-Key (a 503 while the Cluster refuses writes
// to the partition), for up to fleetTimeout.
func publishRetrying(t *testing.T, client *http.Client, addr, topic, data string) published {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"topic": topic, "data": data})
	deadline := time.Now().Add(fleetTimeout)
	var outcomes []string
	for {
		id, outcome, err := postKeyed(client, addr, strconv.Quote(data), body)
		if err != nil {
			t.Fatal(err)
		}
		if id != "" {
			return published{id: id, topic: topic, data: data}
		}
		if outcomes = append(outcomes, outcome); time.Now().After(deadline) {
			t.Fatalf("POST %s/publish %s not answered 200 within %v: %v", addr, body, fleetTimeout, outcomes)
		}
		time.Sleep(pollInterval) // between a publisher's attempts
	}
}

// checkOnceOrReset waits until s has every event of last it follows (those
// published after its last resume, which no reset can cover), then checks
// what it received against evs, every event published, in publish order,
// each to one topic and with its publish id, its position in its topic's
// partition:
//
//   - each event s follows came once, or not at all where an ssehub.reset
//     (history_lost) s received covers it: its position is after the
//     reset's lastEventId and at most the reset's id, both cursors, in its
//     partition;
//   - nothing else came;
//   - each topic's events came in publish order;
//   - each event came with a cursor whose position in its partition is the
//     event's own, and no cursor went back in any partition.
//
// It returns the resets s received.
func checkOnceOrReset(t *testing.T, s *subscriber, evs, last []published) []sse.Event {
	t.Helper()
	due := map[string]bool{}
	for _, e := range last {
		if s.follows(e.topic) {
			due[e.data] = true
		}
	}
	s.waitFor(t, fmt.Sprintf("the %d events published last", len(due)), func() bool {
		n := 0
		for _, e := range s.events() {
			if due[e.Data] {
				n++
			}
		}
		return n >= len(due)
	})
	byData := map[string]published{}
	for _, e := range evs {
		byData[e.data] = e
	}
	type gap struct{ after, upTo eventid.Cursor }
	var (
		resets []sse.Event
		gaps   []gap
		seen   = map[string]int{}
		order  = map[string][]string{} // topic -> data, as received
		newest = make(eventid.Cursor, partitionsTested)
	)
	for _, e := range s.events() {
		c, err := eventid.ParseCursor(e.ID)
		if err != nil || len(c) != partitionsTested {
			t.Errorf("subscriber %s: event %s %s has id %q (%v), want a cursor of %d partitions", s.name, e.Type, e.Data, e.ID, err, partitionsTested)
			continue
		}
		for k := range c {
			if c[k].Less(newest[k]) {
				t.Errorf("subscriber %s: event %s %s has cursor %s, back in partition %d from %s", s.name, e.Type, e.Data, e.ID, k, newest[k])
			}
			if newest[k].Less(c[k]) {
				newest[k] = c[k]
			}
		}
		if e.Type == "ssehub.reset" {
			resets = append(resets, e)
			var d struct{ Reason, LastEventID string }
			_ = json.Unmarshal([]byte(e.Data), &d)
			after, err := eventid.ParseCursor(d.LastEventID)
			if d.Reason != "history_lost" || err != nil {
				t.Errorf("subscriber %s: ssehub.reset data %s, want reason history_lost and a cursor (%v)", s.name, e.Data, err)
				continue
			}
			gaps = append(gaps, gap{after, c})
			continue
		}
		p, ok := byData[e.Data]
		if !ok || !s.follows(p.topic) {
			t.Errorf("subscriber %s: received %s %q, which it does not follow", s.name, e.ID, e.Data)
			continue
		}
		if seen[e.Data]++; seen[e.Data] == 1 {
			order[p.topic] = append(order[p.topic], e.Data)
		}
		if k := redisbroker.PartitionOf(p.topic, partitionsTested); c[k].String() != p.id {
			t.Errorf("subscriber %s: event %s (topic %s, published as %s in partition %d) came with cursor %s, at %s there",
				s.name, e.Data, p.topic, p.id, k, e.ID, c[k])
		}
	}
	covered := 0
	for _, p := range evs {
		if !s.follows(p.topic) {
			continue
		}
		k := redisbroker.PartitionOf(p.topic, partitionsTested)
		id, _ := eventid.Parse(p.id)
		switch {
		case seen[p.data] > 1:
			t.Errorf("subscriber %s: event %s (topic %s, %s) received %d times, want once", s.name, p.data, p.topic, p.id, seen[p.data])
		case seen[p.data] == 1:
		case slices.ContainsFunc(gaps, func(g gap) bool { return g.after[k].Less(id) && !g.upTo[k].Less(id) }):
			covered++
		default:
			t.Errorf("subscriber %s: event %s (topic %s, %s in partition %d) neither received nor covered by a reset %v",
				s.name, p.data, p.topic, p.id, k, gaps)
		}
	}
	for topic, got := range order {
		var want []string
		for _, p := range evs {
			if p.topic == topic && seen[p.data] > 0 {
				want = append(want, p.data)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("subscriber %s: topic %s: received %v, published in the order %v", s.name, topic, got, want)
		}
	}
	t.Logf("subscriber %s: %d events over %d connections, %d resets covering %d events", s.name, len(s.events()), len(s.conns), len(resets), covered)
	return resets
}

// TestFleetPartitionsRollingRestart: each of three hubs in turn gets
// SIGTERM, drains (its streams end over --drain-window, each told when
// to retry) and is started again, while events stream in to topics of
// every partition. Clients reconnect as EventSource does, after the retry
// they were told, through the balancer, with their cursor; in the end each
// has every event it follows once, in publish order per topic.
func TestFleetPartitionsRollingRestart(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	// A queue deep enough that no stream is evicted as slow on a busy
	// machine: every stream here must end by the drain.
	extra := []string{"--drain-window", rollingDrainWindow.String(), "--queue-size", "1024"}
	client, hubs := startPartitionedFleet(t, cluster, 3, extra...)
	topics := newPartitionedTopics()
	both2 := topics.both()
	both2.name = "both2"
	subs := subscribeAll(t, hubs, topics.both(), both2, topics.exactOnly(), topics.pattern())
	lb := &balancer{hubs: slices.Clone(hubs)}
	pub := startPublisher(t, client, hubs, topics.all()...)
	pub.waitCount(t, stepEvents)
	for _, s := range subs {
		s.waitEvents(t, 1) // so each has a cursor to resume from
	}

	var spread []published
	for i, victim := range hubs {
		sigterm := time.Now()
		if err := victim.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("SIGTERM %s: %v", victim.name, err)
		}
		poll(t, victim.name+" /readyz 503 once draining", func() (bool, string) {
			st := readyStatus(client, victim.addr)
			return st == http.StatusServiceUnavailable, fmt.Sprintf("status %d", st)
		})
		lb.remove(victim)
		pub.removeHub(victim.addr)
		var leaving []*subscriber
		for _, s := range subs {
			if s.current().hub == victim.addr {
				leaving = append(leaving, s)
			}
		}
		moves, _ := reconnectAfterRetry(t, leaving, lb, victim, sigterm)
		if code := victim.proc.wait(t, fleetTimeout); code != 0 {
			t.Errorf("%s after SIGTERM exit code = %d, want 0", victim.name, code)
		}
		t.Logf("%s: %s", victim.name, spreadReport(moves))

		p, addr := startServing(t, nil, partitionedClusterArgs(cluster, extra...)...)
		hubs[i] = &fleetHub{name: victim.name + "'", addr: addr, proc: p}
		logStderrOnFailure(t, hubs[i])
		waitPartitionsSettled(t, client, cluster, hubs)
		lb.add(hubs[i])
		pub.addHub(addr)
		spread = append(spread, publishMany(t, client, addr, fmt.Sprintf("s%d", i), slices.Concat(topics.exact, topics.matched)...))
		pub.waitCount(t, pub.count()+stepEvents)
	}
	evs := pub.finish(t)
	for _, s := range subs {
		checkPerTopicOnce(t, s, s.follows, evs, spread)
	}
}

// TestFleetPartitionsStartOnMasters: a hub starting on a Cluster with
// partitions opens each partition's pub/sub connection on that
// partition's master. It used to open some on a random node, have every
// SSUBSCRIBE refused with MOVED and re-establish them, refusing new
// streams (retry 2-4 times --retry, "broker unavailable") meanwhile, just
// after /readyz had answered 200. Three hubs in turn: each logs no
// reconnect, and a stream opened as soon as it is ready gets an event of
// every partition.
func TestFleetPartitionsStartOnMasters(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	client := newHTTPClient(t)
	topics := newPartitionedTopics()
	sel := topics.exactOnly()
	for i := range 3 {
		h := startFleet(t, client, 1, partitionedClusterArgs(cluster)...)[0]
		h.name = fmt.Sprintf("hub%d", i)
		s := newSubscriber(h.name+"/"+sel.name, sel.query, sel.follows)
		s.connect(t, h.addr)
		var evs []published
		for k, tp := range topics.exact {
			evs = append(evs, mustPublish(t, client, h.addr, tp, fmt.Sprintf("h%d-%d", i, k)))
		}
		checkPerTopicOnce(t, s, s.follows, evs, nil)
		if logs := h.proc.stderr.String(); strings.Contains(logs, "reconnecting") {
			t.Errorf("%s reconnected a pub/sub connection at start; stderr:\n%s", h.name, logs)
		}
	}
}
