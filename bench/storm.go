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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/transport/sse"
)

// StormTopic is the topic every stream of a shared-topic resume storm
// follows.
const StormTopic = "storm"

// resetEvent is the event a hub sends instead of history it cannot serve
// (PRODUCT.md, "Subscribe").
const resetEvent = "ssehub.reset"

// publishBatchSize is how many events one publish request carries while
// preparing a storm: the hub's default --max-batch.
const publishBatchSize = 1000

// StormConfig tunes RunResumeStorm. Zero fields take the documented
// defaults.
type StormConfig struct {
	// Streams is how many streams resume at once. Zero means 10,000; at
	// most MaxGeneratorStreams.
	Streams int
	// Events is how many events are published to each stream's topic
	// before the storm. Zero means 100.
	Events int
	// ResumeFrom is the index of the event whose id every stream sends as
	// Last-Event-ID, so each misses Events-1-ResumeFrom events. Zero, the
	// first event, is the default.
	ResumeFrom int
	// Topics is the layout: TopicsShared puts every stream on StormTopic,
	// TopicsUnique puts stream i on "user/i" (each topic gets Events events
	// of its own). Empty means TopicsShared.
	Topics string
	// Sources and Concurrency are as for OpenStreams: Concurrency bounds
	// the streams connecting at once, until their response head arrives.
	Sources     []string
	Concurrency int
	// Timeout bounds the run: publishing and the storm. Zero means 120s.
	Timeout time.Duration
}

func (c StormConfig) withDefaults() StormConfig {
	setDefault(&c.Streams, defaultStreams)
	setDefault(&c.Events, 100)
	if c.Topics == "" {
		c.Topics = TopicsShared
	}
	setDefault(&c.Concurrency, DefaultConcurrency)
	setDefault(&c.Timeout, 120*time.Second)
	return c
}

// StormResult is what RunResumeStorm measured.
type StormResult struct {
	Streams int    `json:"streams"` // asked for
	Hubs    int    `json:"hubs"`
	Topics  string `json:"topics"`
	// Events were published to each topic; each stream missed Missed of
	// them.
	Events int `json:"events_per_topic"`
	Missed int `json:"missed_per_stream"`
	// Published is how many events were published before the storm, in
	// PublishTime.
	Published   int           `json:"events_published"`
	PublishTime time.Duration `json:"publish_ns"`

	// Connected is how many streams got their 200 response head;
	// ConnectErrors how many did not, ConnectError says why (examples).
	Connected     int    `json:"connected"`
	ConnectErrors int    `json:"connect_errors"`
	ConnectError  string `json:"connect_error,omitempty"`
	// CaughtUp is how many streams received all the events they missed.
	CaughtUp int `json:"caught_up"`
	// Resets counts streams answered with ssehub.reset instead of their
	// history; Ended, streams the hub closed before they caught up.
	Resets int `json:"resets"`
	Ended  int `json:"ended"`
	// Disordered counts events whose id was not newer than the one before
	// on their stream (or than the resume point): repeats or reordering.
	// Extra counts events beyond the missed ones that arrived before the
	// storm was over.
	Disordered int `json:"disordered"`
	Extra      int `json:"extra"`
	// Delivered is how many events the streams received in all.
	Delivered int64 `json:"events_delivered"`
	// TimedOut is set when Timeout ended the storm first.
	TimedOut bool `json:"timed_out"`

	// ConnectTime runs from the first connect to the last response head;
	// StormTime from the first connect to the last stream caught up.
	ConnectTime time.Duration `json:"connect_ns"`
	StormTime   time.Duration `json:"storm_ns"`
	// CatchUp* are percentiles of one stream's catch-up time, from its
	// connect to its last missed event, over the streams that caught up.
	CatchUpP50 time.Duration `json:"catch_up_p50_ns"`
	CatchUpP99 time.Duration `json:"catch_up_p99_ns"`
	CatchUpMax time.Duration `json:"catch_up_max_ns"`

	// CPU time used during StormTime: Redis (zero without one), all hubs
	// together, and this generator.
	RedisCPU     time.Duration `json:"redis_cpu_ns"`
	HubCPU       time.Duration `json:"hub_cpu_ns"`
	GeneratorCPU time.Duration `json:"generator_cpu_ns"`
}

