package refserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/internal/sockopt"
	"github.com/ssehub/ssehub/transport/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer is a Server behind a real loopback listener.
type testServer struct {
	*Server
	url    string
	client *http.Client
}

// start serves a new Server on 127.0.0.1 until the test ends.
func start(t *testing.T, cfg Config) *testServer {
	t.Helper()
	s := New(cfg)
	hs := httptest.NewServer(s)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		s.Close() // httptest.Server.Close waits for the stream handlers
		hs.Close()
		client.CloseIdleConnections()
	})
	return &testServer{Server: s, url: hs.URL, client: client}
}

// subscribe opens GET /events on topics, checks the head and the preamble,
// and returns a reader of the events that follow. The preamble arrives
// before anything is published, so reading it proves it was flushed at once
// and that the stream is registered.
func (ts *testServer) subscribe(t *testing.T, topics ...string) *stream {
	t.Helper()
	return ts.subscribeWith(t, ts.client, topics...)
}

func (ts *testServer) subscribeWith(t *testing.T, client *http.Client, topics ...string) *stream {
	t.Helper()
	q := url.Values{"topic": topics}
	resp, err := client.Get(ts.url + "/events?" + q.Encode())
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events status = %d, want 200", resp.StatusCode)
	}
	for name, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("GET /events %s = %q, want %q", name, got, want)
		}
	}
	got := make([]byte, len("retry: 1000\n: ok\n\n"))
	if _, err := io.ReadFull(resp.Body, got); err != nil {
		t.Fatalf("read preamble: %v", err)
	}
	if string(got) != "retry: 1000\n: ok\n\n" {
		t.Fatalf("preamble = %q, want %q", got, "retry: 1000\n: ok\n\n")
	}
	return &stream{Reader: sse.NewReader(resp.Body), body: resp.Body}
}

// stream is an open event stream.
type stream struct {
	*sse.Reader
	body io.Closer
}

// publish posts body to /publish and returns the status and response body.
func (ts *testServer) publish(t *testing.T, body string) (int, []byte) {
	t.Helper()
	resp, err := ts.client.Post(ts.url+"/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST /publish: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST /publish: read body: %v", err)
	}
	return resp.StatusCode, b
}

// mustPublish publishes body and returns the ids, which must be one per
// event and increasing.
func (ts *testServer) mustPublish(t *testing.T, body string) []string {
	t.Helper()
	status, b := ts.publish(t, body)
	var res struct{ IDs []string }
	if status != http.StatusOK || json.Unmarshal(b, &res) != nil {
		t.Fatalf("POST /publish %s = %d %s, want 200 with ids", body, status, b)
	}
	for i := 1; i < len(res.IDs); i++ {
		if idNum(t, res.IDs[i]) <= idNum(t, res.IDs[i-1]) {
			t.Fatalf("POST /publish ids = %q, want increasing", res.IDs)
		}
	}
	return res.IDs
}

func idNum(t *testing.T, id string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatalf("id %q is not a decimal counter: %v", id, err)
	}
	return n
}

// readTimeout bounds readN; it is far more than any test needs.
const readTimeout = 10 * time.Second

// readN reads n events from r, failing if they take over readTimeout.
func readN(t *testing.T, r *stream, n int) []sse.Event {
	t.Helper()
	// Closing the body is the way to interrupt a blocked read.
	timer := time.AfterFunc(readTimeout, func() { r.body.Close() })
	defer timer.Stop()
	got := make([]sse.Event, 0, n)
	for range n {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("read event %d of %d: %v (got %v)", len(got)+1, n, err, got)
		}
		got = append(got, ev)
	}
	return got
}

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		id, name, data, want string
	}{
		{"1", "", "hello", "id: 1\ndata: hello\n\n"},
		{"2", "message", "x", "id: 2\ndata: x\n\n"},
		{"3", "alert", "", "id: 3\nevent: alert\ndata: \n\n"},
		{"4", "", "a\nb\r\nc\rd", "id: 4\ndata: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"5", "", "end\n", "id: 5\ndata: end\ndata: \n\n"},
	}
	for _, tt := range tests {
		if got := appendFrame(nil, tt.id, tt.name, []byte(tt.data)); string(got) != tt.want {
			t.Errorf("appendFrame(%q, %q, %q) = %q, want %q", tt.id, tt.name, tt.data, got, tt.want)
		}
	}
}

