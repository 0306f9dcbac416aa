package shard_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runShard runs a shard on a real embedded broker until the test ends.
func runShard(t *testing.T, cfg shard.Config) (*shard.Shard, *transport.MemoryBroker) {
	t.Helper()
	b := transport.NewMemoryBroker(transport.MemoryBrokerConfig{})
	s, err := shard.New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	t.Cleanup(func() { s.Stop(); <-done; b.Close() })
	return s, b
}

// serve starts a stream on one end of a loopback TCP pair and returns the
// other end, after the stream's head has arrived, and a channel with the
// reason the stream ended.
func serve(t *testing.T, s *shard.Shard, sel broker.Selection) (net.Conn, *bufio.Reader, <-chan shard.Reason) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan shard.Reason, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ended <- s.Serve(server, []byte("head\n"), sel, "")
		server.Close()
	}()
	t.Cleanup(func() { client.Close(); <-done })
	r := bufio.NewReader(client)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "head\n" {
		t.Fatalf("stream head = %q, %v; want \"head\\n\"", line, err)
	}
	return client, r, ended
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestSubscriptionsAreReferenceCounted(t *testing.T) {
	s, b := runShard(t, shard.Config{Heartbeat: 160 * time.Millisecond})
	a1, _, end1 := serve(t, s, broker.Selection{Topics: []string{"a"}, Patterns: []string{"p*"}})
	a2, r2, _ := serve(t, s, broker.Selection{Topics: []string{"a"}})
	if got := s.Stats().Subscriptions; got != 2 {
		t.Fatalf("subscriptions with two clients on a and one on p* = %d, want 2", got)
	}
	// The first client goes away; heartbeat writes find it and it leaves,
	// while "a" stays subscribed for the second.
	a1.Close()
	if reason := <-end1; reason != shard.ReasonWriteFailed {
		t.Errorf("reason = %v, want %v", reason, shard.ReasonWriteFailed)
	}
	waitFor(t, "p* to be unsubscribed", func() bool { return s.Stats().Subscriptions == 1 })
	if _, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{"a"}, Data: []byte("still")}}); err != nil {
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
	waitFor(t, "a to be unsubscribed", func() bool { return s.Stats().Subscriptions == 0 && s.Stats().Clients == 0 })
}

func TestStopEndsStreamsWithShutdownReason(t *testing.T) {
	b := transport.NewMemoryBroker(transport.MemoryBrokerConfig{})
	defer b.Close()
	s, err := shard.New(shard.Config{}, b)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	_, _, ended := serve(t, s, broker.Selection{Topics: []string{"x"}})
	s.Stop()
	<-done
	if reason := <-ended; reason != shard.ReasonShutdown {
		t.Errorf("reason = %v, want %v", reason, shard.ReasonShutdown)
	}
	if st := s.Stats(); st.Clients != 0 || st.Ended[shard.ReasonShutdown] != 1 {
		t.Errorf("stats after stop = %+v", st)
	}
	// A stream that arrives after Stop is refused at once.
	if reason := s.Serve(nil, nil, broker.Selection{Topics: []string{"x"}}, ""); reason != shard.ReasonShutdown {
		t.Errorf("Serve after Stop = %v, want %v", reason, shard.ReasonShutdown)
	}
}
