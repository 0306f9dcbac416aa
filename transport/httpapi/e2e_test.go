package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/apitest"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/sse"
)

// testHub is a real hub: embedded broker, shards and fasthttp server on a
// loopback port.
type testHub struct {
	url    string
	addr   string
	hub    *hub.Hub
	server *httpapi.Server
	broker *membroker.Broker
}

type hubOptions struct {
	hub    hub.Config
	server httpapi.Config
	broker membroker.Config
}

func startHub(t testing.TB, opts hubOptions) *testHub {
	t.Helper()
	b := membroker.New(opts.broker)
	t.Cleanup(func() { b.Close() }) // after serveHub's cleanup: the hub is shut down first
	h, err := hub.New(opts.hub, b)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	th := serveHub(t, h, opts.server)
	th.broker = b
	return th
}

// serveHub serves h with a server made from cfg on a loopback port, and
// shuts both down when the test ends.
func serveHub(t testing.TB, h *hub.Hub, cfg httpapi.Config) *testHub {
	t.Helper()
	// Registered first, so it runs after the hub is shut down.
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	s := apitest.Serve(t, "", h, cfg)
	return &testHub{url: s.URL, addr: s.Addr, hub: h, server: s.Server}
}

// publish posts body as JSON and returns the ids.
func (th *testHub) publish(t *testing.T, body string) []string {
	t.Helper()
	ids, err := th.tryPublish(body)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// tryPublish is publish for goroutines other than the test's, which must
// not end the test: it returns the error instead.
func (th *testHub) tryPublish(body string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, th.url+"/publish", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("publish %s = %d %s, want 200", body, resp.StatusCode, raw)
	}
	var out struct{ IDs []string }
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("publish response %q: %w", raw, err)
	}
	return out.IDs, nil
}

// stream is a subscriber on a raw TCP connection, as EventSource would be.
type stream struct {
	t    *testing.T
	conn net.Conn
	resp *http.Response
	r    *sse.Reader
}

// subscribe opens GET /events?query with extra request header lines and
// waits for the response head: the stream is then subscribed.
func (th *testHub) subscribe(t *testing.T, query string, headers ...string) *stream {
	t.Helper()
	conn, resp := ssetest.Open(t, nil, th.addr, query, headers...)
	return &stream{t: t, conn: conn, resp: resp, r: sse.NewReader(resp.Body)}
}

// next returns the next event, failing the test after timeout.
func (s *stream) next(timeout time.Duration) sse.Event {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	e, err := s.r.Next()
	if err != nil {
		s.t.Fatalf("reading stream: %v", err)
	}
	return e
}

// expectData reads len(want) events and checks their data in order.
func (s *stream) expectData(want ...string) []sse.Event {
	s.t.Helper()
	var got []sse.Event
	for _, w := range want {
		e := s.next(5 * time.Second)
		if e.Data != w {
			s.t.Fatalf("event %d data = %q, want %q (event %+v)", len(got), e.Data, w, e)
		}
		got = append(got, e)
	}
	return got
}

// expectQuiet checks no event arrives within d.
func (s *stream) expectQuiet(d time.Duration) {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(d))
	if e, err := s.r.Next(); err == nil {
		s.t.Fatalf("unexpected event %+v", e)
	}
}

func TestStreamHeadersAndPreamble(t *testing.T) {
	th := startHub(t, hubOptions{server: httpapi.Config{Retry: 1500 * time.Millisecond}})
	s := th.subscribe(t, "topic=news")
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", s.resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := s.resp.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if got := s.resp.Header.Get("Content-Length"); got != "" {
		t.Errorf("Content-Length = %q, want none", got)
	}
	th.publish(t, `{"topic":"news","data":"x"}`)
	s.expectData("x")
	if ms, ok := s.r.Retry(); !ok || ms != 1500 {
		t.Errorf("retry = %d, %v; want 1500, true", ms, ok)
	}
	if s.r.Comments() == 0 {
		t.Errorf("no comment before the first event; want one sent at once")
	}
}

func TestPublishReachesExactAndPatternSubscribers(t *testing.T) {
	th := startHub(t, hubOptions{})
	exact := th.subscribe(t, "topic=news")
	pattern := th.subscribe(t, "topic=news*")
	other := th.subscribe(t, "topic=sports")
	ids := th.publish(t, `{"topic":"news","data":"hi"}`)
	for _, s := range []*stream{exact, pattern} {
		e := s.expectData("hi")[0]
		if e.ID != ids[0] || e.Type != "message" {
			t.Errorf("event = %+v, want id %s type message", e, ids[0])
		}
	}
	other.expectQuiet(200 * time.Millisecond)
}

func TestBatchArrivesInOrder(t *testing.T) {
	th := startHub(t, hubOptions{})
	s := th.subscribe(t, "topic=feed")
	ids := th.publish(t, `[{"topic":"feed","data":"1"},{"topic":"feed","event":"alert","data":"2\nline"},{"topic":"feed","data":{"n":3}}]`)
	if len(ids) != 3 {
		t.Fatalf("ids = %v, want 3", ids)
	}
	got := s.expectData("1", "2\nline", `{"n":3}`)
	for i, e := range got {
		if e.ID != ids[i] {
			t.Errorf("event %d id = %s, want %s", i, e.ID, ids[i])
		}
	}
	if got[1].Type != "alert" {
		t.Errorf("event type = %q, want alert", got[1].Type)
	}
}

