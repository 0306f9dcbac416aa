package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// partitionsTested is the partition count of the partitioned fleet tests:
// one per master of the test Cluster.
const partitionsTested = 3

// partitionTopics returns one topic of each partition, named prefix/<n>.
func partitionTopics(prefix string, n int) []string {
	topics := make([]string, n)
	for i, found := 0, 0; found < n; i++ {
		t := fmt.Sprintf("%s/%d", prefix, i)
		if k := redisbroker.PartitionOf(t, n); topics[k] == "" {
			topics[k] = t
			found++
		}
	}
	return topics
}

// TestFleetPartitionsResume: on a fleet of three partitions, a stream that
// follows a topic in every partition and a pattern (whose topics are in
// all of them) disconnects while events stream in, and resumes from its
// one Last-Event-ID (a cursor) through the other hub: every event it
// follows arrives once, in publish order per topic, including events
// published to topics of several partitions at once
// (docs/fleet-design.md#cursors). On a standalone Redis and on a real
// three-master Redis Cluster.
func TestFleetPartitionsResume(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		testPartitionsResume(t, "--redis-url", srv.URL(), "--redis-partitions", fmt.Sprint(partitionsTested))
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		cluster := redistest.StartCluster(t)
		testPartitionsResume(t, partitionedClusterArgs(cluster)...)
		// Sharded pub/sub: every message went to its partition's master
		// only, none over the Cluster bus, and each master had some.
		for _, m := range cluster.Masters(t) {
			stats := redistest.CommandStats(t, m)
			if stats["publish"].Calls != 0 || stats["spublish"].Calls == 0 {
				t.Errorf("master %s: %d PUBLISH and %d SPUBLISH, want only SPUBLISH", m.Addr(), stats["publish"].Calls, stats["spublish"].Calls)
			}
		}
	})
}

func testPartitionsResume(t *testing.T, args ...string) {
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 2, args...)
	exact := partitionTopics("part", partitionsTested)
	matched := partitionTopics("pat", partitionsTested) // followed by the pattern pat/*
	ignored := partitionTopics("other", partitionsTested)
	follows := func(topic string) bool { return slices.Contains(exact, topic) || strings.HasPrefix(topic, "pat/") }
	query := "topic=" + strings.Join(exact, "&topic=") + "&topic=pat/*"
	s := newSubscriber("partitions", query, follows)
	s.connect(t, hubs[0].addr)

	all := slices.Concat(exact, matched, ignored)
	pub := startPublisher(t, client, hubs, all...)
	// An event to topics of every partition, and one to a followed topic
	// and a pattern's in other partitions: each must come once.
	var spread []published
	for round := range 3 {
		pub.waitCount(t, (round+1)*stepEvents)
		spread = append(spread,
			publishMany(t, client, hubs[round%2].addr, fmt.Sprintf("s%d-all", round), slices.Concat(exact, ignored)...),
			publishMany(t, client, hubs[round%2].addr, fmt.Sprintf("s%d-two", round), exact[0], matched[2]))
		if round == 1 {
			// Disconnect mid-stream, miss some, resume on the other hub.
			s.waitEvents(t, 1)
			s.current().close()
			pub.waitCount(t, pub.count()+stepEvents)
			if id := s.lastID(); !strings.HasPrefix(id, "c") {
				t.Fatalf("Last-Event-ID %q, want a cursor", id)
			} else if _, err := eventid.ParseCursor(id); err != nil {
				t.Fatal(err)
			}
			s.connect(t, hubs[1].addr)
		}
	}
	evs := pub.finish(t)
	checkPerTopicOnce(t, s, follows, evs, spread)
}

// publishMany publishes one event to several topics and returns it with
// its topics joined by ",".
func publishMany(t *testing.T, client *http.Client, addr, data string, topics ...string) published {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"topics": topics, "data": data})
	resp, err := client.Post("http://"+addr+"/publish", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /publish %s = %d %s", body, resp.StatusCode, raw)
	}
	return published{topic: strings.Join(topics, ","), data: data}
}

