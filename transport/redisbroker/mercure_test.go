package redisbroker

import (
	"context"
	"errors"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
)

// TestMercureUpdatesOnACluster: on a Redis Cluster a Mercure update
// publishes, reaches a subscriber and its publisher's id resolves (the
// script declares the id's key as Cluster asks, though Redis 7 does not
// refuse an undeclared key of the script's own slot, so this does not
// check the declaration); a partitioned broker refuses Mercure updates,
// which would lose their ids to the shards' cursors
// (docs/mercure-design.md).
func TestMercureUpdatesOnACluster(t *testing.T) {
	ctx := context.Background()
	rc := redistest.StartCluster(t).Client(t)
	b, err := New(ctx, Config{Client: rc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	heard, _ := brokertest.Listen(t, b, "@m/a")
	update := broker.Publication{Topics: []string{"@m/a"}, Data: []byte("x"),
		Mercure: &broker.Mercure{Topics: []string{"a"}, ID: "urn:uuid:42"}}
	ids, err := b.Publish(ctx, []broker.Publication{update}, broker.Idempotency{})
	if err != nil {
		t.Fatalf("publishing a Mercure update on a Cluster: %v", err)
	}
	testenv.WaitFor(t, "the update", func() bool { return len(heard.Messages()) == 1 })
	if m := heard.Messages()[0]; m.Mercure == nil || m.Mercure.ID != "urn:uuid:42" {
		t.Errorf("the update came with metadata %+v", m.Mercure)
	}
	if id, ok, err := b.LookupPublisherID(ctx, "urn:uuid:42"); err != nil || !ok || id != ids[0] {
		t.Errorf("LookupPublisherID = %v, %v, %v; want %v", id, ok, err, ids[0])
	}

	partitioned, err := New(ctx, Config{Client: redistest.Start(t).Client(t), Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { partitioned.Close() })
	if _, err := partitioned.Publish(ctx, []broker.Publication{update}, broker.Idempotency{}); !errors.Is(err, errMercurePartitioned) {
		t.Errorf("a Mercure update on a partitioned broker: %v, want errMercurePartitioned", err)
	}
}
