package hub

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testenv"
)

func newTestGate(wait time.Duration) (*gate, *testenv.Buffer) {
	var logs testenv.Buffer
	return newGate(wait, slog.New(slog.NewTextHandler(&logs, nil))), &logs
}

func TestGateAdmitsAtOnceWhileOpen(t *testing.T) {
	g, _ := newTestGate(time.Hour)
	if err := g.admit(context.Background()); err != nil {
		t.Fatalf("admit on an open gate: %v", err)
	}
	if st := g.stats(); st.Refused != 0 || st.Waits != [len(WaitBuckets) + 1]uint64{} {
		t.Errorf("stats = %+v after a publish that did not wait, want none counted", st)
	}
}

func TestGateAdmitsWhenTheLastShardIsRelieved(t *testing.T) {
	g, _ := newTestGate(time.Hour)
	g.set(true)
	g.set(true) // two shards congested
	admitted := make(chan error, 1)
	go func() { admitted <- g.admit(context.Background()) }()
	g.set(false)
	select {
	case err := <-admitted:
		t.Fatalf("admitted (%v) while a shard is still congested", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.set(false)
	if err := <-admitted; err != nil {
		t.Fatalf("admit once every shard was relieved: %v", err)
	}
	st := g.stats()
	var waits uint64
	for _, n := range st.Waits {
		waits += n
	}
	if waits != 1 || st.WaitTime < 50*time.Millisecond || st.Refused != 0 {
		t.Errorf("stats = %+v, want one wait of at least 50ms and no refusal", st)
	}
}

func TestGateRefusesAfterTheWaitAndLogsOncePerEpisode(t *testing.T) {
	g, logs := newTestGate(20 * time.Millisecond)
	g.set(true)
	for range 3 {
		start := time.Now()
		err := g.admit(context.Background())
		if !errors.Is(err, ErrOverloaded) {
			t.Fatalf("admit on a gate closed for good: %v, want ErrOverloaded", err)
		}
		if d := time.Since(start); d < 20*time.Millisecond || d > 2*time.Second {
			t.Errorf("refused after %s, want after the 20ms wait", d)
		}
	}
	g.set(false)
	g.set(true)
	_ = g.admit(context.Background()) // a second episode within the log interval
	g.set(false)

	if st := g.stats(); st.Refused != 4 || st.Waits[len(WaitBuckets)-1]+st.Waits[len(WaitBuckets)] != 0 {
		t.Errorf("stats = %+v, want 4 refused, none waiting over 2s", st)
	}
	out := logs.String()
	if n := strings.Count(out, "overloaded: refusing publishes"); n != 1 {
		t.Errorf("%d start lines, want 1 (the second episode is within the rate limit):\n%s", n, out)
	}
	if n := strings.Count(out, "stopped refusing publishes"); n != 1 || !strings.Contains(out, "refused=3") {
		t.Errorf("want one stop line counting the first episode's 3 refusals:\n%s", out)
	}
}

func TestGateRefusesWhenThePublisherGivesUpFirst(t *testing.T) {
	g, _ := newTestGate(time.Hour)
	g.set(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := g.admit(ctx)
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("admit with an expiring context: %v, want ErrOverloaded and the deadline", err)
	}
	if st := g.stats(); st.Refused != 1 {
		t.Errorf("refused = %d, want 1", st.Refused)
	}
}

func TestGateWithNoWaitRefusesAtOnce(t *testing.T) {
	g, _ := newTestGate(-1)
	g.set(true)
	start := time.Now()
	if err := g.admit(context.Background()); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("admit: %v, want ErrOverloaded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refused after %s, want at once", d)
	}
}

// The fleet hears of this hub's congestion when its first shard becomes
// congested and when its last is relieved; another hub's congestion holds
// this hub's publishes back like its own.
func TestGateSharesWithTheFleet(t *testing.T) {
	g, _ := newTestGate(20 * time.Millisecond)
	var shared []bool
	g.share = func(c bool) { shared = append(shared, c) }
	g.set(true)
	g.set(true)
	g.set(false)
	g.set(false)
	if len(shared) != 2 || !shared[0] || shared[1] {
		t.Errorf("shared %v, want [true false]: the first shard in and the last out", shared)
	}

	g.setOthers(true)
	if err := g.admit(context.Background()); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("admit while another hub is congested: %v, want ErrOverloaded", err)
	}
	g.set(true) // this hub too
	g.setOthers(false)
	if err := g.admit(context.Background()); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("admit while this hub is still congested: %v, want ErrOverloaded", err)
	}
	g.set(false)
	if err := g.admit(context.Background()); err != nil {
		t.Fatalf("admit with no hub congested: %v", err)
	}
	if len(shared) != 4 {
		t.Errorf("shared %v, want the second episode shared too", shared)
	}
}
