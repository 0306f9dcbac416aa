package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssehub/ssehub/bench/ssewire"
	"github.com/ssehub/ssehub/hub/topic"
)

// WorkerSpec is what one load-generator process does. The coordinator
// sends it as the first JSON line on the worker's stdin.
type WorkerSpec struct {
	// ID names the worker in reports ("worker-<ID>").
	ID int `json:"id"`
	// Source is the local IP the worker's streams connect from, such as
	// "127.0.0.3"; empty is the kernel's choice.
	Source string `json:"source,omitempty"`
	// Targets are the servers' host:port addresses. Stream i first
	// connects to Targets[i % len(Targets)]; a stream that reconnects
	// picks another one at random, as a load balancer would.
	Targets []string `json:"targets"`
	// Path is the request target with "{topic}" where the stream's topic
	// goes, query-escaped; empty means "/events?topic={topic}" (ssehub).
	Path string `json:"path,omitempty"`
	// Headers are extra request header lines, such as
	// "Authorization: Bearer x".
	Headers []string `json:"headers,omitempty"`
	// First and Count select the streams this worker holds: indexes
	// First to First+Count-1 of the whole run.
	First int `json:"first"`
	Count int `json:"count"`
	// Layout says which topic stream i follows (see Layout).
	Layout Layout `json:"layout"`
	// Concurrency bounds the streams connecting for the first time at
	// once (until their response head); reconnects are not bounded.
	// ConnectRate, if positive, paces first connects to that many per
	// second.
	Concurrency int     `json:"concurrency"`
	ConnectRate float64 `json:"connect_rate,omitempty"`
	// StallEvery, if positive, makes every StallEvery-th stream a stall
	// candidate: it stops reading on the "stall" command, never
	// reconnects, and is left out of latency and loss figures.
	StallEvery int `json:"stall_every,omitempty"`
	// StallRecvBuffer is the receive buffer (SO_RCVBUF) of stall
	// candidates, so the server notices them stuck sooner; zero leaves
	// the kernel default.
	StallRecvBuffer int `json:"stall_recv_buffer,omitempty"`
}

// Layout maps a stream's index to the topics or patterns it follows.
type Layout struct {
	// Kind is LayoutShared (every stream follows Topic), LayoutUser
	// (stream i follows "user/<i>"), LayoutUserShared (both),
	// LayoutPattern (stream i follows "<Topic>/<i % Groups>/*") or
	// LayoutEvery (every stream follows each of Topics).
	Kind   string   `json:"kind"`
	Topic  string   `json:"topic,omitempty"`
	Topics []string `json:"topics,omitempty"`
	Groups int      `json:"groups,omitempty"`
}

// Layout kinds.
const (
	LayoutShared     = "shared"
	LayoutUser       = "user"
	LayoutUserShared = "user+shared"
	LayoutPattern    = "pattern"
	LayoutEvery      = "every"
)

// TopicsOf returns what stream i subscribes to.
func (l Layout) TopicsOf(i int) []string {
	switch l.Kind {
	case LayoutUser:
		return []string{UserTopic(i)}
	case LayoutUserShared:
		return []string{UserTopic(i), l.Topic}
	case LayoutPattern:
		return []string{l.Topic + "/" + strconv.Itoa(i%max(l.Groups, 1)) + "/*"}
	case LayoutEvery:
		return l.Topics
	default:
		return []string{l.Topic}
	}
}

// UserTopic is stream i's own topic in the user layouts: "user/<i>", the
// private topic of user i.
func UserTopic(i int) string { return "user/" + strconv.Itoa(i) }

// workerCommand is one line the coordinator sends a worker after its
// spec. Each gets exactly one reply line.
type workerCommand struct {
	// Op is "sample", "stall", "check" or "evictions".
	Op string `json:"op"`
	// Final is, for "check", the last sequence number published to each
	// topic that concerns the worker.
	Final map[string]uint64 `json:"final,omitempty"`
	// Wait bounds how long "check" waits for streams to complete and
	// "evictions" for stalled streams to be closed.
	Wait time.Duration `json:"wait_ns,omitempty"`
}

