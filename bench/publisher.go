package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ssehub/ssehub/bench/report"
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

// Publisher publishes bench events (AppendPayload) at a steady rate, or
// as fast as the server answers, and keeps each topic's sequence numbers.
//
// Events of one topic must reach the server in sequence order, or streams
// would see them reordered through no fault of the server: topics are
// split over Lanes by hash, and each lane has one request in flight at a
// time, so one topic's events are never in flight twice.
//
// A server that refuses a request for now (429, or 503 with Retry-After:
// see refusal) has published none of it, so the lane waits as told and
// sends the same events again: refusals slow the publisher down without
// losing or reordering anything. Events not yet accepted when a Run ends
// were never published: they are left out of Final, and their sequence
// numbers are given out again.
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

	seqs    *topicSeqs // owned by Run; nil until the first Run
	unpaced bool       // the last Run published as fast as requests returned; owned by Run
	latency *histogram // every request that got a response, from sending it to the response; made by the first Run

	published     atomic.Int64 // events the server accepted
	failed        atomic.Int64 // events in requests that failed on every target
	refused       atomic.Int64 // requests the server refused for now (refusal)
	refusedEvents atomic.Int64 // the events in them, once per refusal
	unsent        atomic.Int64 // events still unaccepted when a Run ended
	firstErr      atomic.Pointer[string]
}

// topicSeqs are each topic's sequence numbers. The phases of a run share
// them: streams check them from the start of the run.
type topicSeqs struct {
	// last is the number last given to an event sent or to be sent.
	last map[string]uint64
	// accepted is the number of the last event the server accepted
	// (answered 2xx for): what every stream must have received.
	accepted map[string]uint64
}

func newTopicSeqs() *topicSeqs {
	return &topicSeqs{last: make(map[string]uint64), accepted: make(map[string]uint64)}
}

// next gives out topic t's next sequence number.
func (s *topicSeqs) next(t string) uint64 {
	s.last[t]++
	return s.last[t]
}

// settle takes in what a lane did: per topic, the last sequence number the
// server accepted, and the first of the events it gave up unsent. Those
// were never published, so their numbers are given out again: the next
// events of the topic follow on without a gap that streams would count as
// lost.
func (s *topicSeqs) settle(accepted, unsentFrom map[string]uint64) {
	maps.Copy(s.accepted, accepted)
	for t, seq := range unsentFrom {
		s.last[t] = seq - 1
	}
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

	mu      sync.Mutex // guards queue, closed and quit
	queue   []pubEvent
	closed  bool          // no more events will be queued
	quit    bool          // nothing more is sent: what is queued is given up
	wake    chan struct{} // 1-buffered: the queue may have grown
	scratch []byte        // the request body, reused; owned by send

	// Owned by run; Run reads them once the lane is done.
	accepted   map[string]uint64 // per topic, the last sequence number accepted
	unsentFrom map[string]uint64 // per topic, the first sequence number given up unsent
}

// Published returns how many events the server accepted so far.
func (p *Publisher) Published() int64 { return p.published.Load() }

// Failed returns how many events could not be published: their requests
// failed, and the server may or may not have published them.
func (p *Publisher) Failed() int64 { return p.failed.Load() }

// Refused returns how many requests the server refused for now, with
// Retry-After: it published nothing of them, and they were sent again
// after the wait while the run lasted.
func (p *Publisher) Refused() int64 { return p.refused.Load() }

// RefusedEvents returns how many events the refused requests carried, an
// event counted again each time it was refused.
func (p *Publisher) RefusedEvents() int64 { return p.refusedEvents.Load() }

// Unsent returns how many events were still not accepted when a Run
// ended: queued, or waiting to be sent again after a refusal. They were
// never published, so they count as neither lost nor failed.
func (p *Publisher) Unsent() int64 { return p.unsent.Load() }

// PublishLatency returns the time from sending each publish request to
// its response, refused requests included; requests that got no response
// are publish errors instead.
func (p *Publisher) PublishLatency() report.Percentiles {
	if p.latency == nil {
		return report.Percentiles{}
	}
	return p.latency.percentiles()
}

