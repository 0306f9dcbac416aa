package mercure_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/apitest"
	"github.com/ssehub/ssehub/internal/sockopt"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/sse"
)

// doorOptions configure startDoor: the hub, the native server the door is
// mounted on, and the door (its Publishers are set by startDoor).
type doorOptions struct {
	hub    hub.Config
	server httpapi.Config
	door   mercure.Config
}

// testDoor is a real hub serving the Mercure door on a loopback port.
type testDoor struct {
	url  string // the door's URL
	addr string // host:port the server listens on
	path string // the door's path
	hub  *hub.Hub
	door *mercure.Door
}

// startDoor serves a hub on b with the Mercure door mounted, until the
// test ends. A test that made b closes it in a cleanup registered before.
func startDoor(t *testing.T, b broker.Broker, opts doorOptions) *testDoor {
	t.Helper()
	h, err := hub.New(opts.hub, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	s := apitest.Serve(t, "", h, opts.server)
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{{Algorithm: auth.HS256, Secret: testSecret}}, Mercure: true})
	if err != nil {
		t.Fatal(err)
	}
	opts.door.Publishers = v
	door := mercure.New(h, s.Server.Door(), opts.door)
	if opts.door.Subscriptions != nil {
		// Before the server and the hub stop (cleanups run last first).
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = door.Close(ctx) // a killed hub's cannot reach Redis
		})
	}
	s.Server.Mount(door.Path(), door.Handle)
	if p := door.MetadataPath(); p != "" {
		s.Server.Mount(p, door.HandleMetadata)
	}
	return &testDoor{url: s.URL + door.Path(), addr: s.Addr, path: door.Path(), hub: h, door: door}
}

// stats sums the stats of every shard of the hub.
func (d *testDoor) stats() shard.Stats {
	var total shard.Stats
	for _, st := range d.hub.Stats() {
		total.Clients += st.Clients
		total.Pauses += st.Pauses
		total.PausedFor += st.PausedFor
		total.Replays += st.Replays
		total.Resets += st.Resets
		for r, n := range st.Ended {
			total.Ended[r] += n
		}
	}
	return total
}

// ended returns how many streams ended for reason.
func (d *testDoor) ended(reason shard.Reason) uint64 { return d.stats().Ended[reason] }

// endedByReason names the reasons streams ended for, for failure messages.
func (d *testDoor) endedByReason() map[string]uint64 {
	out := map[string]uint64{}
	for r, n := range d.stats().Ended {
		if n > 0 {
			out[shard.Reason(r).String()] = n
		}
	}
	return out
}

// publisher returns the Authorization header of a token that may publish
// to any topic.
func publisher(t *testing.T) http.Header {
	return http.Header{"Authorization": {"Bearer " + token(t, map[string]any{"publish": []string{"*"}})}}
}

// mustPublish publishes one update with the publisher id id to topic and
// fails the test unless the door acknowledges it with 200 and id.
func (d *testDoor) mustPublish(t *testing.T, header http.Header, topic, id string) {
	t.Helper()
	if got := post(t, d.url, header, url.Values{"topic": {topic}, "data": {id}, "id": {id}}); got.status != 200 || got.body != id {
		t.Fatalf("publish %s = %d %q, want 200 %s", id, got.status, got.body, id)
	}
}

// tryOpen opens a stream of the door, for goroutines other than the test's
// and for streams expected to fail: the error comes back instead of ending
// the test, and the caller closes the connection.
func (d *testDoor) tryOpen(dialer *net.Dialer, query string, headers ...string) (subscriber, error) {
	conn, resp, err := ssetest.TryOpenPath(dialer, d.addr, d.path+"?"+query, headers...)
	if err != nil {
		return subscriber{}, err
	}
	return subscriber{resp: resp, r: sse.NewReader(resp.Body), conn: conn}, nil
}

// stuckStream opens a stream whose client takes its head and then never
// reads again, on a socket with a small receive buffer, so that the hub's
// writes to it soon block.
func (d *testDoor) stuckStream(t *testing.T, query string) net.Conn {
	t.Helper()
	conn, resp := ssetest.OpenPath(t, &net.Dialer{Control: sockopt.RecvBuffer(4096)}, d.addr, d.path+"?"+query)
	if resp.StatusCode != 200 {
		t.Fatalf("the stream that will stop reading: %d", resp.StatusCode)
	}
	return conn
}

// readIDs reads events from s until one has the id last, and returns their
// ids; the read deadline is within.
func (s subscriber) readIDs(last string, within time.Duration) ([]string, error) {
	var ids []string
	s.conn.SetReadDeadline(time.Now().Add(within))
	for {
		ev, err := s.r.Next()
		if err != nil {
			return ids, err
		}
		ids = append(ids, ev.ID)
		if ev.ID == last {
			return ids, nil
		}
	}
}

// waitOpen waits until n streams are open on the hub.
func (d *testDoor) waitOpen(t *testing.T, n int64) {
	t.Helper()
	testenv.WaitFor(t, "the streams to open", func() bool { return d.stats().Clients == n })
}

// expectRefused checks that s is a refused stream as the front door
// answers one (a limit reached, the broker down): a 200 head, so that
// EventSource retries, a retry: of wantRetry ms at most, no event, the
// end at once, and no Mercure-Last-Event-ID, which would claim a resume.
func expectRefused(t *testing.T, s subscriber, wantRetry int) {
	t.Helper()
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("refused stream status = %d, want 200 so that EventSource retries", s.resp.StatusCode)
	}
	if h := s.resp.Header.Get("Mercure-Last-Event-ID"); h != "" {
		t.Errorf("refused stream: Mercure-Last-Event-ID %q, want none", h)
	}
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if ev, err := s.r.Next(); err != io.EOF {
		t.Fatalf("refused stream: %+v, %v; want it to end at once", ev, err)
	}
	if ms, ok := s.r.Retry(); !ok || ms > wantRetry {
		t.Errorf("refused stream retry = %d, %v; want at most %d", ms, ok, wantRetry)
	}
}
