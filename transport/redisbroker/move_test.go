package redisbroker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
)

// The faults of a fleet's move to partitions that a review found
// (docs/fleet-design.md#moving-a-running-fleet-to-partitions), each
// reproduced before its fix.

// movingFleet is a fleet of the single slot with an event, and a hub of 3
// partitions that joined it moving.
func movingFleet(t *testing.T, rc redis.UniversalClient) (topics []string, moving *Broker) {
	t.Helper()
	ctx := context.Background()
	topics = topicsInPartitions("t", 3, 3)
	one := newTestBroker(t, rc, 1)
	if _, err := one.Publish(ctx, []broker.Publication{brokertest.Pub("a", topics[0])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	moving = newTestBroker(t, rc, 3)
	if moving.layoutNow().phase != layoutMoving {
		t.Fatal("the hub of 3 partitions is not moving")
	}
	return topics, moving
}

func newTestBroker(t *testing.T, rc redis.UniversalClient, n int) *Broker {
	t.Helper()
	b, err := New(context.Background(), Config{Client: rc, Partitions: n})
	if err != nil {
		t.Fatalf("New with %d partitions: %v", n, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// awaitPhase waits until b's layout phase is want (it reads the record
// each layoutPoll).
func awaitPhase(t *testing.T, b *Broker, want layoutPhase) {
	t.Helper()
	testenv.WaitFor(t, "the hub's layout phase", func() bool { return b.layoutNow().phase == want })
}

// TestRetryAcrossTheSwitch: a keyed batch published in the single slot
// before the switch, retried after it through a hub that publishes
// partitioned, is answered with its ids and publishes nothing again; a
// retry that holds events the first publish did not record (its first
// chunk only, here) answers those it recorded and publishes the others.
func TestRetryAcrossTheSwitch(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	ctx := context.Background()
	topics, moving := movingFleet(t, rc)
	batch := []broker.Publication{brokertest.Pub("k0", topics[0]), brokertest.Pub("k1", topics[1])}
	key := broker.Idempotency{Key: "retry", Digest: "d1"}
	ids, err := moving.Publish(ctx, batch, key)
	if err != nil {
		t.Fatal(err)
	}
	long := slices.Repeat([]broker.Publication{brokertest.Pub("l", topics[2])}, publishChunk+1)
	longKey := broker.Idempotency{Key: "long", Digest: "d2"}
	firstChunk, err := moving.Publish(ctx, long[:publishChunk], longKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SwitchLayout(ctx, rc, "", 3); err != nil {
		t.Fatal(err)
	}
	fresh := newTestBroker(t, rc, 3)
	awaitPhase(t, moving, layoutAgreed)
	for _, b := range []*Broker{fresh, moving} {
		again, err := b.Publish(ctx, batch, key)
		if err != nil || !slices.Equal(again, ids) {
			t.Errorf("a retry after the switch = %v, %v; want the first publish's %v", again, err, ids)
		}
	}
	if n, _ := rc.XLen(ctx, fresh.parts[1].stream+topics[1]).Result(); n != 0 {
		t.Errorf("the retries published %d events again in partition 1", n)
	}
	got, err := fresh.Publish(ctx, long, longKey)
	if err != nil || !slices.Equal(got[:publishChunk], firstChunk) {
		t.Fatalf("a longer retry after the switch: %v; its first chunk's ids differ from the first publish's", err)
	}
	if n, _ := rc.XLen(ctx, fresh.parts[2].stream+topics[2]).Result(); n != 1 {
		t.Errorf("the longer retry published %d events in partition 2, want the 1 not recorded before", n)
	}
	if _, err := fresh.Publish(ctx, batch, broker.Idempotency{Key: "retry", Digest: "other"}); !errors.Is(err, broker.ErrIdempotencyMismatch) {
		t.Errorf("the key reused for another body after the switch: %v, want ErrIdempotencyMismatch", err)
	}
}

// TestGapFillAfterTheSwitch: a hub that started while its fleet moved took
// no heads of the partitions other than 0. After the switch, events to
// one of them published while its pub/sub connection is down come from
// history, though it had heard nothing there before.
func TestGapFillAfterTheSwitch(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	ctx := context.Background()
	topics, moving := movingFleet(t, rc)
	heard, _ := brokertest.Listen(t, moving, topics[0], topics[2])
	if _, err := SwitchLayout(ctx, rc, "", 3); err != nil {
		t.Fatal(err)
	}
	awaitPhase(t, moving, layoutAgreed)
	fresh := newTestBroker(t, rc, 3)
	killPubSub(t, rc)
	if _, err := fresh.Publish(ctx, []broker.Publication{brokertest.Pub("during", topics[2])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the gap fill", func() bool { return moving.stats.gapFills.Load() > 0 })
	if _, err := fresh.Publish(ctx, []broker.Publication{brokertest.Pub("after", topics[2])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	awaitData(t, heard, "the moving hub's subscriber", "during", "after")
}

// killPubSub ends every pub/sub connection of a standalone Redis.
func killPubSub(t *testing.T, rc redis.UniversalClient) {
	t.Helper()
	if err := rc.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
}

// TestCursorWithoutPartition0: a stream that started after the switch
// and follows a topic of another partition resumes with nothing from
// before it connected, though partition 0 still holds the topic's events
// of the single slot.
func TestCursorWithoutPartition0(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	ctx := context.Background()
	topics, moving := movingFleet(t, rc)
	if _, err := moving.Publish(ctx, []broker.Publication{brokertest.Pub("old", topics[2])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	if _, err := SwitchLayout(ctx, rc, "", 3); err != nil {
		t.Fatal(err)
	}
	fresh := newTestBroker(t, rc, 3)
	heard, _ := brokertest.Listen(t, fresh, topics[2])
	if _, err := fresh.Publish(ctx, []broker.Publication{brokertest.Pub("new", topics[2])}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	awaitData(t, heard, "a hub started after the switch", "new")
	cur := make(eventid.Cursor, 3)
	cur[2] = heard.Messages()[0].ID
	r, err := fresh.Replay(ctx, broker.Selection{Topics: topics[2:3]}, cur.StreamID())
	if err != nil || r.Reset != nil {
		t.Fatalf("resume: reset %v, %v", r.Reset != nil, err)
	}
	if got := replayData(r); len(got) > 0 {
		t.Errorf("a stream that started after the switch resumed with %q, from before it connected", got)
	}
}

// TestRecordLostWhileMoving: Redis loses its data during the move, and a
// hub restarted then joins the fleet moving, as the hubs that were moving
// write the record back, rather than founding a fleet of partitions that
// the others do not hear.
func TestRecordLostWhileMoving(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	ctx := context.Background()
	_, moving := movingFleet(t, rc)
	// Past the hubs' first reading of the record, which they make as
	// they start: the next is a layoutPoll away.
	time.Sleep(layoutPoll / 10)
	rc.FlushAll(ctx)
	start := time.Now()
	next := newTestBroker(t, rc, 3)
	if next.layoutNow().phase != layoutMoving || moving.layoutNow().phase != layoutMoving {
		t.Errorf("after Redis lost the record mid-move, a hub started %v later is in phase %d and the moving one in %d; want both moving",
			time.Since(start), next.layoutNow().phase, moving.layoutNow().phase)
	}
}

// TestFreshFleetStartedBeforeRedis: the first hub of a new fleet of
// partitions, started while Redis is away, records its count once Redis
// answers, and is ready, though it looks twice before founding the fleet
// (checkLayout) and its watch polls more often than that takes.
func TestFreshFleetStartedBeforeRedis(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	b := newTestBroker(t, srv.Client(t), 3)
	srv.Restart()
	// Without asking (Ping checks too): the hub's own watch does it.
	awaitPhase(t, b, layoutAgreed)
	if rec, err := srv.Client(t).Get(context.Background(), "{ssehub}"+layoutKeySuffix).Result(); err != nil || rec != "3" {
		t.Errorf("the record is %q (%v), want \"3\"", rec, err)
	}
}