// FirstError returns an example publish error, or "".
func (p *Publisher) FirstError() string {
	if e := p.firstErr.Load(); e != nil {
		return *e
	}
	return ""
}

// Final returns, for each topic published to, the sequence number of the
// last event the server accepted, in this publisher's runs and in those of
// the phases before that share its numbers: what every stream following
// the topic must have received. Call it after Run returned.
func (p *Publisher) Final() map[string]uint64 {
	if p.seqs == nil {
		return map[string]uint64{}
	}
	return maps.Clone(p.seqs.accepted)
}

// Run publishes rate events per second for d (or until ctx ends), taking
// each event's topic from next. A rate of 0 publishes as fast as the lanes
// send: each request carries what queued while the one before was in
// flight, up to the batch limit, topped up to batch events.
//
// It returns once every lane is done. Paced, that is once every event made
// has been sent; unpaced, what is still queued at the end is given up
// (Unsent): the queue is only there to keep the lanes busy, and sending it
// to a server that holds its publishers back could take minutes. Either
// way, a refusal is not waited out once the run is over: its events, and
// any queued after them on their lane, are given up.
func (p *Publisher) Run(ctx context.Context, rate float64, d time.Duration, next func() string) {
	if p.seqs == nil {
		p.seqs = newTopicSeqs()
	}
	if p.latency == nil {
		p.latency = newHistogram()
	}
	p.unpaced = rate <= 0
	start := time.Now()
	end := start.Add(d)
	waits, cancel := context.WithDeadline(ctx, end) // ends the lanes' waits after refusals
	defer cancel()
	lanes := make([]*lane, max(p.Lanes, 1))
	if p.Lanes == 0 {
		lanes = make([]*lane, 4)
	}
	var wg sync.WaitGroup
	for k := range lanes {
		l := &lane{p: p, target: k % len(p.Targets), wake: make(chan struct{}, 1),
			client:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
			accepted: make(map[string]uint64), unsentFrom: make(map[string]uint64)}
		lanes[k] = l
		wg.Go(func() { l.run(waits) })
	}
	defer func() {
		for _, l := range lanes {
			l.close(p.unpaced)
		}
		wg.Wait()
		for _, l := range lanes {
			l.client.CloseIdleConnections()
			p.seqs.settle(l.accepted, l.unsentFrom)
		}
	}()

	add := func() {
		t := next()
		lanes[laneOf(t, len(lanes))].push(pubEvent{t, p.seqs.next(t)})
	}
	if p.unpaced {
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
	l.signal()
}

// signal wakes the lane's goroutine if it waits for events.
func (l *lane) signal() {
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

// close tells the lane that no more events come. With discard, what is
// still queued is given up instead of sent.
func (l *lane) close(discard bool) {
	l.mu.Lock()
	l.closed = true
	l.quit = l.quit || discard
	l.mu.Unlock()
	l.signal()
}

// run sends the queue in order until the lane is closed and empty. It runs
// in the lane's own goroutine; waits, when it ends, ends the waits after
// refusals.
func (l *lane) run(waits context.Context) {
	for {
		batch, closed, quit := l.take()
		switch {
		case len(batch) > 0 && quit:
			l.giveUp(batch)
		case len(batch) > 0:
			if !l.send(waits, batch) {
				// What is queued behind the batch cannot go without
				// it: its topics' streams would see a gap that is not
				// the server's doing.
				l.giveUp(batch)
				l.mu.Lock()
				l.quit = true
				l.mu.Unlock()
			}
		case closed:
			return
		default:
			<-l.wake
		}
	}
}

// take takes the next request's events off the queue, or all of them if
// the lane quit.
func (l *lane) take() (batch []pubEvent, closed, quit bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	batch, closed, quit = l.queue, l.closed, l.quit
	if n := l.p.batchLimit(); !quit && len(batch) > n {
		batch = batch[:n:n]
		l.queue = l.queue[n:]
	} else {
		l.queue = nil
	}
	return batch, closed, quit
}

// batchLimit is the most events one request carries.
func (p *Publisher) batchLimit() int {
	if p.Template != nil {
		return 1
	}
	// ssehub takes at most maxPublishBatch events and 1 MiB a request.
	limit := min(maxPublishBatch, max(maxPublishBytes/(p.Pad+eventOverhead), 1))
	if p.Batch > 0 {
		limit = min(limit, p.Batch)
	}
	return limit
}

// giveUp counts batch as never published, and notes where each of its
// topics' unsent events begin.
func (l *lane) giveUp(batch []pubEvent) {
	l.p.unsent.Add(int64(len(batch)))
	for _, e := range batch {
		if _, ok := l.unsentFrom[e.topic]; !ok {
			l.unsentFrom[e.topic] = e.seq
		}
	}
}

// send publishes batch. After a refusal it waits as the server asked and
// sends it again, until waits ends: then it returns false, none of batch
// having been published. Any other failure is final, because the server
// may have published the events before failing, and sending them again
// would repeat them.
func (l *lane) send(waits context.Context, batch []pubEvent) bool {
	for {
		err := l.sendOnce(batch)
		var refused *refusedError
		switch {
		case err == nil:
			l.p.published.Add(int64(len(batch)))
			for _, e := range batch {
				l.accepted[e.topic] = e.seq // in order: the last one is the highest
			}
			return true
		case errors.As(err, &refused):
			l.p.refused.Add(1)
			l.p.refusedEvents.Add(int64(len(batch)))
			if !sleepCtx(waits, refused.after) {
				return false
			}
		default:
			l.p.failed.Add(int64(len(batch)))
			msg := err.Error()
			l.p.firstErr.CompareAndSwap(nil, &msg)
			return true
		}
	}
}

// sendOnce sends batch to the lane's target, or, if a target cannot be
// reached, to the next ones in turn. A failed request moves the lane on
// to the next target; a refused one does not.
func (l *lane) sendOnce(batch []pubEvent) error {
	var err error
	for range len(l.p.Targets) {
		err = l.sendTo(l.p.Targets[l.target], batch)
		var refused *refusedError
		if err == nil || errors.As(err, &refused) {
			return err
		}
		l.target = (l.target + 1) % len(l.p.Targets)
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return err
		}
	}
	return err
}

// sendTo makes and sends one request for batch, stamping the events now
// (a batch sent again after a refusal is stamped again: its latency runs
// from when it was sent, not from when it was first refused).
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
	sent := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	l.p.latency.record(time.Since(sent))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("publish to %s: %s: %s", req.URL.Host, resp.Status, bytes.TrimSpace(body))
	if after, ok := refusal(resp.StatusCode, resp.Header, body, time.Now()); ok {
		return &refusedError{after: after, err: err}
	}
	return err
}

