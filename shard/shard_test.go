package shard_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/membroker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runShard runs a shard on a real embedded broker until the test ends.
func runShard(t *testing.T, cfg shard.Config) (*shard.Shard, *membroker.Broker) {
	t.Helper()
	b := membroker.New(membroker.Config{})
	s, err := shard.New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	t.Cleanup(func() {
		s.Stop()
		testenv.Recv(t, "Run to return after Stop", done)
		b.Close()
	})
	return s, b
}

// serve starts a stream on one end of a loopback TCP pair and returns the
// other end, after the stream's head has arrived.
func serve(t *testing.T, s *shard.Shard, sel broker.Selection) (net.Conn, *bufio.Reader) {
	t.Helper()
	return serveWith(t, s, shard.Stream{Selection: sel})
}

// serveWith is serve for st, whose Head it sets.
func serveWith(t *testing.T, s *shard.Shard, st shard.Stream) (net.Conn, *bufio.Reader) {
	t.Helper()
	client, server := hubtest.TCPPair(t)
	st.Head = []byte("head\n")
	if err := s.Join(server, st); err != nil {
		t.Fatalf("Join: %v", err)
	}
	r := bufio.NewReader(client)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "head\n" {
		t.Fatalf("stream head = %q, %v; want \"head\\n\"", line, err)
	}
	return client, r
}

func TestSubscriptionsAreReferenceCounted(t *testing.T) {
	s, b := runShard(t, shard.Config{Heartbeat: 160 * time.Millisecond})
	a1, _ := serve(t, s, broker.Selection{Topics: []string{"a"}, Patterns: []string{"p*"}})
	a2, r2 := serve(t, s, broker.Selection{Topics: []string{"a"}})
	if got := s.Stats().Subscriptions; got != 2 {
		t.Fatalf("subscriptions with two clients on a and one on p* = %d, want 2", got)
	}
	// The first client goes away; the peer watch (on Linux) or heartbeat
	// writes find it and it leaves, while "a" stays subscribed for the
	// second.
	a1.Close()
	testenv.WaitFor(t, "the first client to leave and p* to be unsubscribed", func() bool {
		st := s.Stats()
		return st.Subscriptions == 1 && st.Ended[shard.ReasonWriteFailed]+st.Ended[shard.ReasonPeerClosed] == 1
	})
	if _, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{"a"}, Data: []byte("still")}}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	a2.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := r2.ReadString('\n')
		if err != nil {
			t.Fatalf("second client: %v", err)
		}
		if strings.HasPrefix(line, "data: still") {
			break
		}
	}
	a2.Close()
	testenv.WaitFor(t, "a to be unsubscribed", func() bool { return s.Stats().Subscriptions == 0 && s.Stats().Clients == 0 })
}

func TestStopEndsStreamsWithShutdownReason(t *testing.T) {
	b := membroker.New(membroker.Config{})
	defer b.Close()
	s, err := shard.New(shard.Config{}, b)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	conn, r := serve(t, s, broker.Selection{Topics: []string{"x"}})
	s.Stop()
	testenv.Recv(t, "Run to return after Stop", done)
	if st := s.Stats(); st.Clients != 0 || st.Ended[shard.ReasonShutdown] != 1 {
		t.Errorf("stats after stop = %+v, want no clients and 1 ended by shutdown", st)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Errorf("stream still open after Stop")
	}
	// A stream that arrives after Stop is refused at once.
	if err := s.Join(nil, shard.Stream{Selection: broker.Selection{Topics: []string{"x"}}}); !errors.Is(err, shard.ErrStopped) {
		t.Errorf("Join after Stop = %v, want %v", err, shard.ErrStopped)
	}
}

// TestStopMayBeCalledConcurrently: Stop from several goroutines at once,
// and again after, stops the shard once.
func TestStopMayBeCalledConcurrently(t *testing.T) {
	s, _ := runShard(t, shard.Config{}) // whose cleanup stops it once more
	var stops sync.WaitGroup
	for range 4 {
		stops.Go(s.Stop)
	}
	stops.Wait() // Stop does not wait for anything
	s.Stop()
	if err := s.Join(nil, shard.Stream{}); !errors.Is(err, shard.ErrStopped) {
		t.Errorf("Join after Stop = %v, want %v", err, shard.ErrStopped)
	}
}
