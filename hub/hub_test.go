package hub_test

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/membroker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newHub(t *testing.T, shards int) *hub.Hub {
	t.Helper()
	h, _ := newHubWith(t, hub.Config{Shards: shards})
	return h
}

// newHubWith starts a hub of cfg on the embedded broker, shut down (and
// the broker closed) when the test ends.
func newHubWith(t *testing.T, cfg hub.Config) (*hub.Hub, *membroker.Broker) {
	t.Helper()
	b := membroker.New(membroker.Config{})
	h, err := hub.New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		b.Close()
	})
	return h, b
}

// openStream streams to one end of a loopback TCP pair and returns the
// other end once the stream's head has arrived.
func openStream(t *testing.T, h *hub.Hub, userID string) net.Conn {
	t.Helper()
	client, server := hubtest.TCPPair(t)
	err := h.Stream(server, hub.StreamRequest{
		Stream: shard.Stream{Selection: hub.Selection{Topics: []string{"t"}}, Head: []byte("h")},
		UserID: userID,
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err != nil {
		t.Fatalf("reading head: %v", err)
	}
	return client
}

func TestStreamsOfOneUserShareAShard(t *testing.T) {
	h := newHub(t, 8)
	for range 3 {
		openStream(t, h, "alice")
	}
	var counts []int64
	for _, st := range h.Stats() {
		counts = append(counts, st.Clients)
	}
	found := false
	for _, n := range counts {
		found = found || n == 3
	}
	if !found {
		t.Errorf("clients per shard = %v, want alice's 3 streams on one shard", counts)
	}
}

func TestShutdownEndsStreamsAndRefusesNewWork(t *testing.T) {
	h := newHub(t, 2)
	conns := []net.Conn{openStream(t, h, ""), openStream(t, h, "bob")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var ended uint64
	for _, st := range h.Stats() {
		ended += st.Ended[shard.ReasonShutdown]
	}
	if ended != 2 {
		t.Errorf("streams ended by shutdown = %d, want 2", ended)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("stream still open after Shutdown")
		}
	}
	if err := h.Stream(nil, hub.StreamRequest{}); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Stream after Shutdown = %v, want %v", err, hub.ErrClosed)
	}
	if _, err := h.Publish(ctx, []hub.Publication{{Topics: []string{"t"}}}, hub.Idempotency{}); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Publish after Shutdown = %v, want %v", err, hub.ErrClosed)
	}
	if err := h.Ready(ctx); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Ready after Shutdown = %v, want %v", err, hub.ErrClosed)
	}
}

func TestDefaultShardsFollowsGOMAXPROCS(t *testing.T) {
	h := newHub(t, 0)
	if got, want := len(h.Stats()), hub.DefaultShards(); got != want {
		t.Errorf("shards = %d, want %d", got, want)
	}
}

// TestShutdownTwice: Shutdown may be called again, and concurrently; each
// call waits for the shards.
func TestShutdownTwice(t *testing.T) {
	h := newHub(t, 2) // whose cleanup shuts it down once more
	openStream(t, h, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- h.Shutdown(ctx) }()
	}
	for range 2 {
		if err := <-errs; err != nil { // bounded by ctx
			t.Errorf("concurrent Shutdown: %v", err)
		}
	}
	if err := h.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown after Shutdown: %v", err)
	}
}

// TestNewReleasesWhatItMadeWhenAShardFails: when a shard cannot be made,
// New releases what the shards made before it hold (their broker
// subscribers, their goroutines and, on Linux, their io_uring rings)
// before it returns the error.
func TestNewReleasesWhatItMadeWhenAShardFails(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fds := openFDs(t)
	b := &refusingBroker{Broker: membroker.New(membroker.Config{}), refuse: 3}
	defer b.Close()
	if h, err := hub.New(hub.Config{Shards: 4}, b); !errors.Is(err, errRefused) {
		if h != nil {
			_ = h.Shutdown(context.Background())
		}
		t.Fatalf("New with the 3rd of 4 subscribers refused = %v, want %v", err, errRefused)
	}
	b.mu.Lock()
	made, closed := b.made, b.closed
	b.mu.Unlock()
	if made != 2 || closed != made {
		t.Errorf("New that failed made %d subscribers and closed %d; want 2 made, all closed", made, closed)
	}
	if now := openFDs(t); now != fds {
		t.Errorf("%d descriptors open after New failed, %d before", now, fds)
	}
}

var errRefused = errors.New("subscriber refused")

// refusingBroker is a memory broker whose refuse-th NewSubscriber fails. It
// counts the subscribers it made and those closed.
type refusingBroker struct {
	*membroker.Broker
	refuse int

	mu                  sync.Mutex
	calls, made, closed int
}

func (b *refusingBroker) NewSubscriber(sink broker.Sink) (broker.Subscriber, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.calls++; b.calls == b.refuse {
		return nil, errRefused
	}
	sub, err := b.Broker.NewSubscriber(sink)
	if err != nil {
		return nil, err
	}
	b.made++
	return &countedSubscriber{sub, b}, nil
}

// countedSubscriber counts its Close in its broker.
type countedSubscriber struct {
	broker.Subscriber
	b *refusingBroker
}

func (s *countedSubscriber) Close() {
	s.b.mu.Lock()
	s.b.closed++
	s.b.mu.Unlock()
	s.Subscriber.Close()
}

// openFDs returns how many descriptors the process has open, on Linux;
// elsewhere always 0.
func openFDs(t *testing.T) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		return 0
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
