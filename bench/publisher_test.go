package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/topic"
)

// TestAppendPublishBody decodes the batch as ssehub's POST /publish does
// (transport/httpapi/publishreq.go): a JSON array of objects with exactly the
// fields topic and data, both strings, a valid topic each, at most the
// hub's default batch.
func TestAppendPublishBody(t *testing.T) {
	now := time.Unix(1732700000, 123456789)
	many := make([]pubEvent, maxPublishBatch)
	for i := range many {
		many[i] = pubEvent{topic: UserTopic(i), seq: uint64(i + 1)}
	}
	tests := []struct {
		name  string
		batch []pubEvent
		pad   int
	}{
		{"one", []pubEvent{{"bench/all", 1}}, 0},
		{"mixed topics", []pubEvent{{"bench/all", 7}, {"user/3", 1}, {"feed/2/1", 42}, {"a.b:c@d_-", 9}}, 0},
		{"padded", []pubEvent{{"bench/all", 1}, {"bench/all", 2}}, 4096},
		{"full batch", many, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scratch := []byte("left over from the request before")
			body := appendPublishBody(scratch[:0], tt.batch, now, tt.pad)
			var events []map[string]json.RawMessage
			if err := json.Unmarshal(body, &events); err != nil {
				t.Fatalf("appendPublishBody = %.200q: %v", body, err)
			}
			if len(events) != len(tt.batch) || len(events) > maxPublishBatch {
				t.Fatalf("appendPublishBody: %d events, want %d (at most %d)", len(events), len(tt.batch), maxPublishBatch)
			}
			for i, ev := range events {
				if keys := slices.Sorted(maps.Keys(ev)); !slices.Equal(keys, []string{"data", "topic"}) {
					t.Fatalf("event %d has fields %q, want data and topic", i, keys)
				}
				var name, data string
				if err := json.Unmarshal(ev["topic"], &name); err != nil {
					t.Fatalf("event %d: topic %s: %v", i, ev["topic"], err)
				}
				if err := json.Unmarshal(ev["data"], &data); err != nil {
					t.Fatalf("event %d: data %s: %v", i, ev["data"], err)
				}
				want := tt.batch[i]
				if name != want.topic || topic.ValidateTopic(name) != nil {
					t.Errorf("event %d: topic %q, want %q (valid: %v)", i, name, want.topic, topic.ValidateTopic(name))
				}
				got, seq, sent, ok := ParsePayload([]byte(data))
				if !ok || string(got) != want.topic || seq != want.seq || sent != now.UnixNano() {
					t.Errorf("event %d: ParsePayload(%.80q) = %q, %d, %d, %t; want %q, %d, %d",
						i, data, got, seq, sent, ok, want.topic, want.seq, now.UnixNano())
				}
				if data != string(AppendPayload(nil, want.topic, want.seq, now, tt.pad)) {
					t.Errorf("event %d: data is not AppendPayload's, padding included", i)
				}
			}
		})
	}
}

// LaneTopics gives each lane exactly one topic, so that publishing to
// them round robin keeps every lane busy.
func TestLaneTopics(t *testing.T) {
	for _, n := range []int{1, 2, 16, 64} {
		topics := LaneTopics("flood", n)
		lanes := make(map[int]string)
		for _, tp := range topics {
			k := laneOf(tp, n)
			if prev, ok := lanes[k]; ok {
				t.Errorf("LaneTopics(flood, %d): %q and %q share lane %d", n, prev, tp, k)
			}
			lanes[k] = tp
		}
		if len(topics) != n || len(lanes) != n {
			t.Errorf("LaneTopics(flood, %d) = %d topics on %d lanes, want %d", n, len(topics), len(lanes), n)
		}
	}
}