// maxRetryAfter caps the wait after one refusal: Retry-After is the
// server's advice, and a bench phase lasts seconds to minutes.
const maxRetryAfter = 5 * time.Second

// refusedError is a publish request the server refused for now, having
// published none of it.
type refusedError struct {
	after time.Duration // the wait before sending it again
	err   error
}

func (e *refusedError) Error() string { return e.err.Error() }

// refusal reports whether a response refused its request for now, having
// published none of it, and how long to wait before sending it again:
// 429 or 503 with a Retry-After header (RFC 9110, section 10.2.3). A body
// with ssehub's JSON error must have its code overloaded or rate_limited:
// ssehub's other 503s, such as broker_unavailable (the events may or may
// not have been published), are failures, whatever a proxy on the way
// may have added.
func refusal(status int, h http.Header, body []byte, now time.Time) (time.Duration, bool) {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0, false
	}
	after, ok := parseRetryAfter(h.Get("Retry-After"), now)
	if !ok {
		return 0, false
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" && e.Error.Code != "overloaded" && e.Error.Code != "rate_limited" {
		return 0, false
	}
	return after, true
}

// parseRetryAfter parses a Retry-After value, seconds or an HTTP date, as
// a wait of at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if s, err := strconv.ParseUint(v, 10, 64); err == nil {
		return time.Duration(min(s, uint64(maxRetryAfter/time.Second))) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return min(max(at.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
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