// WorkerSample is a worker's reply to "sample": totals since it started,
// and the latencies of the deliveries since the sample before.
type WorkerSample struct {
	Connected     int   `json:"connected"`
	ConnectErrors int64 `json:"connect_errors"`
	Delivered     int64 `json:"delivered"`
	Reconnects    int64 `json:"reconnects"`
	Resets        int64 `json:"resets"`
	// Latency and CatchUp are encoded histograms (see histogram.go) of
	// the interval.
	Latency []byte `json:"latency"`
	CatchUp []byte `json:"catch_up"`
	// FirstError is an example of a connect error, if any occurred.
	FirstError string `json:"first_error,omitempty"`
}

// WorkerCheck is a worker's reply to "check".
type WorkerCheck struct {
	// Checked counts the streams checked: every connected stream that is
	// not a stall candidate. Incomplete counts those of them that still
	// missed events when the wait ended.
	Checked    int   `json:"checked"`
	Incomplete int   `json:"incomplete"`
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	Reordered  int64 `json:"reordered"`
	// Foreign counts events whose data was not a bench payload.
	Foreign int64 `json:"foreign"`
}

// add adds o's counts to c's.
func (c *WorkerCheck) add(o WorkerCheck) {
	c.Checked += o.Checked
	c.Incomplete += o.Incomplete
	c.Lost += o.Lost
	c.Duplicated += o.Duplicated
	c.Reordered += o.Reordered
	c.Foreign += o.Foreign
}

// WorkerEvictions is a worker's reply to "evictions": of the Stalled
// streams, Evicted were closed by the server.
type WorkerEvictions struct {
	Stalled int `json:"stalled"`
	Evicted int `json:"evicted"`
}

// worker is one load-generator process's streams and counters.
type worker struct {
	spec    WorkerSpec
	local   *net.TCPAddr // nil: the kernel's choice
	streams []*stream
	pollers []*poller // read the streams; stream key k is read by pollers[k % len]

	connectSlots chan struct{} // one token per first connect in progress
	pace         *pacer        // nil unless first connects are paced

	stalled     chan struct{} // closed by the "stall" command
	unstall     chan struct{} // closed by the first "evictions" command
	unstallOnce sync.Once

	connected     atomic.Int64
	connectErrors atomic.Int64
	delivered     atomic.Int64
	reconnects    atomic.Int64
	resets        atomic.Int64
	foreign       atomic.Int64
	firstError    atomic.Pointer[string]

	latency *histogram // end-to-end latency; locked by its own mutex
	catchUp *histogram // loss to caught up (trackCatchUp)
}

// RunWorker runs a load-generator worker: it reads a WorkerSpec and then
// commands from in, one JSON value per line, and writes one JSON reply per
// command to out. It holds the spec's streams, reconnecting them as
// EventSource would, until in ends or ctx is done, then closes them all
// and returns.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	if _, err := RaiseFileLimit(); err != nil {
		return err
	}
	dec := json.NewDecoder(bufio.NewReader(in))
	var spec WorkerSpec
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("bench worker: read spec: %w", err)
	}
	w, err := newWorker(spec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var streams, pollers sync.WaitGroup
	pollErr := make(chan error, len(w.pollers))
	defer func() {
		cancel()
		w.closeAll()
		streams.Wait()
		for _, p := range w.pollers {
			p.close()
		}
		pollers.Wait()
	}()
	for _, p := range w.pollers {
		pollers.Go(func() {
			if err := p.run(); err != nil {
				pollErr <- err
				cancel()
			}
		})
	}
	for _, s := range w.streams {
		streams.Go(func() { s.run(ctx) })
	}

	enc := json.NewEncoder(out)
	for {
		var cmd workerCommand
		if err := dec.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the coordinator is done with us
			}
			return fmt.Errorf("bench worker: read command: %w", err)
		}
		select {
		case err := <-pollErr:
			return err // its streams are stuck: no figure is worth reporting
		default:
		}
		reply, err := w.handle(ctx, cmd)
		if err != nil {
			return err
		}
		if err := enc.Encode(reply); err != nil {
			return fmt.Errorf("bench worker: write reply: %w", err)
		}
	}
}

