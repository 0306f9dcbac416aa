package redisbroker_test

import (
	"bytes"
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// freezeProxy forwards TCP connections to a backend. Freeze stops passing
// the backend's bytes on every pub/sub connection open at that moment (one
// that sent a SUBSCRIBE), while keeping it open: a connection that is up but
// delivers nothing. Other connections keep working.
type freezeProxy struct {
	ln      net.Listener
	backend string

	mu     sync.Mutex
	frozen map[net.Conn]bool // client-side conns whose downstream is frozen
	pubsub map[net.Conn]bool // client-side conns that subscribed
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startFreezeProxy(t *testing.T, backend string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, backend: backend, frozen: make(map[net.Conn]bool), pubsub: make(map[net.Conn]bool)}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *freezeProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		p.wg.Go(func() { p.copyUp(b, c); b.Close() })
		p.wg.Go(func() { p.copyDown(c, b); c.Close() })
	}
}

// copyUp passes the client's bytes to the backend, noting subscribers.
func (p *freezeProxy) copyUp(b, c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if bytes.Contains(bytes.ToLower(buf[:n]), []byte("subscribe")) {
			p.mu.Lock()
			p.pubsub[c] = true
			p.mu.Unlock()
		}
		if n > 0 {
			if _, werr := b.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// copyDown passes the backend's bytes to the client until frozen.
func (p *freezeProxy) copyDown(c, b net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := b.Read(buf)
		p.mu.Lock()
		frozen := p.frozen[c]
		p.mu.Unlock()
		if err != nil {
			return
		}
		if frozen {
			continue // swallow: the connection stays up and says nothing
		}
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
	}
}

func (p *freezeProxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.pubsub {
		p.frozen[c] = true
	}
}

func (p *freezeProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// A pub/sub connection that stays up but stops delivering is found by the
// probe and replaced, and the events published meanwhile arrive from
// history, in order, before newer ones.
func TestRedisSubscriberProbeRecoversSilentConnection(t *testing.T) {
	srv := redistest.Start(t)
	proxy := startFreezeProxy(t, srv.Addr())
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.ln.Addr().String()})
	t.Cleanup(func() { viaProxy.Close() })
	b, err := redisbroker.New(context.Background(), redisbroker.Config{
		Client: viaProxy, ProbeInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	direct, err := redisbroker.New(context.Background(), redisbroker.Config{Client: srv.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	got, _ := brokertest.Listen(t, b, "news")
	var want []eventid.ID
	publish := func(n int) {
		for range n {
			ids, err := direct.Publish(context.Background(), []broker.Publication{brokertest.Pub("x", "news")}, broker.Idempotency{})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, ids...)
		}
	}
	publish(10)
	testenv.WaitFor(t, "the first events", func() bool { return len(got.IDs()) == 10 })
	proxy.Freeze()
	publish(20) // lost on the frozen connection
	testenv.WaitFor(t, "the probe to fail and history to fill the gap", func() bool { return len(got.IDs()) >= 30 })
	publish(10)
	testenv.WaitFor(t, "live events after the recovery", func() bool { return len(got.IDs()) >= 40 })
	if ids := got.IDs(); !slices.Equal(ids, want) {
		t.Errorf("delivered %v,\nwant %v", ids, want)
	}
	if st := b.Stats(); st.ProbeFailures == 0 || st.GapFills == 0 || st.GapMessages != 20 {
		t.Errorf("stats = %+v, want a probe failure and one gap fill of 20 messages", st)
	}
}

// Close may be called from several goroutines at once, and again later;
// each call returns once the subscriber's goroutines are gone (goleak in
// TestMain checks that they are).
func TestRedisSubscriberCloseIsIdempotent(t *testing.T) {
	srv := redistest.Start(t)
	b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: srv.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	_, sub := brokertest.Listen(t, b, "news")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(sub.Close)
	}
	testenv.WaitAll(t, "the concurrent Close calls", &wg)
	sub.Close()
}

// Shards sharing one pub/sub connection (Config.PubSubConns) each get
// what they follow, once and in order, across a probe recovery in which
// each fills its own gap from history; one that closes leaves the others'
// subscriptions in force, even on a topic they shared.
func TestRedisSubscribersSharingAConnection(t *testing.T) {
	srv := redistest.Start(t)
	proxy := startFreezeProxy(t, srv.Addr())
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.ln.Addr().String()})
	t.Cleanup(func() { viaProxy.Close() })
	b, err := redisbroker.New(context.Background(), redisbroker.Config{
		Client: viaProxy, ProbeInterval: 200 * time.Millisecond, PubSubConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	direct, err := redisbroker.New(context.Background(), redisbroker.Config{Client: srv.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	news, _ := brokertest.Listen(t, b, "news")
	both, _ := brokertest.Listen(t, b, "sports", "n*")
	leaving, leavingSub := brokertest.Listen(t, b, "news")
	var wantNews, wantBoth []eventid.ID
	publish := func(n int) {
		for i := range n {
			topics := []string{"news"}
			if i%2 == 1 {
				topics = []string{"sports", "news"}
			}
			ids, err := direct.Publish(context.Background(), []broker.Publication{brokertest.Pub("x", topics...)}, broker.Idempotency{})
			if err != nil {
				t.Fatal(err)
			}
			wantNews = append(wantNews, ids...)
			wantBoth = append(wantBoth, ids...) // every event matches n* or sports
		}
	}
	publish(10)
	testenv.WaitFor(t, "the first events", func() bool { return len(news.IDs()) == 10 && len(both.IDs()) == 10 && len(leaving.IDs()) == 10 })
	leavingSub.Close()
	proxy.Freeze()
	publish(20) // lost on the frozen connection
	testenv.WaitFor(t, "the probe to fail and history to fill the gaps", func() bool { return len(news.IDs()) >= 30 && len(both.IDs()) >= 30 })
	publish(10)
	testenv.WaitFor(t, "live events after the recovery", func() bool { return len(news.IDs()) >= 40 && len(both.IDs()) >= 40 })
	if ids := news.IDs(); !slices.Equal(ids, wantNews) {
		t.Errorf("news subscriber got %v,\nwant %v", ids, wantNews)
	}
	if ids := both.IDs(); !slices.Equal(ids, wantBoth) {
		t.Errorf("sports and n* subscriber got %v,\nwant each event once: %v", ids, wantBoth)
	}
	if n := len(leaving.IDs()); n != 10 {
		t.Errorf("closed subscriber got %d events, want the 10 before it closed", n)
	}
	if st := b.Stats(); st.Reconnects != 1 || st.GapFills != 2 || st.GapMessages != 40 {
		t.Errorf("stats = %+v, want one reconnect and a gap fill of 20 messages for each of the two subscribers", st)
	}
}
