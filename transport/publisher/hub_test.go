package publisher_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/apitest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/publisher"
	"github.com/ssehub/ssehub/transport/sse"
)

// testHub is a real hub: shards, a broker and the fasthttp server on a
// loopback port, as cmd/ssehub wires them.
type testHub struct {
	url    string
	addr   string
	hub    *hub.Hub
	server *httpapi.Server
}

// startHub starts a hub on the embedded broker.
func startHub(t *testing.T, hcfg hub.Config, scfg httpapi.Config) *testHub {
	t.Helper()
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() }) // after serveHub's cleanup: the hub is shut down first
	return serveHub(t, hcfg, b, scfg)
}

// serveHub serves a hub on b with a server made from scfg, and shuts both
// down when the test ends.
func serveHub(t *testing.T, hcfg hub.Config, b broker.Broker, scfg httpapi.Config) *testHub {
	t.Helper()
	return serveHubAt(t, "127.0.0.1:0", hcfg, b, scfg)
}

// serveHubAt is serveHub listening on addr.
func serveHubAt(t *testing.T, addr string, hcfg hub.Config, b broker.Broker, scfg httpapi.Config) *testHub {
	t.Helper()
	h, err := hub.New(hcfg, b)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	s := apitest.Serve(t, addr, h, scfg)
	return &testHub{url: s.URL, addr: s.Addr, hub: h, server: s.Server}
}

// startRedisHub starts a hub on the Redis broker and a private
// redis-server, which the test may pause (see apitest.StallableRedis).
func startRedisHub(t *testing.T, scfg httpapi.Config) (*testHub, *redistest.Server, *redis.Client) {
	t.Helper()
	b, srv, client := apitest.StallableRedis(t, 200*time.Millisecond, 16)
	return serveHub(t, hub.Config{Shards: 2}, b, scfg), srv, client
}

// newClient returns a client for th, its connections closed when the test
// ends.
func newClient(t *testing.T, th *testHub, cfg publisher.Config) *publisher.Client {
	t.Helper()
	cfg.URL = th.url
	c, err := publisher.New(cfg)
	if err != nil {
		t.Fatalf("publisher.New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// retries records a client's retries (Config.OnRetry). Safe for
// concurrent use.
type retries struct {
	mu   sync.Mutex
	errs []error
	wait []time.Duration
}

func (r *retries) record(_ int, err error, wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
	r.wait = append(r.wait, wait)
}

func (r *retries) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

// stream is a subscriber on a raw TCP connection, as EventSource would be.
type stream struct {
	t    *testing.T
	conn net.Conn
	r    *sse.Reader
}

// subscribe opens GET /events?query and waits for the response head: the
// stream is subscribed by then.
func (th *testHub) subscribe(t *testing.T, query string) *stream {
	t.Helper()
	conn, resp := ssetest.Open(t, nil, th.addr, query)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /events?%s = %d, want 200", query, resp.StatusCode)
	}
	return &stream{t: t, conn: conn, r: sse.NewReader(resp.Body)}
}

// next returns the next event, failing the test if none comes in time.
func (s *stream) next() sse.Event {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(testenv.Timeout))
	e, err := s.r.Next()
	if err != nil {
		s.t.Fatalf("reading stream: %v", err)
	}
	return e
}

// readUntil reads events up to and including the one with data end, and
// returns how often each data and each id arrived.
func (s *stream) readUntil(end string) (data, ids map[string]int) {
	s.t.Helper()
	data, ids = map[string]int{}, map[string]int{}
	for {
		e := s.next()
		data[e.Data]++
		ids[e.ID]++
		if e.Data == end {
			return data, ids
		}
	}
}
