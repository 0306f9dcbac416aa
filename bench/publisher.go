package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// maxPublishBatch is the most events one ssehub publish request carries:
// the hub's default --max-batch.
const maxPublishBatch = 1000

// maxPublishBytes bounds a publish request's body, under the hub's default
// --max-body-size of 1 MiB; eventOverhead is a generous size of one
// event's JSON without padding.
const (
	maxPublishBytes = 768 << 10
	eventOverhead   = 128
)

// PublishTemplate describes how to publish one event to a server that is
// not ssehub: a request whose URL and body have "{topic}" and "{data}"
// where the event's topic and data go (query-escaped in the URL and in
// form bodies, as-is otherwise).
type PublishTemplate struct {
	Method      string   `json:"method"`
	URL         string   `json:"url"`
	ContentType string   `json:"content_type"`
	Body        string   `json:"body"`
	Headers     []string `json:"headers,omitempty"`
}

// Publisher publishes bench events (AppendPayload) at a steady rate and
// keeps each topic's sequence numbers.
//
// Events of one topic must reach the server in sequence order, or streams
// would see them reordered through no fault of the server: topics are
// split over Lanes by hash, and each lane has one request in flight at a
// time, so one topic's events are never in flight twice.
type Publisher struct {
	// Targets are the servers' host:port addresses. Lane k publishes to
	// Targets[k % len(Targets)], moving on to the next one after a
	// failed request.
	Targets []string
	// Lanes is how many requests may be in flight at once; zero means 4.
	Lanes int
	// Pad is how many bytes of padding each event's data carries.
	Pad int
	// Batch is the most events one request carries; zero means as many
	// as the server takes.
	Batch int
	// Template, if not nil, publishes one event per request through it
	// instead of ssehub's JSON batches.
	Template *PublishTemplate
	// Headers are added to every publish request, such as
	// "Authorization: Bearer x".
	Headers []string

	seqs map[string]uint64 // owned by Run

	published atomic.Int64 // events the server accepted
	failed    atomic.Int64 // events in requests that failed on every target
	firstErr  atomic.Pointer[string]
}

// pubEvent is one event waiting in a lane.
type pubEvent struct {
	topic string
	seq   uint64
}

// lane queues the events of its topics and sends them in order.
type lane struct {
	p      *Publisher
	client *http.Client
	target int

	mu      sync.Mutex // guards queue and closed
	queue   []pubEvent
	closed  bool
	wake    chan struct{} // 1-buffered: the queue may have grown
	scratch []byte        // the request body, reused; owned by send
}

// Published returns how many events the server accepted so far.
func (p *Publisher) Published() int64 { return p.published.Load() }

// Failed returns how many events could not be published.
func (p *Publisher) Failed() int64 { return p.failed.Load() }

// FirstError returns an example publish error, or "".
func (p *Publisher) FirstError() string {
	if e := p.firstErr.Load(); e != nil {
		return *e
	}
	return ""
}

// Final returns the last sequence number published to each topic. Call it
// after Run returned.
func (p *Publisher) Final() map[string]uint64 {
	out := make(map[string]uint64, len(p.seqs))
	for t, s := range p.seqs {
		out[t] = s
	}
	return out
}