func TestRefusal(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	const (
		overloaded  = `{"error":{"code":"overloaded","message":"the hub is overloaded"}}`
		rateLimited = `{"error":{"code":"rate_limited","message":"over the publish rate"}}`
		unavailable = `{"error":{"code":"broker_unavailable","message":"redis timed out"}}`
	)
	tests := []struct {
		name       string
		status     int
		retryAfter string // "" sends none
		body       string
		want       time.Duration
		wantOK     bool
	}{
		{"ssehub overloaded", 503, "1", overloaded, time.Second, true},
		{"ssehub rate limited", 429, "3", rateLimited, 3 * time.Second, true},
		{"retry at once", 503, "0", overloaded, 0, true},
		{"capped", 429, "3600", rateLimited, maxRetryAfter, true},
		{"huge", 429, "99999999999999999999", rateLimited, 0, false},
		{"HTTP date", 503, now.Add(2 * time.Second).Format(http.TimeFormat), overloaded, 2 * time.Second, true},
		{"HTTP date passed", 503, now.Add(-time.Minute).Format(http.TimeFormat), overloaded, 0, true},
		{"other server, any body", 503, "2", "busy\n", 2 * time.Second, true},
		{"other server, other JSON", 429, "1", `{"message":"slow down"}`, time.Second, true},
		{"no Retry-After", 503, "", overloaded, 0, false},
		{"bad Retry-After", 503, "soon", overloaded, 0, false},
		{"negative Retry-After", 503, "-1", overloaded, 0, false},
		{"ssehub broker unavailable", 503, "1", unavailable, 0, false},
		{"not a refusal status", 500, "1", overloaded, 0, false},
		{"accepted", 200, "1", `{"ids":["1"]}`, 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.retryAfter != "" {
			h.Set("Retry-After", tt.retryAfter)
		}
		got, ok := refusal(tt.status, h, []byte(tt.body), now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: refusal(%d, Retry-After %q, %s) = %v, %t; want %v, %t",
				tt.name, tt.status, tt.retryAfter, tt.body, got, ok, tt.want, tt.wantOK)
		}
	}
}

// fakePublishAPI is ssehub's POST /publish that refuses the requests its
// refuse function picks as an overloaded hub does: 503, code overloaded,
// Retry-After as refuse says, nothing published. It records what it
// published.
type fakePublishAPI struct {
	refuse func(n int) (retryAfter string, ok bool) // n counts requests from 1
	delay  time.Duration                            // how long each request takes

	mu            sync.Mutex
	requests      int
	published     map[string][]uint64    // per topic, the sequence numbers published, in order
	refusedEvents int                    // events in refused requests
	retryAt       map[pubEvent]time.Time // for each event refused and not sent again yet, when it may be
	early         time.Duration          // the most an event came back before its Retry-After was up
}

func newFakePublishAPI(refuse func(n int) (string, bool)) *fakePublishAPI {
	return &fakePublishAPI{refuse: refuse, published: make(map[string][]uint64), retryAt: make(map[pubEvent]time.Time)}
}