// OK reports whether every stream caught up, in order, with nothing extra
// and no reset.
func (r StormResult) OK() bool {
	return r.CaughtUp == r.Streams && r.Resets == 0 && r.Disordered == 0 && r.Extra == 0 && !r.TimedOut
}

// RunResumeStorm measures how fast hubs serve a reconnect storm: every
// stream reconnects at once with a Last-Event-ID and must catch up on the
// events it missed from history.
//
// It publishes cfg.Events events to each topic through hubs[0], then opens
// cfg.Streams streams, stream i on hubs[i % len(hubs)], each resuming after
// event cfg.ResumeFrom of its topic, and waits until each has received
// every event after it. redis, if not nil, is the hubs' Redis, whose CPU
// time is measured too. Nothing is published during the storm.
//
// Failed connects, resets and a timeout do not stop the measurement: the
// result says what happened (OK). The streams are closed before it
// returns; the hubs keep running.
func RunResumeStorm(ctx context.Context, hubs []*HubProcess, redis *RedisProcess, cfg StormConfig) (StormResult, error) {
	cfg = cfg.withDefaults()
	res := StormResult{Streams: cfg.Streams, Hubs: len(hubs), Topics: cfg.Topics, Events: cfg.Events,
		Missed: cfg.Events - 1 - cfg.ResumeFrom}
	switch {
	case len(hubs) == 0:
		return res, errors.New("bench: resume storm needs a hub")
	case cfg.Streams > MaxGeneratorStreams:
		return res, fmt.Errorf("bench: %d streams from one generator process, at most %d fit its open-file limit", cfg.Streams, MaxGeneratorStreams)
	case cfg.ResumeFrom < 0 || cfg.ResumeFrom >= cfg.Events:
		return res, fmt.Errorf("bench: resume from event %d of %d", cfg.ResumeFrom, cfg.Events)
	case cfg.Topics != TopicsShared && cfg.Topics != TopicsUnique:
		return res, fmt.Errorf("bench: topic layout %q, want %q or %q", cfg.Topics, TopicsShared, TopicsUnique)
	}
	if _, err := RaiseFileLimit(); err != nil {
		return res, err
	}
	locals, err := parseSources(cfg.Sources)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	// Publish Events rounds; in each, one event to every topic, so a
	// unique-topic storm's history is interleaved as live traffic would be.
	topicOf, topics := SharedTopic(StormTopic), 1
	if cfg.Topics == TopicsUnique {
		topicOf, topics = UserTopic, cfg.Streams
	}
	start := time.Now()
	ids, err := publishRounds(ctx, hubs[0].Addr, topicOf, topics, cfg.Events)
	res.PublishTime, res.Published = time.Since(start), len(ids)
	if err != nil {
		return res, err
	}
	// Stream i's topic is topicOf(i) = topic i % topics; its resume point
	// is that topic's event ResumeFrom.
	resumeID := func(i int) string { return ids[cfg.ResumeFrom*topics+i%topics] }

	cpu0, err := sampleCPU(hubs, redis)
	if err != nil {
		return res, err
	}
	s := newStorm(cfg.Streams)
	defer s.close()
	s.open(ctx, cfg.Streams, cfg.Concurrency, func(i int) (addr string, local *net.TCPAddr, topic, lastEventID string, want int) {
		return hubs[i%len(hubs)].Addr, locals[i%len(locals)], topicOf(i), resumeID(i), res.Missed
	})
	select {
	case <-s.allDone:
	case <-ctx.Done():
	}
	// Streams that were still connecting when ctx ended fail at once, so
	// allDone may be closed after the deadline too.
	select {
	case <-s.allDone:
		deadline, ok := ctx.Deadline()
		res.TimedOut = ok && s.doneAt.After(deadline)
	default:
		res.TimedOut = true
	}
	cpu1, err := sampleCPU(hubs, redis)
	if err != nil {
		return res, err
	}
	res.RedisCPU, res.HubCPU, res.GeneratorCPU = cpu1.redis-cpu0.redis, cpu1.hubs-cpu0.hubs, cpu1.generator-cpu0.generator
	s.close()
	s.summarize(&res)
	return res, nil
}

