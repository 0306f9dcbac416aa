package hub_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ssehub/ssehub/transport/membroker"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/shard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newHub(t *testing.T, shards int) *hub.Hub {
	t.Helper()
	b := membroker.New(membroker.Config{})
	h, err := hub.New(hub.Config{Shards: shards}, b)
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
	return h
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
	if _, err := h.Publish(ctx, []hub.Publication{{Topics: []string{"t"}}}); !errors.Is(err, hub.ErrClosed) {
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