func TestEventMatchingSeveralSubscriptionsArrivesOnce(t *testing.T) {
	th := startHub(t, hubOptions{})
	s := th.subscribe(t, "topic=a&topic=b&topic=a*&topic=*")
	th.publish(t, `{"topics":["a","b","ab"],"data":"once"}`)
	th.publish(t, `{"topic":"b","data":"next"}`)
	s.expectData("once", "next")
}

func TestResumeReplaysMissedEventsThenLive(t *testing.T) {
	th := startHub(t, hubOptions{})
	var ids, data []string
	for i := range 5 {
		data = append(data, fmt.Sprintf("e%d", i))
		ids = append(ids, th.publish(t, `{"topic":"news","data":"`+data[i]+`"}`)...)
	}
	for _, how := range []string{"header", "query"} {
		t.Run(how, func(t *testing.T) {
			var s *stream
			if how == "header" {
				s = th.subscribe(t, "topic=news", "Last-Event-ID: "+ids[0])
			} else {
				s = th.subscribe(t, "topic=news&lastEventId="+ids[0])
			}
			// Everything after the first event, exactly once, in order.
			got := s.expectData(data[1:]...)
			for i, e := range got {
				if e.ID != ids[i+1] {
					t.Errorf("replayed event %d id = %s, want %s", i, e.ID, ids[i+1])
				}
			}
			live := th.publish(t, `{"topic":"news","data":"live-`+how+`"}`)
			if e := s.expectData("live-" + how)[0]; e.ID != live[0] {
				t.Errorf("live id = %s, want %s", e.ID, live[0])
			}
			ids, data = append(ids, live...), append(data, "live-"+how)
		})
	}
}

func TestResumeWithPatternReplaysAcrossTopics(t *testing.T) {
	th := startHub(t, hubOptions{})
	first := th.publish(t, `{"topic":"user/1","data":"a"}`)
	th.publish(t, `[{"topic":"user/2","data":"b"},{"topic":"other","data":"x"},{"topic":"user/3","data":"c"}]`)
	s := th.subscribe(t, "topic=user/*", "Last-Event-ID: "+first[0])
	s.expectData("b", "c")
}

func TestResumeFromUnservableIDStartsWithReset(t *testing.T) {
	th := startHub(t, hubOptions{broker: membroker.Config{HistorySize: 2}})
	var ids []string
	for i := range 5 {
		ids = append(ids, th.publish(t, fmt.Sprintf(`{"topic":"news","data":"e%d"}`, i))...)
	}
	for _, tc := range []struct {
		name, lastID, reason string
	}{
		{"older than retention", ids[0], transport.ResetExpired},
		{"from before this history", "1-0", transport.ResetHistoryLost},
		{"not an id", "garbage", transport.ResetUnknownID},
		{"from the future", "99999999999999-0", transport.ResetUnknownID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := th.subscribe(t, "topic=news", "Last-Event-ID: "+tc.lastID)
			e := s.next(5 * time.Second)
			if e.Type != transport.ResetEvent {
				t.Fatalf("first event = %+v, want %s", e, transport.ResetEvent)
			}
			var data struct{ Reason, LastEventID string }
			if err := json.Unmarshal([]byte(e.Data), &data); err != nil {
				t.Fatalf("reset data %q: %v", e.Data, err)
			}
			if data.Reason != tc.reason || data.LastEventID != tc.lastID {
				t.Errorf("reset data = %+v, want reason %s lastEventId %s", data, tc.reason, tc.lastID)
			}
			if e.ID != ids[len(ids)-1] {
				t.Errorf("reset id = %s, want the newest id %s", e.ID, ids[len(ids)-1])
			}
			live := th.publish(t, `{"topic":"news","data":"live"}`)
			if e := s.expectData("live")[0]; e.ID != live[0] {
				t.Errorf("live id = %s, want %s", e.ID, live[0])
			}
			ids = append(ids, live...)
		})
	}
}

func TestHeartbeatsAreSent(t *testing.T) {
	th := startHub(t, hubOptions{hub: hub.Config{Shard: shard.Config{Heartbeat: 160 * time.Millisecond}}})
	s := th.subscribe(t, "topic=quiet")
	// The preamble's comment, then heartbeats; no event is ever published,
	// so every read ends in a timeout after counting what arrived.
	for deadline := time.Now().Add(5 * time.Second); s.r.Comments() < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("comments after 5s with a 160ms heartbeat = %d, want at least 3", s.r.Comments())
		}
		s.expectQuiet(100 * time.Millisecond)
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	th := startHub(t, hubOptions{})
	streams := []*stream{th.subscribe(t, "topic=a"), th.subscribe(t, "topic=b*")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := th.hub.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, s := range streams {
		s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := s.r.Next(); err != io.EOF {
			t.Errorf("stream after shutdown: err = %v, want io.EOF", err)
		}
	}
	// A stream opened while shutting down is told to retry, then closed,
	// so EventSource reconnects elsewhere instead of giving up.
	late := th.subscribe(t, "topic=a")
	if late.resp.StatusCode != http.StatusOK {
		t.Fatalf("status while shutting down = %d, want 200", late.resp.StatusCode)
	}
	late.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := late.r.Next(); err != io.EOF {
		t.Errorf("stream while shutting down: err = %v, want io.EOF", err)
	}
	if _, ok := late.r.Retry(); !ok {
		t.Errorf("stream while shutting down sent no retry")
	}
}
