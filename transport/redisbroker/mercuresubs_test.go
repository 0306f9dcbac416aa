package redisbroker_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
)

func msub(id string) broker.MercureSubscription {
	return broker.MercureSubscription{ID: id, Doc: []byte(`{"id":"` + id + `"}`)}
}

// msubIDs lists the ids s holds under prefix, sorted.
func msubIDs(t *testing.T, s broker.MercureSubscriptionStore, prefix string) []string {
	t.Helper()
	recs, err := s.MercureSubscriptions(context.Background(), prefix, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// Records written by one hub are read by another, filtered by prefix (glob
// characters in it are literal), and go with the hub that closes.
func TestMercureSubscriptionsAcrossHubs(t *testing.T) {
	srv := redistest.Start(t)
	a := newPresenceBroker(t, srv.Client(t))
	b := newPresenceBroker(t, srv.Client(t))
	ctx := context.Background()
	ta := a.TrackMercureSubscriptions(time.Second)
	tb := b.TrackMercureSubscriptions(time.Second)
	if err := ta.Write(ctx, true, []broker.MercureSubscription{msub("/s/a/1"), msub("/s/a/2"), msub("/s/*/3")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tb.Write(ctx, true, []broker.MercureSubscription{msub("/s/b/1")}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := msubIDs(t, b, "/s/"), []string{"/s/*/3", "/s/a/1", "/s/a/2", "/s/b/1"}; !slices.Equal(got, want) {
		t.Errorf("all = %q, want %q", got, want)
	}
	if got, want := msubIDs(t, b, "/s/a/"), []string{"/s/a/1", "/s/a/2"}; !slices.Equal(got, want) {
		t.Errorf("prefix /s/a/ = %q, want %q", got, want)
	}
	if got, want := msubIDs(t, b, "/s/*/"), []string{"/s/*/3"}; !slices.Equal(got, want) {
		t.Errorf("prefix /s/*/ = %q, want %q (the * is literal)", got, want)
	}
	if r, ok, err := b.MercureSubscription(ctx, "/s/a/2"); !ok || err != nil || string(r.Doc) != `{"id":"/s/a/2"}` {
		t.Errorf("MercureSubscription(/s/a/2) = %q %v %v", r.Doc, ok, err)
	}
	if _, ok, err := b.MercureSubscription(ctx, "/s/a/9"); ok || err != nil {
		t.Errorf("MercureSubscription(/s/a/9) = %v %v, want not found", ok, err)
	}
	if recs, err := b.MercureSubscriptions(ctx, "/s/", 2); err != nil || len(recs) != 2 {
		t.Errorf("limit 2: %d records, %v", len(recs), err)
	}
	if err := ta.Write(ctx, false, nil, []string{"/s/a/1"}); err != nil {
		t.Fatal(err)
	}
	if got, want := msubIDs(t, b, "/s/a/"), []string{"/s/a/2"}; !slices.Equal(got, want) {
		t.Errorf("after removing /s/a/1: %q, want %q", got, want)
	}
	if err := ta.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := msubIDs(t, b, "/s/"), []string{"/s/b/1"}; !slices.Equal(got, want) {
		t.Errorf("after hub a closed: %q, want %q", got, want)
	}
	if err := tb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := srv.Client(t).Keys(ctx, "{ssehub}:ms:*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys after both hubs closed = %q %v, want none", keys, err)
	}
}

// A hub whose lease expires is reaped by another, which gets its records
// (to announce their end), in budgets; the dead hub's next write finds it
// is not registered.
func TestMercureSubscriptionsOfADeadHub(t *testing.T) {
	srv := redistest.Start(t)
	a := newPresenceBroker(t, srv.Client(t))
	b := newPresenceBroker(t, srv.Client(t))
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	ta := a.TrackMercureSubscriptions(ttl)
	tb := b.TrackMercureSubscriptions(ttl)
	var recs []broker.MercureSubscription
	for i := range 1200 {
		recs = append(recs, msub("/s/"+string(rune('a'+i%26))+"/"+time.Duration(i).String()))
	}
	if err := ta.Write(ctx, true, recs, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(msubIDs(t, b, "/s/")); n != 1000 {
		t.Errorf("listing 1200 records with limit 1000 gave %d", n)
	}
	if got, err := tb.Reap(ctx, 100); len(got) != 0 || err != nil {
		t.Fatalf("Reap with every lease live = %d records, %v", len(got), err)
	}
	var reaped []broker.MercureSubscription
	start := time.Now()
	testenv.WaitFor(t, "hub a reaped", func() bool {
		got, err := tb.Reap(ctx, 500)
		if err != nil {
			t.Fatal(err)
		}
		reaped = append(reaped, got...)
		return len(reaped) >= len(recs)
	})
	if took := time.Since(start); took > ttl+time.Second {
		t.Errorf("reaped after %v, want within the TTL %v plus a second", took, ttl)
	}
	if len(reaped) != len(recs) {
		t.Errorf("reaped %d records, want %d", len(reaped), len(recs))
	}
	if n := len(msubIDs(t, b, "/s/")); n != 0 {
		t.Errorf("%d records left after the reap", n)
	}
	if err := ta.Write(ctx, false, []broker.MercureSubscription{msub("/s/late")}, nil); !errors.Is(err, broker.ErrNotRegistered) {
		t.Errorf("a reaped hub's write = %v, want ErrNotRegistered", err)
	}
	if err := ta.Write(ctx, true, []broker.MercureSubscription{msub("/s/again")}, nil); err != nil {
		t.Fatal(err)
	}
	if got := msubIDs(t, b, "/s/"); !slices.Equal(got, []string{"/s/again"}) {
		t.Errorf("after registering again: %q", got)
	}
	_ = ta.Close(ctx)
	_ = tb.Close(ctx)
}