// checkPerTopicOnce waits until s has every event it follows of evs and
// spread, and checks that each came once and that each topic's events came
// in the order they were published (evs are in publish order; spread
// events are checked for once only).
func checkPerTopicOnce(t *testing.T, s *subscriber, follows func(string) bool, evs, spread []published) {
	t.Helper()
	want := map[string]string{} // data -> topic
	for _, e := range slices.Concat(evs, spread) {
		if slices.ContainsFunc(strings.Split(e.topic, ","), follows) {
			want[e.data] = e.topic
		}
	}
	s.waitFor(t, fmt.Sprintf("%d events", len(want)), func() bool { return len(s.events()) >= len(want) })
	seen := map[string]int{}
	var order = map[string][]string{} // topic -> data, as received
	for _, e := range s.events() {
		seen[e.Data]++
		if topic, ok := want[e.Data]; ok && !strings.Contains(topic, ",") {
			order[topic] = append(order[topic], e.Data)
		}
	}
	for data := range want {
		if seen[data] != 1 {
			t.Errorf("event %s (topic %s) received %d times, want once", data, want[data], seen[data])
		}
	}
	for data, n := range seen {
		if _, ok := want[data]; !ok {
			t.Errorf("event %s received %d times, not followed", data, n)
		}
	}
	for topic, got := range order {
		var published []string
		for _, e := range evs {
			if e.topic == topic {
				published = append(published, e.data)
			}
		}
		if !slices.Equal(got, published) {
			t.Errorf("topic %s: received %v, published %v", topic, got, published)
		}
	}
	t.Logf("%d events received over %d connections, %d followed of %d published", len(s.events()), len(s.conns), len(want), len(evs)+len(spread))
}

// TestFleetPartitionsFailover: on a three-master Cluster with a replica
// each, one master fails over to its replica (CLUSTER FAILOVER) while
// events stream in to every partition. The hubs follow the partition to
// its new master (or keep reading it from the demoted one, now a replica
// of the same shard), and
// a stream that disconnects across it resumes through the other hub with
// nothing lost, nothing repeated and no reset: a graceful failover loses
// no history.
func TestFleetPartitionsFailover(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartClusterWith(t, redistest.ClusterOptions{Replicas: 1})
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 2, partitionedClusterArgs(cluster)...)
	logStderrOnFailure(t, hubs...)
	exact := partitionTopics("part", partitionsTested)
	follows := func(topic string) bool { return slices.Contains(exact, topic) || strings.HasPrefix(topic, "pat/") }
	stay := newSubscriber("stays", "topic="+strings.Join(exact, "&topic=")+"&topic=pat/*", follows)
	stay.connect(t, hubs[0].addr)
	moves := newSubscriber("moves", "topic="+strings.Join(exact, "&topic=")+"&topic=pat/*", follows)
	moves.connect(t, hubs[0].addr)

	pub := startPublisher(t, client, hubs, slices.Concat(exact, partitionTopics("pat", partitionsTested))...)
	pub.waitCount(t, stepEvents)
	moves.waitEvents(t, 1)
	victim := cluster.Masters(t)[0]
	cluster.Failover(t, victim)
	moves.current().close()
	pub.waitCount(t, pub.count()+stepEvents)
	// As EventSource does: a hub that is still following the partition
	// to its new master refuses new streams with a stream that ends at
	// once (docs/reliability.md), and the client retries.
	for attempt := 1; ; attempt++ {
		moves.connect(t, hubs[1].addr)
		if !waitEnded(moves.current(), 300*time.Millisecond) {
			break
		}
		_, _, _, err := moves.current().retry()
		t.Logf("attempt %d to reconnect ended at once: %v, %d events", attempt, err, len(moves.current().events))
		if attempt == 20 {
			t.Fatal("the other hub refused the stream 20 times")
		}
	}
	pub.waitCount(t, pub.count()+stepEvents)
	evs := pub.finish(t)
	checkPerTopicOnce(t, stay, follows, evs, nil)
	checkPerTopicOnce(t, moves, follows, evs, nil)
	if n := len(stay.conns); n != 1 {
		t.Errorf("the stream that stayed was ended %d times, want it to stay up", n-1)
	}
	// Redis may end the subscriptions on the demoted master (the hub then
	// reconnects to the new one) or keep serving them as a replica of the
	// same shard, which gets the shard's messages in order: either way
	// the checks above hold.
	for _, h := range hubs {
		t.Logf("%s reconnected on the failover: %v", h.name, strings.Contains(h.proc.stderr.String(), "slot moved"))
	}
}

// waitEnded reports whether c ends within d.
func waitEnded(c *sseConn, d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}