func TestPublishDelivery(t *testing.T) {
	ts := start(t, Config{})
	news := ts.subscribe(t, "news")
	both := ts.subscribe(t, "news", "sport", "news")
	sport := ts.subscribe(t, "sport")

	var ids []string
	ids = append(ids, ts.mustPublish(t, `{"topic":"news","event":"alert","data":"line1\nline2"}`)...)
	ids = append(ids, ts.mustPublish(t, `{"topics":["news","sport"],"data":{"k": [1, 2]}}`)...)
	ids = append(ids, ts.mustPublish(t, `[
		{"topic":"sport","event":"message","data":42},
		{"topic":"news","data":null},
		{"topic":"nobody","data":"lost"},
		{"topic":"sport","topics":["news"],"data":true}
	]`)...)
	if len(ids) != 6 {
		t.Fatalf("got %d ids, want 6", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if idNum(t, ids[i]) <= idNum(t, ids[i-1]) {
			t.Fatalf("ids across requests = %q, want increasing", ids)
		}
	}

	ev := func(i int, typ, data string) sse.Event { return sse.Event{ID: ids[i], Type: typ, Data: data} }
	tests := []struct {
		name string
		r    *stream
		want []sse.Event
	}{
		{"news", news, []sse.Event{ev(0, "alert", "line1\nline2"), ev(1, "message", `{"k":[1,2]}`), ev(3, "message", "null"), ev(5, "message", "true")}},
		// A client on both topics gets each event once.
		{"news+sport", both, []sse.Event{ev(0, "alert", "line1\nline2"), ev(1, "message", `{"k":[1,2]}`), ev(2, "message", "42"), ev(3, "message", "null"), ev(5, "message", "true")}},
		{"sport", sport, []sse.Event{ev(1, "message", `{"k":[1,2]}`), ev(2, "message", "42"), ev(5, "message", "true")}},
	}
	// A last event on both topics shows that nothing else came before it.
	end := ts.mustPublish(t, `{"topics":["news","sport"],"event":"end","data":""}`)
	for _, tt := range tests {
		want := append(tt.want, sse.Event{ID: end[0], Type: "end"})
		if diff := cmp.Diff(want, readN(t, tt.r, len(want))); diff != "" {
			t.Errorf("stream %s events (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestBadRequests(t *testing.T) {
	ts := start(t, Config{})
	tests := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/events", "", 400},
		{"GET", "/events?topic=", "", 400},
		{"GET", "/events?other=x", "", 400},
		{"POST", "/publish", ``, 400},
		{"POST", "/publish", `{"topic":`, 400},
		{"POST", "/publish", `{"topic":"a","data":"x"} junk`, 400},
		{"POST", "/publish", `[]`, 400},
		{"POST", "/publish", `"text"`, 400},
		{"POST", "/publish", `{"data":"x"}`, 400},
		{"POST", "/publish", `{"topics":["a",""],"data":"x"}`, 400},
		{"POST", "/publish", `{"topic":7,"data":"x"}`, 400},
		{"POST", "/publish", `{"topic":"a"}`, 400},
		{"POST", "/publish", `{"topic":"a","event":"x\ny","data":"x"}`, 400},
		{"POST", "/publish", `[{"topic":"a","data":"x"},{"topic":"b"}]`, 400},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, ts.url+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatalf("%s %s %s: %v", tt.method, tt.path, tt.body, err)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tt.status || err != nil || e.Error.Code != "bad_request" || e.Error.Message == "" {
			t.Errorf("%s %s %s = %d, code %q, message %q (decode error %v); want %d bad_request with a message",
				tt.method, tt.path, tt.body, resp.StatusCode, e.Error.Code, e.Error.Message, err, tt.status)
		}
	}
	// Nothing was published by the rejected batch: the next id is the first.
	if ids := ts.mustPublish(t, `{"topic":"a","data":"x"}`); ids[0] != "1" {
		t.Errorf("first accepted publish got id %q, want \"1\"", ids[0])
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/publish": 405} {
		resp, err := ts.client.Get(ts.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestStuckClientDropped checks that a client that stops reading is dropped
// once its queue fills, while another client keeps receiving every event,
// and that what the stuck client did receive has no gap.
func TestStuckClientDropped(t *testing.T) {
	ts := start(t, Config{Buffer: 8})
	// The stuck client's socket buffer is small, so its queue fills soon.
	smallBuf := &net.Dialer{Control: sockopt.RecvBuffer(4096)}
	stuckClient := &http.Client{Transport: &http.Transport{DialContext: smallBuf.DialContext}}
	defer stuckClient.CloseIdleConnections()
	stuck := ts.subscribeWith(t, stuckClient, "t")
	healthy := ts.subscribe(t, "t")

	data := strings.Repeat("x", 16<<10)
	batch := `[` + strings.Repeat(`{"topic":"t","data":"`+data+`"},`, 3) + `{"topic":"t","data":"` + data + `"}]`
	const maxEvents = 4000 // 64 MiB; far more than the kernel buffers hold
	var first, last uint64
	for n := 0; ts.Dropped() == 0; n += 4 {
		if n >= maxEvents {
			t.Fatalf("stuck client not dropped after %d events", n)
		}
		ids := ts.mustPublish(t, batch)
		if first == 0 {
			first = idNum(t, ids[0])
		}
		// The healthy client keeps up, so it is never the one dropped.
		for i, ev := range readN(t, healthy, len(ids)) {
			if ev.ID != ids[i] || ev.Data != data {
				t.Fatalf("healthy client got id %q (%d bytes), want %q", ev.ID, len(ev.Data), ids[i])
			}
		}
		last = idNum(t, ids[len(ids)-1])
	}
	for range 3 {
		ids := ts.mustPublish(t, `{"topic":"t","data":"after"}`)
		if got := readN(t, healthy, 1)[0]; got.ID != ids[0] || got.Data != "after" {
			t.Fatalf("healthy client after the drop got %+v, want id %s", got, ids[0])
		}
	}
	if got := ts.Dropped(); got != 1 {
		t.Errorf("Dropped() = %d, want 1", got)
	}

	// The stuck client, reading at last, gets a run of events without a gap
	// and then the end of the stream.
	want := first
	var timedOut atomic.Bool
	timer := time.AfterFunc(readTimeout, func() { timedOut.Store(true); stuck.body.Close() })
	defer timer.Stop()
	for {
		ev, err := stuck.Next()
		if err != nil {
			if timedOut.Load() {
				t.Fatalf("stuck stream still open %v after it was dropped (read error %v)", readTimeout, err)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("stuck stream ended with %v, want EOF", err)
			}
			break
		}
		if ev.ID != strconv.FormatUint(want, 10) {
			t.Fatalf("stuck client got id %s, want %d: a gap", ev.ID, want)
		}
		want++
	}
	if want > last {
		t.Errorf("stuck client received all %d events up to %d, yet was dropped", want-first, last)
	}
	t.Logf("stuck client dropped after receiving %d of %d events", want-first, last-first+1)
}

func TestCloseEndsStreams(t *testing.T) {
	ts := start(t, Config{})
	r := ts.subscribe(t, "a")
	ts.Close()
	if ev, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Close, Next() = %+v, %v; want io.EOF", ev, err)
	}
	resp, err := ts.client.Get(ts.url + "/events?topic=a")
	if err != nil {
		t.Fatalf("GET /events after Close: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /events after Close = %d, want 503", resp.StatusCode)
	}
}

// TestConcurrentPublishersKeepOrder publishes from several goroutines at
// once; every subscriber must see all events in increasing id order.
func TestConcurrentPublishersKeepOrder(t *testing.T) {
	ts := start(t, Config{})
	readers := []*stream{ts.subscribe(t, "a"), ts.subscribe(t, "a", "b")}
	const publishers, each = 4, 50
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, publishers)
	for p := range publishers {
		go func() {
			var err error
			for i := range each {
				body := fmt.Sprintf(`{"topic":%q,"data":"%d"}`, []string{"a", "b"}[(p+i)%2], i)
				var req *http.Request
				if req, err = http.NewRequestWithContext(ctx, "POST", ts.url+"/publish", strings.NewReader(body)); err != nil {
					break
				}
				var resp *http.Response
				if resp, err = ts.client.Do(req); err != nil {
					break
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("POST /publish = %s", resp.Status)
					break
				}
			}
			errs <- err
		}()
	}
	for range publishers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	all := publishers * each
	for i, want := range []int{all / 2, all} {
		var prev uint64
		for _, ev := range readN(t, readers[i], want) {
			if n := idNum(t, ev.ID); n <= prev {
				t.Fatalf("reader %d: id %d after %d", i, n, prev)
			} else {
				prev = n
			}
		}
	}
}

// FuzzParsePublish checks that any body either fails to parse or gives
// events whose frames a real SSE parser reads back as exactly that event.
func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{
		`{"topic":"a","data":"x"}`,
		`{"topics":["a","b"],"event":"e","data":{"k":[1, 2]}}`,
		`[{"topic":"a","data":"l1\r\nl2\rl3\n"},{"topic":"b","event":"message","data":null}]`,
		`{"topic":"a","event":"x\ny","data":"x"}`,
		`[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parsePublish(body)
		if err != nil {
			return
		}
		for _, ev := range events {
			if len(ev.topics) == 0 {
				t.Fatalf("parsePublish(%q) gave an event without topics", body)
			}
			var got []sse.Event
			p := sse.Parser{OnEvent: func(e sse.Event) { got = append(got, e) }}
			p.Feed(appendFrame(nil, "7", ev.name, ev.data))
			typ := ev.name
			if typ == "" {
				typ = "message"
			}
			lf := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(ev.data))
			want := []sse.Event{{ID: "7", Type: typ, Data: lf}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("frame of %+v parsed back (-want +got):\n%s", ev, diff)
			}
		}
	})
}
