package redisbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// congestionWatcher records what a broker tells its hub of the others.
type congestionWatcher chan bool

func (w congestionWatcher) others(congested bool) { w <- congested }

// expect waits for the next report and checks it.
func (w congestionWatcher) expect(t *testing.T, what string, want bool) {
	t.Helper()
	if got := testenv.Recv(t, what, w); got != want {
		t.Fatalf("%s: told others congested = %v, want %v", what, got, want)
	}
}

// expectNone checks that no report comes within d.
func (w congestionWatcher) expectNone(t *testing.T, what string, d time.Duration) {
	t.Helper()
	select {
	case got := <-w:
		t.Fatalf("%s: told others congested = %v, want no report", what, got)
	case <-time.After(d):
	}
}

// Two hubs on one Redis: each hears when the other becomes congested and
// when it is relieved, never of itself; a hub that closes while congested
// takes its record with it.
func TestCongestionIsSharedAcrossTheFleet(t *testing.T) {
	srv := redistest.Start(t)
	newBroker := func() (*redisbroker.Broker, congestionWatcher, func(bool)) {
		b, err := redisbroker.New(context.Background(), redisbroker.Config{
			Client: srv.Client(t), CongestionPoll: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		w := make(congestionWatcher, 8)
		self := b.ShareCongestion(w.others)
		return b, w, self
	}
	a, aHears, aSelf := newBroker()
	b, bHears, bSelf := newBroker()
	defer b.Close()

	aSelf(true)
	bHears.expect(t, "b, as a becomes congested", true)
	aHears.expectNone(t, "a, of its own congestion", 200*time.Millisecond)
	if !b.Stats().OthersCongested || a.Stats().OthersCongested {
		t.Errorf("OthersCongested: a %v, b %v; want false, true", a.Stats().OthersCongested, b.Stats().OthersCongested)
	}
	aSelf(false)
	bHears.expect(t, "b, as a is relieved", false)

	bSelf(true)
	aHears.expect(t, "a, as b becomes congested", true)
	bSelf(false)
	aHears.expect(t, "a, as b is relieved", false)

	aSelf(true)
	bHears.expect(t, "b, as a becomes congested again", true)
	a.Close()
	bHears.expect(t, "b, as a closes while congested", false)
}

// A hub killed while congested cannot withdraw its record: it expires, and
// the others stop holding publishes back within its lifetime.
func TestCongestionOfAVanishedHubExpires(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: rc, CongestionPoll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	hears := make(congestionWatcher, 8)
	b.ShareCongestion(hears.others)

	// The record a congested hub leaves behind as it is killed with -9.
	expiry := time.Now().Add(500 * time.Millisecond).UnixMilli()
	if err := rc.ZAdd(context.Background(), "{ssehub}:congested", redis.Z{Score: float64(expiry), Member: "vanished"}).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	hears.expect(t, "the vanished hub's congestion", true)
	hears.expect(t, "the vanished hub's record expiring", false)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("held back for %s by a record that expires after 500ms", d)
	}
}