// Run publishes rate events per second for d (or until ctx ends), taking
// each event's topic from next, and returns once every event made has been
// sent. A rate of 0 publishes as fast as the lanes send: each request
// carries what queued while the one before was in flight, up to the
// batch limit, topped up to batch events.
func (p *Publisher) Run(ctx context.Context, rate float64, d time.Duration, next func() string) {
	if p.seqs == nil {
		p.seqs = make(map[string]uint64)
	}
	lanes := make([]*lane, max(p.Lanes, 1))
	if p.Lanes == 0 {
		lanes = make([]*lane, 4)
	}
	var wg sync.WaitGroup
	for k := range lanes {
		lanes[k] = &lane{p: p, target: k % len(p.Targets), wake: make(chan struct{}, 1),
			client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
		wg.Go(lanes[k].run)
	}
	defer func() {
		for _, l := range lanes {
			l.close()
		}
		wg.Wait()
		for _, l := range lanes {
			l.client.CloseIdleConnections()
		}
	}()

	add := func() {
		t := next()
		p.seqs[t]++
		lanes[laneOf(t, len(lanes))].push(pubEvent{t, p.seqs[t]})
	}
	start := time.Now()
	end := start.Add(d)
	if rate <= 0 {
		// Saturate: keep a batch queued, so the lanes never wait for
		// events. (Topics hash to lanes, so only the total is topped up.)
		depth := func() (n int) {
			for _, l := range lanes {
				n += l.depth()
			}
			return n
		}
		for ctx.Err() == nil && time.Now().Before(end) {
			for depth() < maxPublishBatch {
				add()
			}
			time.Sleep(time.Millisecond)
		}
		return
	}
	tick := max(time.Duration(float64(time.Second)/rate), 10*time.Millisecond)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	made := 0
	for {
		now := time.Now()
		upTo := now
		if upTo.After(end) {
			upTo = end
		}
		due := int(rate * upTo.Sub(start).Seconds())
		if made == 0 {
			due = max(due, 1) // the first event goes out at once
		}
		for ; made < due; made++ {
			add()
		}
		if !now.Before(end) {
			return
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return
		}
	}
}

// laneOf is the lane of n that publishes topic t's events.
func laneOf(t string, n int) int { return int(xxhash.Sum64String(t) % uint64(n)) }

// LaneTopics returns n topics under prefix, one published by each of n
// lanes: publishing to them round robin keeps every lane busy. (Topics
// hash to lanes, so prefix/0 ... prefix/n-1 would leave some idle.)
func LaneTopics(prefix string, n int) []string {
	topics := make([]string, n)
	for i, found := 0, 0; found < n; i++ {
		t := prefix + "/" + strconv.Itoa(i)
		if k := laneOf(t, n); topics[k] == "" {
			topics[k] = t
			found++
		}
	}
	return topics
}

func (l *lane) push(e pubEvent) {
	l.mu.Lock()
	l.queue = append(l.queue, e)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *lane) depth() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

func (l *lane) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run sends the queue in order until the lane is closed and empty. It runs
// in the lane's own goroutine.
func (l *lane) run() {
	for {
		l.mu.Lock()
		batch, closed := l.queue, l.closed
		// ssehub takes at most maxPublishBatch events and 1 MiB a request.
		limit := min(maxPublishBatch, max(maxPublishBytes/(l.p.Pad+eventOverhead), 1))
		if l.p.Template != nil {
			limit = 1
		}
		if l.p.Batch > 0 {
			limit = min(limit, l.p.Batch)
		}
		if len(batch) > limit {
			n := limit
			batch = batch[:n:n]
			l.queue = l.queue[n:]
		} else {
			l.queue = nil
		}
		l.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-l.wake
			continue
		}
		l.send(batch)
	}
}

// send publishes batch. If a target cannot be reached it tries the next
// one; any other failure is final, because the server may have published
// the events before failing, and sending them again would repeat them.
func (l *lane) send(batch []pubEvent) {
	var err error
	for range len(l.p.Targets) {
		if err = l.sendTo(l.p.Targets[l.target], batch); err == nil {
			l.p.published.Add(int64(len(batch)))
			return
		}
		l.target = (l.target + 1) % len(l.p.Targets)
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			break
		}
	}
	l.p.failed.Add(int64(len(batch)))
	msg := err.Error()
	l.p.firstErr.CompareAndSwap(nil, &msg)
}

// sendTo makes and sends one request for batch, stamping the events now.
func (l *lane) sendTo(target string, batch []pubEvent) error {
	now := time.Now()
	var req *http.Request
	var err error
	if t := l.p.Template; t != nil {
		e := batch[0]
		data := string(AppendPayload(l.scratch[:0], e.topic, e.seq, now, l.p.Pad))
		body := strings.NewReplacer("{topic}", e.topic, "{data}", data)
		if strings.HasPrefix(t.ContentType, "application/x-www-form-urlencoded") {
			body = strings.NewReplacer("{topic}", url.QueryEscape(e.topic), "{data}", url.QueryEscape(data))
		}
		u := strings.NewReplacer("{topic}", url.QueryEscape(e.topic), "{data}", url.QueryEscape(data)).Replace(t.URL)
		req, err = http.NewRequest(t.Method, u, strings.NewReader(body.Replace(t.Body)))
		if err == nil {
			req.Header.Set("Content-Type", t.ContentType)
			addHeaderLines(req.Header, t.Headers)
		}
	} else {
		l.scratch = appendPublishBody(l.scratch[:0], batch, now, l.p.Pad)
		req, err = http.NewRequest(http.MethodPost, "http://"+target+"/publish", bytes.NewReader(l.scratch))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return err
	}
	addHeaderLines(req.Header, l.p.Headers)
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("publish to %s: %s: %s", req.URL.Host, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// appendPublishBody appends ssehub's JSON batch for events stamped at now.
func appendPublishBody(dst []byte, batch []pubEvent, now time.Time, pad int) []byte {
	dst = append(dst, '[')
	for i, e := range batch {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"topic":`...)
		dst = appendJSONString(dst, e.topic)
		dst = append(dst, `,"data":"`...)
		dst = AppendPayload(dst, e.topic, e.seq, now, pad) // no character needs escaping
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// addHeaderLines adds "Name: value" lines to h.
func addHeaderLines(h http.Header, lines []string) {
	for _, line := range lines {
		if name, value, ok := strings.Cut(line, ":"); ok {
			h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
}
