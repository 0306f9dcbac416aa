package redisbroker

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
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
	for range 20 { // arrive together: one read
		wg.Go(func() { c.do(sel, "1-0", read) })
	}
	<-started
	// The read has started: an identical request now must not join it.
	wg.Go(func() { c.do(sel, "1-0", read) })
	wg.Go(func() { c.do(sel, "2-0", read) }) // a different request never shares
	<-started
	<-started
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 3 {
		t.Errorf("reads = %d, want 3 (one batch of 20, then two separate)", n)
	}
}
