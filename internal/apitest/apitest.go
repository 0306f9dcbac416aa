// Package apitest runs real hubs for tests: shards, a broker and the HTTP
// API on a loopback port, as cmd/ssehub wires them; and a Redis broker on a
// private redis-server that a test may stall.
package apitest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// Hub is a hub serving the HTTP API.
type Hub struct {
	URL    string // http://Addr
	Addr   string // host:port it listens on
	Hub    *hub.Hub
	Server *httpapi.Server
}

// Serve serves h with a server made from cfg on addr (empty for a free
// loopback port), and shuts both down when the test ends. A test that
// made h's broker closes it in a cleanup registered before Serve, so that
// it runs after the hub is shut down.
func Serve(t testing.TB, addr string, h *hub.Hub, cfg httpapi.Config) *Hub {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	srv := httpapi.New(h, cfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server Shutdown: %v", err)
		}
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub Shutdown: %v", err)
		}
		testenv.Recv(t, "Serve to return after Shutdown", served)
	})
	return &Hub{URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), Hub: h, Server: srv}
}

// StallableRedis returns a Redis broker on a private redis-server, which
// the test may pause (redistest.Server.Pause), and its go-redis client.
//
// The client's socket timeouts are readTimeout, so that a publish to a
// stalled Redis ends within the hub's own bound rather than go-redis's
// default 3s (which does not read deadlines from the context), and go-redis
// re-sends a publish whose answer a stall held up: what idempotency must
// absorb. Its pool of poolSize connections is opened before it returns: a
// connection dialled during a pause hangs in its handshake instead of
// sending anything, and the point of a pause is publishes that reach a
// stalled Redis. The broker does not probe its pub/sub connections: the
// stalls are for publishing.
func StallableRedis(t testing.TB, readTimeout time.Duration, poolSize int) (*redisbroker.Broker, *redistest.Server, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: poolSize,
		ReadTimeout: readTimeout, WriteTimeout: readTimeout,
		MaxRetries: 20, MaxRetryBackoff: 20 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	warm := make([]*redis.Conn, poolSize)
	for i := range warm {
		warm[i] = client.Conn()
		if err := warm[i].Ping(context.Background()).Err(); err != nil {
			t.Fatalf("PING: %v", err)
		}
	}
	for _, c := range warm {
		c.Close() // back to the pool, open
	}
	b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: client, ProbeInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, srv, client
}
