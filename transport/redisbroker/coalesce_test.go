package redisbroker

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/testenv"
)

func TestReplayCoalescerSharesOnlyBatchesNotYetStarted(t *testing.T) {
	c := newReplayCoalescer(50 * time.Millisecond)
	sel := broker.Selection{Topics: []string{"news"}}
	var reads atomic.Int32
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	read := func() (broker.Replay, error) {
		reads.Add(1)
		started <- struct{}{}
		<-release
		return broker.Replay{}, nil
	}
	var wg sync.WaitGroup
	// Should a read not start, the test ends: the others must not wait
	// for release forever.
	finish := sync.OnceFunc(func() {
		close(release)
		testenv.WaitAll(t, "the coalesced requests", &wg)
	})
	t.Cleanup(finish)
	for range 20 { // arrive together: one read
		wg.Go(func() { c.do(sel, "1-0", read) })
	}
	testenv.Recv(t, "the read of the first batch to start", started)
	// The read has started: an identical request now must not join it.
	wg.Go(func() { c.do(sel, "1-0", read) })
	wg.Go(func() { c.do(sel, "2-0", read) }) // a different request never shares
	testenv.Recv(t, "a second read to start", started)
	testenv.Recv(t, "a third read to start", started)
	finish()
	if n := reads.Load(); n != 3 {
		t.Errorf("reads = %d, want 3 (one batch of 20, then two separate)", n)
	}
}