func newWorker(spec WorkerSpec) (*worker, error) {
	switch {
	case len(spec.Targets) == 0:
		return nil, errors.New("bench worker: no targets")
	case spec.Count <= 0 || spec.Count > MaxGeneratorStreams:
		return nil, fmt.Errorf("bench worker: %d streams, want 1 to %d", spec.Count, MaxGeneratorStreams)
	}
	if spec.Path == "" {
		spec.Path = "/events?topic={topic}"
	}
	if !strings.Contains(spec.Path, "{topic}") {
		return nil, fmt.Errorf("bench worker: path %q has no {topic}", spec.Path)
	}
	locals, err := parseSources([]string{spec.Source})
	if spec.Source == "" {
		locals, err = []*net.TCPAddr{nil}, nil
	}
	if err != nil {
		return nil, err
	}
	w := &worker{
		spec:         spec,
		local:        locals[0],
		connectSlots: make(chan struct{}, max(spec.Concurrency, 1)),
		stalled:      make(chan struct{}),
		unstall:      make(chan struct{}),
		latency:      newHistogram(),
		catchUp:      newHistogram(),
	}
	if spec.ConnectRate > 0 {
		w.pace = newPacer(spec.ConnectRate)
	}
	w.streams = make([]*stream, spec.Count)
	// One poller per P: each wakes for a batch of ready sockets, and
	// more of them than Ps would only take turns.
	w.pollers = make([]*poller, min(runtime.GOMAXPROCS(0), spec.Count))
	for i := range w.pollers {
		if w.pollers[i], err = newPoller(w.streams); err != nil {
			w.closePollers()
			return nil, err
		}
	}
	for k := range w.streams {
		i := spec.First + k
		w.streams[k] = &stream{
			w:         w,
			key:       k,
			index:     i,
			subs:      spec.Layout.TopicsOf(i),
			target:    i % len(spec.Targets),
			stall:     spec.StallEvery > 0 && i%spec.StallEvery == 0,
			poller:    w.pollers[k%len(w.pollers)],
			ended:     make(chan endReason, 1),
			fd:        -1,
			stalledFd: -1,
		}
	}
	return w, nil
}

// parseSources turns source IPs into local addresses for net.Dialer; no
// sources gives one nil address, the kernel's choice.
func parseSources(sources []string) ([]*net.TCPAddr, error) {
	if len(sources) == 0 {
		return []*net.TCPAddr{nil}, nil
	}
	locals := make([]*net.TCPAddr, len(sources))
	for i, src := range sources {
		ip := net.ParseIP(src)
		if ip == nil {
			return nil, fmt.Errorf("bench: source address %q is not an IP", src)
		}
		locals[i] = &net.TCPAddr{IP: ip}
	}
	return locals, nil
}

func (w *worker) handle(ctx context.Context, cmd workerCommand) (any, error) {
	switch cmd.Op {
	case "sample":
		s := WorkerSample{
			Connected:     int(w.connected.Load()),
			ConnectErrors: w.connectErrors.Load(),
			Delivered:     w.delivered.Load(),
			Reconnects:    w.reconnects.Load(),
			Resets:        w.resets.Load(),
			Latency:       w.latency.takeEncoded(),
			CatchUp:       w.catchUp.takeEncoded(),
		}
		if e := w.firstError.Load(); e != nil {
			s.FirstError = *e
		}
		return s, nil
	case "stall":
		close(w.stalled)
		return struct{}{}, nil
	case "check":
		return w.check(ctx, cmd.Final, cmd.Wait), nil
	case "evictions":
		return w.evictions(ctx, cmd.Wait), nil
	}
	return nil, fmt.Errorf("bench worker: unknown command %q", cmd.Op)
}

