package redisbroker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
)

func TestParseLayoutRecord(t *testing.T) {
	for _, tt := range []struct {
		rec     string
		want    layoutRecord
		wantErr bool
	}{
		{rec: "1", want: layoutRecord{partitions: 1}},
		{rec: "3", want: layoutRecord{partitions: 3}},
		{rec: "3 1796279163228", want: layoutRecord{partitions: 3, switched: 1796279163228}},
		{rec: "3 1796279163228 finished", want: layoutRecord{partitions: 3, switched: 1796279163228, finished: true}},
		{rec: "256", want: layoutRecord{partitions: 256}},
		{rec: "0", wantErr: true},
		{rec: "257", wantErr: true},
		{rec: "-1", wantErr: true},
		{rec: "", wantErr: true},
		{rec: "x", wantErr: true},
		{rec: " 3", wantErr: true},
		{rec: "3 ", wantErr: true},
		{rec: "3 x", wantErr: true},
		{rec: "3 0", wantErr: true},
		{rec: "3 1 2", wantErr: true},
		{rec: "3 1 finished ", wantErr: true},
		{rec: "3 1 finished x", wantErr: true},
	} {
		got, err := parseLayoutRecord(tt.rec)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseLayoutRecord(%q) = %+v, %v; want %+v, error %v", tt.rec, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != tt.rec {
			t.Errorf("parseLayoutRecord(%q).String() = %q", tt.rec, got.String())
		}
	}
}

// FuzzParseLayoutRecord: a record from Redis is read without panicking,
// and one that parses is written back the same.
func FuzzParseLayoutRecord(f *testing.F) {
	for _, s := range []string{"1", "3 1796279163228", "3 1796279163228 finished", "", "3  1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := parseLayoutRecord(s); err == nil && r.String() != s {
			t.Errorf("parseLayoutRecord(%q) = %+v, written back as %q", s, r, r.String())
		}
	})
}

// TestMoveToPartitions walks a fleet of the single slot through its move
// to 3 partitions (docs/fleet-design.md#moving-a-running-fleet-to-partitions),
// on a standalone Redis and on a 3-master Cluster:
//   - a hub with 3 partitions joins it moving: it publishes in the single
//     slot, and its subscribers hear the events of hubs still at one
//     partition, all as partition 0's, one copy each;
//   - after SwitchLayout it publishes partitioned at once (its next publish
//     is refused by Redis for the switch, and runs again partitioned),
//     and its subscribers hear every partition, on a Cluster through the
//     classic copies a shard channel's publish also makes for them, until
//     the move is finished, which waits for it to be restarted;
//   - a hub still at one partition is refused from then on;
//   - a hub started after the switch resumes a single-slot id exactly,
//     each topic's events of the single slot before those of its
//     partition.
func TestMoveToPartitions(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		testMoveToPartitions(t, redistest.Start(t).Client(t))
	})
	t.Run("cluster", func(t *testing.T) {
		testMoveToPartitions(t, redistest.StartCluster(t).Client(t))
	})
}

