package membroker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/transport/membroker"
)

// Two trackers of one embedded broker (two hubs in one process) write
// records every reader sees; a closed tracker's records go with it.
func TestMercureSubscriptionsInMemory(t *testing.T) {
	b := membroker.New(membroker.Config{})
	defer b.Close()
	ctx := context.Background()
	ta, tb := b.TrackMercureSubscriptions(0), b.TrackMercureSubscriptions(0)
	doc := []byte(`{}`)
	if err := ta.Write(ctx, true, []broker.MercureSubscription{{ID: "/s/a/1", Doc: doc}, {ID: "/s/a/2", Doc: doc}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tb.Write(ctx, false, []broker.MercureSubscription{{ID: "/s/b/1", Doc: doc}}, []string{"/s/none"}); err != nil {
		t.Fatal(err)
	}
	count := func(prefix string) int {
		recs, err := b.MercureSubscriptions(ctx, prefix, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	if n := count("/s/"); n != 3 {
		t.Errorf("all: %d, want 3", n)
	}
	if n := count("/s/a/"); n != 2 {
		t.Errorf("/s/a/: %d, want 2", n)
	}
	if recs, _ := b.MercureSubscriptions(ctx, "/s/", 1); len(recs) != 1 {
		t.Errorf("limit 1: %d", len(recs))
	}
	if _, ok, _ := b.MercureSubscription(ctx, "/s/b/1"); !ok {
		t.Error("/s/b/1 not found")
	}
	if err := ta.Write(ctx, false, nil, []string{"/s/a/1"}); err != nil || count("/s/a/") != 1 {
		t.Errorf("after removing /s/a/1: %d, %v", count("/s/a/"), err)
	}
	if err := ta.Close(ctx); err != nil || count("/s/") != 1 {
		t.Errorf("after closing a: %d, %v", count("/s/"), err)
	}
	if err := ta.Write(ctx, false, nil, nil); !errors.Is(err, broker.ErrNotRegistered) {
		t.Errorf("write after Close = %v, want ErrNotRegistered", err)
	}
	if got, err := tb.Reap(ctx, 10); len(got) != 0 || err != nil {
		t.Errorf("Reap = %v %v, want nothing", got, err)
	}
}
