package hub_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
)

// TestDrainRetiresStreamsOverTheWindow: draining refuses new streams and
// reports not ready at once, keeps publishing, and ends the open streams
// with their goodbye one after another across the window.
func TestDrainRetiresStreamsOverTheWindow(t *testing.T) {
	const n, window = 8, 800 * time.Millisecond
	h := newHub(t, 4)
	type result struct {
		got string
		at  time.Time
	}
	results := make([]result, n)
	var readers sync.WaitGroup
	for i := range n {
		c := openStream(t, h, "")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		readers.Go(func() {
			got, _ := io.ReadAll(c)
			results[i] = result{string(got), time.Now()}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	drained := make(chan error, 1)
	go func() { drained <- h.Drain(ctx, window, func() []byte { return []byte("bye") }) }()
	waitDraining(t, h)
	if err := h.Stream(nil, hub.StreamRequest{}); !errors.Is(err, hub.ErrDraining) {
		t.Errorf("Stream while draining = %v, want %v", err, hub.ErrDraining)
	}
	if _, err := h.Publish(ctx, []hub.Publication{{Topics: []string{"t"}, Data: []byte("x")}}, hub.Idempotency{}); err != nil {
		t.Errorf("Publish while draining = %v, want it to work", err)
	}
	if err := testenv.Recv(t, "Drain to return", drained); err != nil {
		t.Fatalf("Drain = %v, want nil", err)
	}
	took := time.Since(start)
	readers.Wait()

	var ends []time.Duration
	for i, r := range results {
		// The event published while draining may come before the goodbye.
		if r.got != "bye" && !(strings.HasPrefix(r.got, "id: ") && strings.HasSuffix(r.got, "\ndata: x\n\nbye")) {
			t.Errorf("stream %d received %q, want the goodbye last", i, r.got)
		}
		ends = append(ends, r.at.Sub(start))
	}
	slices.Sort(ends)
	// Due at 1/16, 3/16, ... 15/16 of the window: 700ms from first to last.
	if spread := ends[n-1] - ends[0]; spread < window/2 || ends[n-1] > window+time.Second {
		t.Errorf("streams ended at %v after Drain began, want them spread over %v", ends, window)
	}
	if took < ends[n-1]-10*time.Millisecond {
		t.Errorf("Drain returned after %v, before its last stream ended (%v)", took, ends[n-1])
	}
	var drainedCount uint64
	for _, st := range h.Stats() {
		drainedCount += st.Ended[shard.ReasonDrained]
	}
	if drainedCount != n {
		t.Errorf("streams ended as drained = %d, want %d", drainedCount, n)
	}
	t.Logf("%d streams ended at %v; Drain returned after %v", n, ends, took)
}

// TestDrainWithNoStreamsReturnsAtOnce: nothing to wait for.
func TestDrainWithNoStreamsReturnsAtOnce(t *testing.T) {
	h := newHub(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.Drain(ctx, time.Hour, func() []byte { return nil }); err != nil {
		t.Fatalf("Drain with no streams = %v, want nil within a second", err)
	}
	if err := h.Ready(ctx); !errors.Is(err, hub.ErrDraining) {
		t.Errorf("Ready after Drain = %v, want %v", err, hub.ErrDraining)
	}
}

// TestDrainStopsAtItsDeadline: Drain gives up with ctx's error; Shutdown
// then ends what is left.
func TestDrainStopsAtItsDeadline(t *testing.T) {
	h := newHub(t, 1)
	c := openStream(t, h, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Drain(ctx, time.Hour, func() []byte { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain over an hour with a 50ms deadline = %v, want %v", err, context.DeadlineExceeded)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("stream read after Drain gave up = %v, want it still open (a timeout)", err)
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// waitDraining waits until Ready reports the drain.
func waitDraining(t *testing.T, h *hub.Hub) {
	t.Helper()
	testenv.WaitFor(t, "Ready to report ErrDraining", func() bool {
		return errors.Is(h.Ready(context.Background()), hub.ErrDraining)
	})
}
