package redisbroker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
)

// The faults a second review of the move found, each reproduced before
// its fix (docs/fleet-design.md#moving-a-running-fleet-to-partitions).

// TestShardedGapFillReadsOnlyItsPartition: on a Cluster, within a history
// TTL of a switch, a reconnect of one partition's connection reads that
// partition's gap only: the rule that reads an unobserved partition from
// its origin is for the classic connections of hubs that started moving,
// not for a sharded connection, which knows nothing of the others (and
// must not touch their positions, which their own goroutines own).
func TestShardedGapFillReadsOnlyItsPartition(t *testing.T) {
	rc := redistest.StartCluster(t).Client(t)
	ctx := context.Background()
	topics := topicsInPartitions("t", 3, 3)
	// A fleet that switched just now.
	part0 := newPartitions("ssehub", 1)[0]
	if err := rc.Set(ctx, part0.tag+layoutKeySuffix, "3 "+strconv.FormatInt(time.Now().UnixMilli(), 10), 0).Err(); err != nil {
		t.Fatal(err)
	}
	b := newTestBroker(t, rc, 3)
	if !b.sharded || b.layoutNow().phase != layoutAgreed {
		t.Fatalf("sharded %v phase %d", b.sharded, b.layoutNow().phase)
	}
	// History in partitions 1 and 2, from before anyone listens.
	var old []broker.Publication
	for i := range 200 {
		old = append(old, brokertest.Pub(fmt.Sprint("old", i), topics[1+i%2]))
	}
	if _, err := b.Publish(ctx, old, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	heard, _ := brokertest.Listen(t, b, "t/*")
	if _, err := b.Publish(ctx, []broker.Publication{brokertest.Pub("live", topics[0])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	awaitData(t, heard, "pattern stream", "live")
	before := b.stats.gapMessages.Load()
	// Partition 0's connection reconnects (a blip, a failover of that
	// master, a refused pattern word...): it missed nothing.
	for _, c := range b.allConnsOpen() {
		if c.part != nil && c.part.index == 0 {
			c.resyncSoon()
		}
	}
	testenv.WaitFor(t, "the gap fill", func() bool { return b.stats.gapFills.Load() > 0 })
	time.Sleep(200 * time.Millisecond)
	if n := b.stats.gapMessages.Load() - before; n > 0 {
		t.Errorf("partition 0's connection missed nothing, and its gap fill read %d events of partitions 1 and 2 from their origin", n)
	}
}

// TestStaleLayoutReadKeepsTheHubAgreed: a poll of the record that read
// "1" just before the switch, and is slow to answer, is not applied after
// a publish refused for the switch made the hub agreed: reads and their
// verdicts apply in order, and the hub keeps its streams.
func TestStaleLayoutReadKeepsTheHubAgreed(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	topics := topicsInPartitions("t", 3, 3)
	one := newTestBroker(t, rc, 1)
	if _, err := one.Publish(ctx, []broker.Publication{brokertest.Pub("a", topics[0])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	mc := srv.Client(t) // the moving hub's own client
	hook := &delayLayoutRead{key: newPartitions("ssehub", 1)[0].tag + layoutKeySuffix, read: make(chan struct{})}
	mc.AddHook(hook)
	moving := newTestBroker(t, mc, 3)
	if moving.layoutNow().phase != layoutMoving {
		t.Fatal("not moving")
	}
	heard, _ := brokertest.Listen(t, moving, topics[0])
	hook.armed.Store(true)
	<-hook.read // the poll read "1" and is slow to come back (scheduling, a slow network)
	if _, err := SwitchLayout(ctx, rc, "", 3); err != nil {
		t.Fatal(err)
	}
	// A publish is refused for the switch, reads the record and goes on
	// partitioned: the hub is agreed.
	if _, err := moving.Publish(ctx, []broker.Publication{brokertest.Pub("x", topics[1])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	if moving.layoutNow().phase != layoutAgreed {
		t.Fatalf("phase %d after the refused publish", moving.layoutNow().phase)
	}
	time.Sleep(600 * time.Millisecond) // the poll's stale "1" lands
	if p := moving.layoutNow().phase; p != layoutAgreed || heard.LostCalls() > 0 {
		_, perr := moving.Publish(ctx, []broker.Publication{brokertest.Pub("y", topics[1])}, broker.Idempotency{})
		t.Errorf("a stale read of the record applied after the switch: phase %d (refused=%d), streams ended %d times, publish: %v",
			p, layoutRefused, heard.LostCalls(), perr)
	}
}

type delayLayoutRead struct {
	key   string
	armed atomic.Bool
	read  chan struct{}
}

func (h *delayLayoutRead) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *delayLayoutRead) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		args := cmd.Args()
		if len(args) > 1 && strings.EqualFold(fmt.Sprint(args[0]), "set") && args[1] == h.key && h.armed.CompareAndSwap(true, false) {
			close(h.read)
			time.Sleep(300 * time.Millisecond)
		}
		return err
	}
}

func (h *delayLayoutRead) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestPlainIDOnAFleetThatNeverMoved: on a fleet founded with 3
// partitions, a shard whose cursor observed partition 0 alone sends a
// plain id (AppendStreamID); a resume reads it as that cursor, other
// partitions after its time, not as an id of the single slot, other
// partitions from their origin (docs/fleet-design.md#cursors).
func TestPlainIDOnAFleetThatNeverMoved(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	ctx := context.Background()
	topics := topicsInPartitions("t", 3, 3)
	b := newTestBroker(t, rc, 3)
	if r := b.layoutNow().record; r.partitions != 3 || r.switched != 0 {
		t.Fatalf("record %v", r)
	}
	if _, err := b.Publish(ctx, []broker.Publication{brokertest.Pub("old", topics[2])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	heard, _ := brokertest.Listen(t, b, topics[0])
	if _, err := b.Publish(ctx, []broker.Publication{brokertest.Pub("y", topics[0])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	awaitData(t, heard, "stream", "y")
	cur := make(eventid.Cursor, 3)
	cur[0] = heard.Messages()[0].ID
	sel := broker.Selection{Topics: []string{topics[0], topics[2]}}
	asCursor, err := b.Replay(ctx, sel, cur.String())
	if err != nil {
		t.Fatal(err)
	}
	asSent, err := b.Replay(ctx, sel, cur.StreamID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the stream's id as sent: %q; as a cursor: %q", cur.StreamID(), cur.String())
	if a, s := replayData(asCursor), replayData(asSent); len(a) != len(s) {
		t.Errorf("one shard state, two answers: resumed from the id the stream was sent: %q; from the same cursor in cursor form: %q", s, a)
	}
}