// check waits up to wait for every checked stream to have received every
// event up to final on its topics, then counts what is missing or extra.
func (w *worker) check(ctx context.Context, final map[string]uint64, wait time.Duration) WorkerCheck {
	matches := finalsBySubscription(final)
	deadline := time.Now().Add(wait)
	for {
		res := WorkerCheck{Foreign: w.foreign.Load()}
		for _, s := range w.streams {
			if s.stall {
				continue
			}
			s.mu.Lock()
			if s.everConnected {
				res.Checked++
				lost, dup, reord := s.tally(matches(s.subs))
				res.Lost += lost
				res.Duplicated += dup
				res.Reordered += reord
				if lost > 0 {
					res.Incomplete++
				}
			}
			s.mu.Unlock()
		}
		if res.Incomplete == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// finalsBySubscription returns a function giving the final sequence
// number of each published topic that a stream's subscriptions cover.
func finalsBySubscription(final map[string]uint64) func(subs []string) map[string]uint64 {
	cache := make(map[string]map[string]uint64) // per pattern
	return func(subs []string) map[string]uint64 {
		out := make(map[string]uint64)
		for _, sub := range subs {
			if !topic.IsPattern(sub) {
				if seq, ok := final[sub]; ok {
					out[sub] = seq
				}
				continue
			}
			m, ok := cache[sub]
			if !ok {
				m = make(map[string]uint64)
				for t, seq := range final {
					if topic.Match(sub, t) {
						m[t] = seq
					}
				}
				cache[sub] = m
			}
			for t, seq := range m {
				out[t] = seq
			}
		}
		return out
	}
}

// evictions lets stalled streams read again and counts those the server
// had closed: they reach the end of their stream within wait.
func (w *worker) evictions(ctx context.Context, wait time.Duration) WorkerEvictions {
	var res WorkerEvictions
	for _, s := range w.streams {
		if s.stall && s.isStalled.Load() {
			res.Stalled++
		}
	}
	w.unstallOnce.Do(func() { close(w.unstall) })
	deadline := time.Now().Add(wait)
	for {
		evicted := 0
		for _, s := range w.streams {
			if s.stall && s.evicted.Load() {
				evicted++
			}
		}
		res.Evicted = evicted
		if evicted == res.Stalled || time.Now().After(deadline) || ctx.Err() != nil {
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// closeAll closes every stream's connection, ending their goroutines'
// waits.
func (w *worker) closeAll() {
	for _, s := range w.streams {
		s.mu.Lock()
		s.closed = true
		s.endLocked(endClosed, nil)
		s.mu.Unlock()
	}
}

// closePollers closes the epoll instances of pollers that never ran.
func (w *worker) closePollers() {
	for _, p := range w.pollers {
		if p != nil {
			p.close()
		}
	}
}

func (w *worker) noteConnectError(err error) {
	w.connectErrors.Add(1)
	msg := err.Error()
	w.firstError.CompareAndSwap(nil, &msg)
}

// stream is one SSE stream of a worker. Its goroutine (run) connects it
// and waits out each connection; a poller reads it in between. mu guards
// the fields both touch, and those the worker's checks read.
type stream struct {
	w      *worker
	key    int      // index into worker.streams
	index  int      // the stream's number in the whole run
	subs   []string // the topics or patterns it follows
	stall  bool     // a stall candidate (WorkerSpec.StallEvery)
	target int      // index into Targets of the current or last connection
	poller *poller

	// ended receives one endReason per connection handed to the poller,
	// when the poller gives it back.
	ended chan endReason

	isStalled atomic.Bool // stopped reading on the stall command
	evicted   atomic.Bool // a stalled stream found closed by the server

	mu            sync.Mutex
	fd            int  // the connection the poller reads; -1 if none
	stalledFd     int  // a stalled connection, handed back unread
	holdsSlot     bool // holds a connect slot until its response head
	counted       bool // counted in worker.connected
	closed        bool // the worker is closing: do not reconnect
	everConnected bool
	live          bool      // the current connection's response head arrived
	readAt        time.Time // when the bytes being decoded were read
	decoder       ssewire.Stream
	topics        []topicWindow // per topic received, in first-arrival order
	retry         time.Duration // the server's reconnection time
	lostAt        time.Time     // when the last live connection ended; zero while caught up
	reconnectedAt time.Time     // the response head after a loss; zero while caught up
	caughtUpAt    time.Time     // when the newest event sent before reconnectedAt arrived
}

// endReason says why a poller gave a connection back to its stream.
type endReason uint8

const (
	// endClosed: the connection ended or failed and is closed.
	endClosed endReason = iota
	// endStalled: the stream stopped reading on the stall command; the
	// connection is open, unread, in stalledFd.
	endStalled
)

// topicWindow tracks one topic's sequence on one stream.
type topicWindow struct {
	topic string
	seqWindow
}

// defaultRetry is the reconnection time before a server sets one: the
// browsers' usual default.
const defaultRetry = 3 * time.Second

// errHandshakeTimeout fails a connection whose response head did not
// arrive within HandshakeTimeout.
var errHandshakeTimeout = errors.New("bench: no response head within the handshake timeout")

// run connects the stream and keeps it connected until the worker closes,
// waiting the server's retry time between connections as EventSource
// does.
func (s *stream) run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		if s.connect(ctx, first) == nil {
			first = false
			if s.await(ctx) == endStalled {
				s.awaitEviction(ctx)
				return // a stuck client does not come back
			}
		}
		if ctx.Err() != nil || s.isClosed() {
			return
		}
		// Any end, clean or not, is followed by a reconnect, as in a browser.
		s.mu.Lock()
		retry := s.retry
		if retry == 0 {
			retry = defaultRetry
		}
		s.mu.Unlock()
		if !sleepCtx(ctx, retry) {
			return
		}
		if !first {
			s.target = s.pickOtherTarget()
		}
	}
}

func (s *stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// pickOtherTarget returns a random target other than the current one, if
// there is another.
func (s *stream) pickOtherTarget() int {
	n := len(s.w.spec.Targets)
	if n == 1 {
		return 0
	}
	return (s.target + 1 + rand.IntN(n-1)) % n
}

// connect dials the stream's target, sends its request, resuming after
// the last event id received if there is one, and hands the connection
// to the stream's poller. first says whether this is the stream's first
// connection: those may be paced, and take a connect slot until their
// response head. Reconnects do not wait for a slot, as browsers do not:
// bounding them in the generator would queue a resume storm in the bench
// instead of measuring the servers. On failure it counts a connect
// error; the caller retries.
func (s *stream) connect(ctx context.Context, first bool) error {
	if first && s.w.pace != nil {
		if err := s.w.pace.wait(ctx); err != nil {
			return err
		}
	}
	if first {
		select {
		case s.w.connectSlots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
		s.holdsSlot = true // with no connection yet, only this goroutine gives it back
		s.mu.Unlock()
	}
	fd, err := s.dial(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.giveBackSlot()
		if ctx.Err() == nil {
			s.w.noteConnectError(err)
		}
		return err
	}
	if s.closed {
		closeFD(fd)
		s.giveBackSlot()
		return net.ErrClosed
	}
	s.fd, s.live = fd, false
	s.decoder.Reset() // keeps the last event id, as EventSource does
	if err := s.poller.add(fd, s.key); err != nil {
		s.endLocked(endClosed, err)
	}
	return nil
}

// await waits for the poller to give the connection back, failing it if
// its response head is late, or when ctx ends.
func (s *stream) await(ctx context.Context) endReason {
	head := time.NewTimer(HandshakeTimeout)
	defer head.Stop()
	for {
		select {
		case r := <-s.ended:
			return r
		case <-head.C:
			s.mu.Lock()
			if !s.live {
				s.endLocked(endClosed, errHandshakeTimeout)
			}
			s.mu.Unlock()
		case <-ctx.Done():
			s.mu.Lock()
			s.endLocked(endClosed, nil)
			s.mu.Unlock()
			return <-s.ended
		}
	}
}

// dial connects to the stream's target, sends the request and returns
// the connection's descriptor, non-blocking and detached from the Go
// runtime's netpoller, for the stream's poller.
func (s *stream) dial(ctx context.Context) (int, error) {
	d := net.Dialer{Timeout: HandshakeTimeout}
	if s.w.local != nil {
		d.LocalAddr = s.w.local
	}
	recvBuffer := 0
	if s.stall {
		recvBuffer = s.w.spec.StallRecvBuffer
	}
	d.Control = dialControl(recvBuffer)
	addr := s.w.spec.Targets[s.target]
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return -1, err
	}
	conn := c.(*net.TCPConn)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(HandshakeTimeout))
	if _, err := io.WriteString(conn, s.request(addr)); err != nil {
		return -1, err
	}
	return detach(conn)
}

// request is the stream's GET request, with Last-Event-ID after a first
// event.
func (s *stream) request(addr string) string {
	var b strings.Builder
	b.WriteString("GET ")
	b.WriteString(expandPath(s.w.spec.Path, s.subs))
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(addr)
	b.WriteString("\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n")
	for _, h := range s.w.spec.Headers {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	s.mu.Lock()
	if id := s.decoder.LastEventID(); len(id) > 0 {
		b.WriteString("Last-Event-ID: ")
		b.Write(id)
		b.WriteString("\r\n")
	}
	s.mu.Unlock()
	b.WriteString("\r\n")
	return b.String()
}

// expandPath puts topics into a path template at "{topic}",
// query-escaped. More than one topic repeats the query parameter the
// placeholder is the value of: "/e?topic={topic}" with a and b gives
// "/e?topic=a&topic=b".
func expandPath(path string, topics []string) string {
	at := strings.Index(path, "{topic}")
	param := "" // "topic=", or "" if not in a query
	if start := strings.LastIndexAny(path[:at], "?&"); start >= 0 {
		param = path[start+1 : at]
	}
	var b strings.Builder
	b.WriteString(path[:at])
	for i, t := range topics {
		if i > 0 {
			b.WriteString("&")
			b.WriteString(param)
		}
		b.WriteString(url.QueryEscape(t))
	}
	b.WriteString(path[at+len("{topic}"):])
	return b.String()
}

// readable reads what arrived on fd, the stream's connection, once: if
// more is left, level-triggered epoll reports fd again. It runs in the
// poller's goroutine. A stall candidate told to stall stops reading
// instead, and its connection goes back to the stream unread.
func (s *stream) readable(p *poller, fd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd != fd {
		return // an event for a connection already ended
	}
	if s.stall && s.shouldStall() {
		p.remove(fd)
		s.endLocked(endStalled, nil)
		return
	}
	n, err := readFD(fd, p.buf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
	case err != nil:
		s.endLocked(endClosed, err)
	case n == 0:
		s.endLocked(endClosed, io.EOF)
	default:
		s.readAt = time.Now()
		if err := s.decoder.Feed(p.buf[:n], (*streamEvents)(s)); err != nil {
			s.endLocked(endClosed, err)
		}
	}
}

// endLocked gives the current connection back to the stream's goroutine,
// closed unless r is endStalled; err, if the response head had not
// arrived yet, counts as a connect error. It does nothing if there is no
// connection. Call with mu held.
func (s *stream) endLocked(r endReason, err error) {
	if s.fd < 0 {
		return
	}
	if r == endStalled {
		s.isStalled.Store(true)
		s.stalledFd = s.fd
	} else {
		closeFD(s.fd)
		s.uncount()
		if s.lostAt.IsZero() {
			s.lostAt = time.Now()
		}
	}
	s.fd = -1
	s.giveBackSlot()
	if !s.live && err != nil && !s.closed {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		s.w.noteConnectError(err)
	}
	s.ended <- r
}

// giveBackSlot gives back the connect slot the stream holds, if any.
// Call with mu held.
func (s *stream) giveBackSlot() {
	if s.holdsSlot {
		s.holdsSlot = false
		<-s.w.connectSlots
	}
}

// uncount takes the stream out of worker.connected if it was in. Call
// with mu held.
func (s *stream) uncount() {
	if s.counted {
		s.counted = false
		s.w.connected.Add(-1)
	}
}

// shouldStall reports whether the worker was told to stall its candidates
// and has not yet let them read again.
func (s *stream) shouldStall() bool {
	select {
	case <-s.w.stalled:
	default:
		return false
	}
	select {
	case <-s.w.unstall:
		return false
	default:
		return true
	}
}

// awaitEviction keeps a stalled stream unread until the evictions command,
// then reads it to its end: reaching the end means the server closed it.
func (s *stream) awaitEviction(ctx context.Context) {
	s.mu.Lock()
	fd := s.stalledFd
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.uncount()
		s.mu.Unlock()
	}()
	f := os.NewFile(uintptr(fd), "stalled stream")
	conn, err := net.FileConn(f) // a duplicate, in the Go netpoller
	f.Close()
	if err != nil {
		return
	}
	defer conn.Close()
	select {
	case <-s.w.unstall:
	case <-ctx.Done():
		return
	}
	buf := make([]byte, 64<<10)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			s.evicted.Store(true)
		}
		return
	}
}

// tally returns what the stream lacks or has extra against final. Call
// with mu held.
func (s *stream) tally(final map[string]uint64) (lost, duplicated, reordered int64) {
	for t, seq := range final {
		found := false
		for i := range s.topics {
			if s.topics[i].topic == t {
				lost += s.topics[i].missing(seq)
				found = true
				break
			}
		}
		if !found {
			lost += int64(seq)
		}
	}
	for i := range s.topics {
		duplicated += s.topics[i].duplicated
		reordered += s.topics[i].reordered
	}
	return lost, duplicated, reordered
}

// resetEvent is the event a hub sends instead of history it cannot serve
// (docs/protocol.md#resets).
const resetEvent = "ssehub.reset"

// streamEvents is a stream as the decoder's event handler. Its methods
// run with the stream's mu held, in its poller's goroutine.
type streamEvents stream

// Head implements ssewire.Handler.
func (e *streamEvents) Head() {
	s := (*stream)(e)
	if s.everConnected {
		s.w.reconnects.Add(1)
		s.reconnectedAt, s.caughtUpAt = s.readAt, s.readAt
	} else {
		s.lostAt = time.Time{} // failed first attempts are not a lost connection
	}
	s.everConnected = true
	s.live = true
	s.counted = true
	s.w.connected.Add(1)
	s.giveBackSlot()
}

// Retry implements ssewire.Handler.
func (e *streamEvents) Retry(ms int) { e.retry = time.Duration(ms) * time.Millisecond }

// Comment implements ssewire.Handler.
func (e *streamEvents) Comment([]byte) {}

// Event implements ssewire.Handler.
func (e *streamEvents) Event(_ []byte, _ bool, typ, data []byte) {
	s := (*stream)(e)
	now := s.readAt
	s.w.delivered.Add(1)
	if string(typ) == resetEvent {
		s.w.resets.Add(1)
		return
	}
	t, seq, sent, ok := ParsePayload(data)
	if !ok {
		s.w.foreign.Add(1)
		return
	}
	if s.stall {
		return // a stall candidate's figures would blur the others'
	}
	s.trackCatchUp(now, sent)
	s.w.latency.record(now.Sub(time.Unix(0, sent)))
	s.window(t).receive(seq)
}

// trackCatchUp follows a stream that reconnected after a loss until it
// has caught up: until it has every event published before it
// reconnected. That is known at the first event published after: the
// catch-up ended when the event before it arrived, or at the reconnect if
// it had missed nothing. The time counted runs from the loss, so it takes
// in the server's retry time, the reconnect and the replay, but not the
// wait for the next event to be published. Call with mu held.
func (s *stream) trackCatchUp(now time.Time, sent int64) {
	switch {
	case s.reconnectedAt.IsZero() || s.lostAt.IsZero():
	case sent >= s.reconnectedAt.UnixNano():
		s.w.catchUp.record(s.caughtUpAt.Sub(s.lostAt))
		s.reconnectedAt, s.caughtUpAt, s.lostAt = time.Time{}, time.Time{}, time.Time{}
	default:
		s.caughtUpAt = now
	}
}

// window returns the stream's window for topic t, adding it on first
// arrival.
func (s *stream) window(t []byte) *seqWindow {
	for i := range s.topics {
		if s.topics[i].topic == string(t) {
			return &s.topics[i].seqWindow
		}
	}
	s.topics = append(s.topics, topicWindow{topic: string(t)})
	return &s.topics[len(s.topics)-1].seqWindow
}

// sleepCtx sleeps for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pacer spaces events at a fixed rate, shared by many goroutines.
type pacer struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

func newPacer(perSecond float64) *pacer {
	return &pacer{next: time.Now(), interval: time.Duration(float64(time.Second) / perSecond)}
}

// wait blocks until the caller's turn.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	at := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	if d := time.Until(at); d > 0 && !sleepCtx(ctx, d) {
		return ctx.Err()
	}
	return ctx.Err()
}