func (f *fakePublishAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var batch []struct{ Topic, Data string }
	if err := json.NewDecoder(r.Body).Decode(&batch); err != nil || len(batch) == 0 {
		http.Error(w, fmt.Sprintf("bad batch: %v", err), http.StatusBadRequest)
		return
	}
	time.Sleep(f.delay)
	now := time.Now()
	events := make([]pubEvent, len(batch))
	for i, e := range batch {
		tp, seq, _, ok := ParsePayload([]byte(e.Data))
		if !ok || string(tp) != e.Topic {
			http.Error(w, "bad payload "+e.Data, http.StatusBadRequest)
			return
		}
		events[i] = pubEvent{e.Topic, seq}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	for _, e := range events {
		if at, ok := f.retryAt[e]; ok {
			f.early = max(f.early, at.Sub(now))
			delete(f.retryAt, e)
		}
	}
	if after, ok := f.refuse(f.requests); ok {
		f.refusedEvents += len(events)
		secs, _ := strconv.Atoi(after)
		for _, e := range events {
			f.retryAt[e] = now.Add(time.Duration(secs) * time.Second)
		}
		w.Header().Set("Retry-After", after)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"code":"overloaded","message":"the hub is overloaded"}}`)
		return
	}
	for _, e := range events {
		f.published[e.topic] = append(f.published[e.topic], e.seq)
	}
	io.WriteString(w, `{"ids":[]}`)
}

// check fails t unless each topic's events were published once each, in
// order, from 1 up to what p's Final says, and p counted them.
func (f *fakePublishAPI) check(t *testing.T, p *Publisher) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	final := p.Final()
	total := 0
	for tp, seqs := range f.published {
		total += len(seqs)
		for i, seq := range seqs {
			if seq != uint64(i+1) {
				t.Errorf("topic %s: event %d published is number %d, want %d: lost, repeated or reordered", tp, i+1, seq, i+1)
				break
			}
		}
		if final[tp] != uint64(len(seqs)) {
			t.Errorf("Final()[%s] = %d, want %d, the last published", tp, final[tp], len(seqs))
		}
	}
	if len(final) != len(f.published) {
		t.Errorf("Final() = %v, want the %d topics published", final, len(f.published))
	}
	if p.Published() != int64(total) || p.Failed() != 0 {
		t.Errorf("Published(), Failed() = %d, %d; want %d, 0", p.Published(), p.Failed(), total)
	}
}

// A refused publish is sent again after Retry-After: nothing is lost,
// repeated or reordered, refusals are counted apart from failures, and
// every request's latency is recorded.
func TestPublisherRetriesRefusals(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64 // 0: unpaced
		batch int
	}{
		{"unpaced, one event per request", 0, 1},
		{"paced, batches", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Requests 3 to 6 are refused, to be retried at once; request
			// 9 must be waited out for a second.
			api := newFakePublishAPI(func(n int) (string, bool) {
				switch {
				case n >= 3 && n <= 6:
					return "0", true
				case n == 9:
					return "1", true
				}
				return "", false
			})
			srv := httptest.NewServer(api)
			defer srv.Close()
			topics := LaneTopics("t", 2)
			p := &Publisher{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}, Lanes: 2, Batch: tt.batch}
			i := 0
			p.Run(context.Background(), tt.rate, 1500*time.Millisecond, func() string {
				i++
				return topics[i%len(topics)]
			})

			api.check(t, p)
			api.mu.Lock()
			defer api.mu.Unlock()
			if p.Refused() != 5 || p.RefusedEvents() != int64(api.refusedEvents) {
				t.Errorf("Refused(), RefusedEvents() = %d, %d; want 5, %d", p.Refused(), p.RefusedEvents(), api.refusedEvents)
			}
			if len(api.retryAt) != 0 || api.early > 0 {
				t.Errorf("%d refused events never sent again, one sent again %v before its Retry-After was up; want none, none",
					len(api.retryAt), api.early)
			}
			if l := p.PublishLatency(); l.Count != int64(api.requests) || l.Max <= 0 || l.Max > 5*time.Second {
				t.Errorf("PublishLatency() = %+v, want %d requests timed", l, api.requests)
			}
			if tt.rate > 0 && (p.Unsent() != 0 || p.Published() < 400) {
				t.Errorf("paced: Published(), Unsent() = %d, %d; want every event due (600) published", p.Published(), p.Unsent())
			}
		})
	}
}

// When the run ends while a lane waits to send refused events again,
// they and what is queued behind them are given up without delay, left
// out of Final, and their sequence numbers given out again: the next run
// goes on from the last event published.
func TestPublisherGivesUpRefusedEventsAtTheEnd(t *testing.T) {
	var refusing atomic.Bool
	refusing.Store(true)
	api := newFakePublishAPI(func(n int) (string, bool) { return "5", n > 10 && refusing.Load() })
	srv := httptest.NewServer(api)
	defer srv.Close()
	topics := LaneTopics("t", 2)
	p := &Publisher{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}, Lanes: 2, Batch: 1}
	i := 0
	next := func() string {
		i++
		return topics[i%len(topics)]
	}

	start := time.Now()
	p.Run(context.Background(), 0, 300*time.Millisecond, next)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run for 300ms took %v, waiting out Retry-After: 5 after the end", d)
	}
	api.check(t, p)
	if p.Published() != 10 || p.Refused() != 2 || p.Unsent() == 0 {
		t.Errorf("Published(), Refused(), Unsent() = %d, %d, %d; want 10, 2 (one per lane), some",
			p.Published(), p.Refused(), p.Unsent())
	}

	refusing.Store(false)
	p.Run(context.Background(), 0, 200*time.Millisecond, next)
	api.check(t, p)
	if p.Published() <= 10 {
		t.Errorf("Published() = %d after a second run, want more than 10", p.Published())
	}
}

// Unpaced, what is queued when the run ends is given up, not sent: a
// server that takes its time would keep the phase going long after its
// end.
func TestPublisherUnpacedStopsAtTheEnd(t *testing.T) {
	api := newFakePublishAPI(func(int) (string, bool) { return "", false })
	api.delay = 20 * time.Millisecond
	srv := httptest.NewServer(api)
	defer srv.Close()
	topics := LaneTopics("t", 2)
	p := &Publisher{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}, Lanes: 2, Batch: 1}
	i := 0
	start := time.Now()
	p.Run(context.Background(), 0, 200*time.Millisecond, func() string {
		i++
		return topics[i%len(topics)]
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run for 200ms of 20ms requests took %v", d)
	}
	api.check(t, p)
	if p.Unsent() == 0 || p.Refused() != 0 {
		t.Errorf("Unsent(), Refused() = %d, %d; want some (the queue), 0", p.Unsent(), p.Refused())
	}
}