// cpuSample is the CPU time used so far by each process in a storm.
type cpuSample struct{ redis, hubs, generator time.Duration }

func sampleCPU(hubs []*HubProcess, redis *RedisProcess) (cpuSample, error) {
	var c cpuSample
	var err error
	if redis != nil {
		if c.redis, err = redis.CPU(); err != nil {
			return c, err
		}
	}
	for _, h := range hubs {
		d, err := h.CPU()
		if err != nil {
			return c, err
		}
		c.hubs += d
	}
	c.generator, err = GeneratorCPU()
	return c, err
}

// publishRounds publishes rounds events to each of topics topics (topic j
// is topicOf(j)), round by round, through the hub at addr, and returns the
// ids in that order: event r of topic j has id ids[r*topics+j].
func publishRounds(ctx context.Context, addr string, topicOf func(int) string, topics, rounds int) ([]string, error) {
	type event struct {
		Topic string `json:"topic"`
		Data  string `json:"data"`
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	total := topics * rounds
	ids := make([]string, 0, total)
	batch := make([]event, 0, publishBatchSize)
	for k := 0; k < total; k += len(batch) {
		batch = batch[:0]
		for e := k; e < min(k+publishBatchSize, total); e++ {
			r, j := e/topics, e%topics
			// 64 bytes of data, a typical small notification.
			data := fmt.Sprintf("round %d of topic %d", r, j)
			batch = append(batch, event{Topic: topicOf(j), Data: data + strings.Repeat(".", max(0, 64-len(data)))})
		}
		got, err := publish(ctx, client, addr, batch)
		if err != nil {
			return ids, fmt.Errorf("publish events %d-%d of %d: %w", k, k+len(batch)-1, total, err)
		}
		if len(got) != len(batch) {
			return ids, fmt.Errorf("publish events %d-%d of %d: %d ids for %d events", k, k+len(batch)-1, total, len(got), len(batch))
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// publish sends one POST /publish with body v and returns the ids.
func publish(ctx context.Context, client *http.Client, addr string, v any) ([]string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/publish", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST /publish: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var out struct{ IDs []string }
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("POST /publish: %w", err)
	}
	return out.IDs, nil
}

// storm is a set of resuming streams and what they received.
type storm struct {
	streams []*stormStream // written by open before it returns

	// pending counts streams not yet finished (caught up, or failed);
	// allDone is closed when it reaches zero, doneAt set just before.
	pending atomic.Int64
	allDone chan struct{}
	doneAt  time.Time

	mu         sync.Mutex // guards connectErr and firstErrs
	connectErr int
	firstErrs  []error // the first few connect errors, as examples

	readers   sync.WaitGroup // the reader goroutines
	closing   atomic.Bool    // set by close: readers ending now did not fail
	closeOnce sync.Once
	start     time.Time // the first connect
}

func newStorm(n int) *storm {
	s := &storm{streams: make([]*stormStream, n), allDone: make(chan struct{})}
	s.pending.Store(int64(n))
	return s
}

// finish counts one stream as finished. Each stream calls it once.
func (s *storm) finish() {
	if s.pending.Add(-1) == 0 {
		s.doneAt = time.Now()
		close(s.allDone)
	}
}

// stormStream is one resuming stream. Its fields are owned by whoever
// reads it: the connecting worker, then its reader goroutine; the storm
// reads them only after both are done.
type stormStream struct {
	storm  *storm
	conn   *net.TCPConn
	parser sse.Parser

	start    time.Time     // connect began
	headAt   time.Time     // the response head arrived
	want     int           // events missed
	got      int           // events received
	last     eventid.ID    // the newest id received, at first the resume point
	caughtUp time.Duration // from start to the want-th event; zero until then
	finished bool          // storm.finish was called for it

	reset, ended      bool
	disordered, extra int
}

// open connects the n streams with at most concurrency connecting at once;
// stream i is described by spec(i). Each connected stream is read by its
// own goroutine from then on. Every stream is finished or being read when
// open returns.
func (s *storm) open(ctx context.Context, n, concurrency int, spec func(i int) (addr string, local *net.TCPAddr, topic, lastEventID string, want int)) {
	var (
		next    atomic.Int64
		workers sync.WaitGroup
	)
	s.start = time.Now()
	for range min(concurrency, n) {
		workers.Go(func() {
			head := make([]byte, 4<<10) // this worker's read buffer for heads
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				addr, local, topic, lastEventID, want := spec(i)
				st := &stormStream{storm: s, want: want, start: time.Now()}
				s.streams[i] = st
				if err := st.connect(ctx, addr, local, topic, lastEventID, head); err != nil {
					s.mu.Lock()
					s.connectErr++
					if len(s.firstErrs) < 3 {
						s.firstErrs = append(s.firstErrs, fmt.Errorf("stream %d topic=%q: %w", i, topic, err))
					}
					s.mu.Unlock()
					st.finish()
					continue
				}
				s.readers.Add(1)
				go st.read()
			}
		})
	}
	workers.Wait()
}

// connect dials, sends the resume request and reads the response head,
// feeding whatever came after it to the parser. buf is scratch space.
func (st *stormStream) connect(ctx context.Context, addr string, local *net.TCPAddr, topic, lastEventID string, buf []byte) error {
	var err error
	if st.last, err = eventid.Parse(lastEventID); err != nil {
		return fmt.Errorf("resume id %q: %w", lastEventID, err)
	}
	st.parser.OnEvent = st.onEvent
	conn, err := dialStream(ctx, addr, local, func(conn net.Conn) error {
		return st.readHead(conn, subscribeRequest(topic, lastEventID), buf)
	})
	if err != nil {
		return err
	}
	st.conn = conn
	return nil
}

// readHead sends req and reads the response head into buf; the bytes after
// it go to the parser. ssehub writes the head together with the replay,
// so they usually hold events already.
func (st *stormStream) readHead(conn net.Conn, req string, buf []byte) error {
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	n := 0
	for {
		if n == len(buf) {
			return fmt.Errorf("bench: response head over %d bytes", len(buf))
		}
		m, err := conn.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			if err := checkHead(string(buf[:i])); err != nil {
				return err
			}
			st.headAt = time.Now()
			if st.want == 0 {
				st.done() // nothing missed: caught up on arrival
			}
			st.parser.Feed(buf[i+4 : n])
			return nil
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read response head: %w", err)
		}
	}
}

// onEvent counts one event: Parser.OnEvent.
func (st *stormStream) onEvent(ev sse.Event) {
	if ev.Type == resetEvent {
		st.reset = true
		st.finish() // it will get no history: it cannot catch up
		return
	}
	id, err := eventid.Parse(ev.ID)
	if err != nil || !st.last.Less(id) {
		st.disordered++
	}
	if err == nil {
		st.last = id
	}
	st.got++
	switch {
	case st.got == st.want:
		st.done()
	case st.got > st.want:
		st.extra++
	}
}

// done records that st has caught up.
func (st *stormStream) done() {
	st.caughtUp = max(time.Since(st.start), 1) // nonzero: zero means not caught up
	st.finish()
}

func (st *stormStream) finish() {
	if !st.finished {
		st.finished = true
		st.storm.finish()
	}
}

// read feeds what the hub sends to the parser until the stream ends or the
// storm is closed. It runs in its own goroutine, started by open.
//
// Like Streams.drain it reads through readSocket, so a stream holds a
// shared buffer only while it has data to read.
func (st *stormStream) read() {
	defer st.storm.readers.Done()
	readSocket(st.conn, st.parser.Feed)
	if !st.storm.closing.Load() && !st.finished {
		st.ended = true
		st.finish()
	}
}

// close closes every stream and waits for the readers to end.
func (s *storm) close() {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		for _, st := range s.streams {
			if st != nil && st.conn != nil {
				_ = st.conn.Close()
			}
		}
		s.readers.Wait()
	})
}