func testMoveToPartitions(t *testing.T, rc redis.UniversalClient) {
	ctx := context.Background()
	topics := topicsInPartitions("t", 3, 3)
	newBroker := func(n int) *Broker {
		t.Helper()
		b, err := New(ctx, Config{Client: rc, Partitions: n})
		if err != nil {
			t.Fatalf("New with %d partitions: %v", n, err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	publish := func(b *Broker, data string, topics ...string) eventid.ID {
		t.Helper()
		ids, err := b.Publish(ctx, []broker.Publication{brokertest.Pub(data, topics...)}, broker.Idempotency{})
		if err != nil {
			t.Fatalf("publish %q: %v", data, err)
		}
		return ids[0]
	}
	one := newBroker(1)
	first := publish(one, "a", topics[2])
	oneHeard, _ := brokertest.Listen(t, one, topics[2])

	three := newBroker(3)
	if got := three.layoutNow().phase; got != layoutMoving {
		t.Fatalf("a hub of 3 on a fleet of the single slot is in phase %d, want moving", got)
	}
	if err := three.Ping(ctx); err != nil {
		t.Fatalf("a moving hub is not ready: %v", err)
	}
	heard, _ := brokertest.Listen(t, three, topics...)
	// Partition 0's ids run a minute ahead from here, as after its clock
	// stepped back: the partitions' first ids, from other clocks, are
	// older than its last ones, and a topic's events must still resume in
	// order across the switch (pager.precedes).
	ahead := eventid.ID{Time: uint64(time.Now().Add(time.Minute).UnixMilli())}
	if err := rc.Set(ctx, three.parts[0].last, ahead.String(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	publish(three, "b", topics[1])
	publish(one, "c", topics[2])
	// A batch of two chunks, with a key, to retry across the switch.
	batch := slices.Repeat([]broker.Publication{brokertest.Pub("k", topics[1])}, publishChunk+1)
	key := broker.Idempotency{Key: "across-the-switch", Digest: "d1"}
	batchIDs, err := three.Publish(ctx, batch, key)
	if err != nil {
		t.Fatal(err)
	}
	awaitData(t, heard, "a moving hub's subscriber, before the switch", "b", "c", "k")
	for _, m := range heard.Messages() {
		if m.Partition != 0 || m.Spread != nil {
			t.Errorf("before the switch, %s came as partition %d, spread %v; want partition 0's only copy", m.Topics, m.Partition, m.Spread)
		}
	}

	if l, err := SwitchLayout(ctx, rc, "", 3); err != nil || l.Partitions != 3 || l.Switched.IsZero() {
		t.Fatalf("SwitchLayout = %+v, %v", l, err)
	}
	if again, err := SwitchLayout(ctx, rc, "", 3); err != nil || again.Partitions != 3 {
		t.Errorf("SwitchLayout again to the same count = %+v, %v; want it left as it is", again, err)
	}
	if _, err := SwitchLayout(ctx, rc, "", 4); !errors.Is(err, ErrLayoutMismatch) {
		t.Errorf("SwitchLayout of a switched fleet to another count: %v, want ErrLayoutMismatch", err)
	}
	// A retry of a batch published before the switch answers its ids and
	// publishes nothing, however its chunks fall around the switch.
	if again, err := three.Publish(ctx, batch, key); err != nil || !slices.Equal(again, batchIDs) {
		t.Errorf("a retry across the switch = %v ids (first %v), %v; want the first publish's", len(again), again[:min(1, len(again))], err)
	}
	// three has not polled yet: Redis refuses its single-slot publish, and
	// it publishes partitioned.
	publish(three, "d", topics[2], topics[0])
	if got := three.layoutNow(); got.phase != layoutAgreed || got.record.switched == 0 {
		t.Errorf("after a publish refused for the switch, the hub's layout is %+v, want agreed and switched", got)
	}
	if _, err := one.Publish(ctx, []broker.Publication{brokertest.Pub("refused", topics[2])}, broker.Idempotency{}); !errors.Is(err, ErrLayoutMismatch) {
		t.Errorf("a hub of one partition publishing on the switched fleet: %v, want ErrLayoutMismatch", err)
	}
	if err := one.Ping(ctx); !errors.Is(err, ErrLayoutMismatch) {
		t.Errorf("a hub of one partition on the switched fleet is ready (%v), want ErrLayoutMismatch", err)
	}
	if !one.Down() || oneHeard.LostCalls() == 0 {
		t.Errorf("a hub of one partition on the switched fleet: Down %v, Lost called %d times; want it to end its streams and take no new ones",
			one.Down(), oneHeard.LostCalls())
	}

	fresh := newBroker(3)
	publish(fresh, "e", topics[1])
	awaitData(t, heard, "the moving hub's subscriber, after the switch", "b", "c", "k", "d", "e")
	// d's copies travel on two partitions' channels (on a Cluster, the
	// copy of partition 2 over the Cluster bus to partition 0's master),
	// so either may come after e: wait for the count, then check it is
	// not more.
	wantHeard := 4 + len(batch) + 1
	testenv.WaitFor(t, "the moving hub's subscriber to hear d's two copies", func() bool { return len(heard.Messages()) >= wantHeard })
	time.Sleep(100 * time.Millisecond)
	var copies []int
	for _, m := range heard.Messages() {
		if frameData(m.Frame) == "d" {
			copies = append(copies, m.Partition)
		}
	}
	if slices.Sort(copies); !slices.Equal(copies, []int{0, 2}) {
		t.Errorf("the event to partitions 2 and 0 came as copies of partitions %v, want [0 2]", copies)
	}

	if n := len(heard.Messages()); n != wantHeard {
		t.Errorf("the moving hub's subscriber got %d messages, want %d: b, c, the batch once, d's two copies and e", n, wantHeard)
	}
	sel := broker.Selection{Topics: topics[1:]}
	r, err := fresh.Replay(ctx, sel, first.String())
	if err != nil || r.Reset != nil {
		t.Fatalf("a resume from a single-slot id on a hub started after the switch: reset %v, %v", r.Reset != nil, err)
	}
	want := slices.Concat([]string{"b", "c"}, slices.Repeat([]string{"k"}, len(batch)), []string{"d", "e"})
	if got := replayData(r); !slices.Equal(got, want) {
		t.Errorf("resumed %q, want %q: everything after the id, the single slot's first", got, want)
	}

	// Finishing the move: refused while a hub listens on classic
	// channels (on a Cluster, three does until it is restarted); a hub
	// that does once it is finished ends its streams and is refused.
	_, err = FinishLayout(ctx, rc, "")
	if three.classic != errors.Is(err, ErrLayoutMismatch) {
		t.Fatalf("FinishLayout with a hub listening on classic channels %v: %v", three.classic, err)
	}
	if three.classic {
		rc.Set(ctx, three.parts[0].tag+layoutKeySuffix, layoutRecord{partitions: 3, switched: 1, finished: true}.String(), 0)
		if err := three.readLayout(ctx); !errors.Is(err, ErrLayoutMismatch) || heard.LostCalls() == 0 {
			t.Errorf("a hub listening on classic channels on a finished move: %v, Lost called %d times; want refused, its streams ended", err, heard.LostCalls())
		}
	}
}

// awaitData waits until r has received events with each of data, in any
// order, and fails if it received another.
func awaitData(t *testing.T, r *brokertest.Recorder, who string, data ...string) {
	t.Helper()
	testenv.WaitFor(t, who+" to hear "+strings.Join(data, " "), func() bool {
		got := map[string]bool{}
		for _, m := range r.Messages() {
			got[frameData(m.Frame)] = true
		}
		for _, d := range data {
			if !got[d] {
				return false
			}
		}
		return len(got) == len(data)
	})
}

// replayData is the data of each of r's messages.
func replayData(r broker.Replay) []string {
	var out []string
	for _, m := range r.Messages {
		out = append(out, frameData(m.Body))
	}
	return out
}

// frameData is the data of an event's frame (or of its body, on a
// partitioned broker).
func frameData(frame []byte) string {
	for _, line := range strings.Split(string(frame), "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			return data
		}
	}
	return ""
}

// TestLayoutRecordKept: a record Redis lost (restarted empty, flushed) is
// written again by the hubs as they knew it, so that a hub started next
// joins the fleet's phase rather than founding another; one that cannot
// be read refuses the hub.
func TestLayoutRecordKept(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	key := "{ssehub}" + layoutKeySuffix
	if err := rc.Set(ctx, "{ssehub}:last", "1-0", 0).Err(); err != nil { // a fleet of the single slot, from before the record
		t.Fatal(err)
	}
	moving, err := New(ctx, Config{Client: rc, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer moving.Close()
	if got := moving.layoutNow().phase; got != layoutMoving {
		t.Fatalf("a hub of 3 on a fleet with single-slot events and no record: phase %d, want moving", got)
	}
	rc.FlushAll(ctx)
	if err := moving.readLayout(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := rc.Get(ctx, key).Result(); rec != "1" || moving.layoutNow().phase != layoutMoving {
		t.Errorf("after Redis lost the record, a moving hub wrote %q and is in phase %d; want \"1\", moving", rec, moving.layoutNow().phase)
	}
	if _, err := SwitchLayout(ctx, rc, "", 3); err != nil {
		t.Fatal(err)
	}
	if err := moving.readLayout(ctx); err != nil {
		t.Fatal(err)
	}
	switched, _ := rc.Get(ctx, key).Result()
	rc.FlushAll(ctx)
	if err := moving.readLayout(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := rc.Get(ctx, key).Result(); rec != switched {
		t.Errorf("after Redis lost the switched record %q, the hub wrote %q", switched, rec)
	}

	rc.Set(ctx, key, "three", 0)
	_, err = New(ctx, Config{Client: rc, Partitions: 3})
	if !errors.Is(err, ErrLayoutMismatch) || !strings.Contains(err.Error(), `"three"`) {
		t.Errorf("a hub on an unreadable record: %v, want ErrLayoutMismatch quoting it", err)
	}
}