// summarize fills in res from the streams. Call it after close.
func (s *storm) summarize(res *StormResult) {
	var catchUps []time.Duration
	var lastHead, lastCaughtUp time.Time
	for _, st := range s.streams {
		if st == nil { // never started: the storm timed out first
			res.ConnectErrors++
			continue
		}
		if st.conn == nil {
			continue // counted in connectErr
		}
		res.Connected++
		if st.headAt.After(lastHead) {
			lastHead = st.headAt
		}
		res.Delivered += int64(st.got)
		res.Disordered += st.disordered
		res.Extra += st.extra
		if st.reset {
			res.Resets++
		}
		if st.ended {
			res.Ended++
		}
		if st.caughtUp > 0 {
			res.CaughtUp++
			catchUps = append(catchUps, st.caughtUp)
			if t := st.start.Add(st.caughtUp); t.After(lastCaughtUp) {
				lastCaughtUp = t
			}
		}
	}
	res.ConnectErrors += s.connectErr
	if len(s.firstErrs) > 0 {
		res.ConnectError = errors.Join(s.firstErrs...).Error()
	}
	if !lastHead.IsZero() {
		res.ConnectTime = lastHead.Sub(s.start)
	}
	if !lastCaughtUp.IsZero() {
		res.StormTime = lastCaughtUp.Sub(s.start)
	}
	slices.Sort(catchUps)
	res.CatchUpP50 = percentile(catchUps, 50)
	res.CatchUpP99 = percentile(catchUps, 99)
	res.CatchUpMax = percentile(catchUps, 100)
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method, or zero for no values.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// WriteTable writes r as a Markdown table, as pasted into BENCHMARKS.md.
func (r StormResult) WriteTable(w io.Writer) error {
	topics := "all on " + strconv.Quote(StormTopic)
	if r.Topics == TopicsUnique {
		topics = "stream i on \"user/i\""
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	storm := secs(r.StormTime)
	if r.TimedOut {
		storm = "timed out; last catch-up at " + storm
	}
	rows := [][2]string{
		{"streams", fmt.Sprintf("%d on %d hub(s), topics %s (%s)", r.Streams, r.Hubs, r.Topics, topics)},
		{"history", fmt.Sprintf("%d events per topic, %d published in %s; each stream missed %d", r.Events, r.Published, secs(r.PublishTime), r.Missed)},
		{"connected", fmt.Sprintf("%d of %d, %d connect errors", r.Connected, r.Streams, r.ConnectErrors)},
		{"caught up", fmt.Sprintf("%d of %d", r.CaughtUp, r.Streams)},
		{"resets / ended early", fmt.Sprintf("%d / %d", r.Resets, r.Ended)},
		{"out of order or repeated / extra", fmt.Sprintf("%d / %d", r.Disordered, r.Extra)},
		{"events delivered", fmt.Sprintf("%d", r.Delivered)},
		{"connect time (first connect to last head)", secs(r.ConnectTime)},
		{"storm time (first connect to all caught up)", storm},
		{"per-stream catch-up p50 / p99 / max", ms(r.CatchUpP50) + " / " + ms(r.CatchUpP99) + " / " + ms(r.CatchUpMax)},
	}
	if r.StormTime > 0 {
		rows = append(rows, [2]string{"delivery rate", fmt.Sprintf("%.0f events/s", float64(r.Delivered)/r.StormTime.Seconds())})
	}
	rows = append(rows,
		[2]string{"Redis CPU during storm", secs(r.RedisCPU)},
		[2]string{"hub CPU during storm", secs(r.HubCPU) + fmt.Sprintf(" (%d hub(s))", r.Hubs)},
		[2]string{"generator CPU during storm", secs(r.GeneratorCPU)},
	)
	if r.ConnectError != "" {
		rows = append(rows, [2]string{"connect errors", strings.ReplaceAll(r.ConnectError, "\n", "; ")})
	}
	return writeTable(w, rows)
}
