// Package refserver is the minimal net/http SSE server that ssehub's
// benchmarks compare against ("minimal net/http" in
// docs/protocol.md#performance-targets).
//
// It is the server a Go developer would write in an afternoon, on purpose:
// a handler goroutine per stream reading a buffered channel, a topic map
// under a sync.RWMutex, no history and no sharding. It is correct, though:
// every client that stays connected gets every event of its topics in id
// order, and a client that cannot keep up is dropped, never skipped.
//
// It serves the part of ssehub's API the load generator uses: GET /events
// with exact topics, POST /publish in JSON, /healthz and /readyz.
package refserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// preamble starts every stream: the reconnection delay and a comment, so
// clients see the stream open before the first event
// (docs/protocol.md#response).
const preamble = "retry: 1000\n: ok\n\n"

// maxPublishBytes bounds a POST /publish body.
const maxPublishBytes = 16 << 20

// Config tunes a Server. The zero Config is ready to use.
type Config struct {
	// Buffer is how many events may wait for one client; a client whose
	// queue is full when an event is published is dropped. Zero means 256.
	Buffer int
	// WriteTimeout bounds each write to a stream, so a client that stopped
	// reading cannot hold its handler forever. Zero means 10s.
	WriteTimeout time.Duration
}

// Server is the reference SSE server, an http.Handler. Create it with New
// and call Close before shutting its http.Server down.
type Server struct {
	mux          *http.ServeMux
	buffer       int
	writeTimeout time.Duration
	done         chan struct{} // closed by Close: every stream ends
	closeOnce    sync.Once
	dropped      atomic.Int64

	// pubMu serializes publishers, so that id order and delivery order are
	// the same for every client. It is taken before mu.
	pubMu  sync.Mutex
	lastID uint64 // guarded by pubMu

	mu     sync.RWMutex
	topics map[string]map[*client]struct{} // guarded by mu
}

// client is one open stream. Its handler goroutine owns the reading end of
// events; publishers, holding pubMu, own the sending end and gone.
type client struct {
	events chan []byte   // encoded frames, shared read-only with other clients
	gone   chan struct{} // closed when the client is dropped
}

// New returns a Server configured by cfg.
func New(cfg Config) *Server {
	s := &Server{
		mux:          http.NewServeMux(),
		buffer:       cfg.Buffer,
		writeTimeout: cfg.WriteTimeout,
		done:         make(chan struct{}),
		topics:       make(map[string]map[*client]struct{}),
	}
	if s.buffer <= 0 {
		s.buffer = 256
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = 10 * time.Second
	}
	s.mux.HandleFunc("GET /events", s.serveEvents)
	s.mux.HandleFunc("POST /publish", s.servePublish)
	ok := func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }
	s.mux.HandleFunc("GET /healthz", ok)
	s.mux.HandleFunc("GET /readyz", ok)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close ends every open stream and refuses new ones. http.Server.Shutdown
// waits for handlers, so call Close first (or register it with
// RegisterOnShutdown). Close may be called more than once.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.done) }) }

// Dropped returns how many clients were disconnected because their queue
// was full.
func (s *Server) Dropped() int64 { return s.dropped.Load() }

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	topics := r.URL.Query()["topic"]
	if len(topics) == 0 || slices.Contains(topics, "") {
		writeError(w, http.StatusBadRequest, "bad_request", "give at least one non-empty topic parameter")
		return
	}
	rc := http.NewResponseController(w)
	// Every write gets a deadline: a client that stops reading must not
	// hold its handler and connection forever.
	if err := rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "streaming unsupported")
		return
	}
	select {
	case <-s.done:
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	default:
	}

	c := &client{events: make(chan []byte, s.buffer), gone: make(chan struct{})}
	s.subscribe(c, topics)
	defer s.unsubscribe(c, topics)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	// The connection is not reused after a stream: its write deadline
	// would otherwise outlive the stream and fail the next response.
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, preamble); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done(): // the client went away
			return
		case <-c.gone:
			return
		case <-s.done:
			return
		case frame := <-c.events:
			if rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)) != nil {
				return
			}
			if _, err := w.Write(frame); err != nil {
				return
			}
			// Flush only once the queue is empty, so events that queued up
			// while we were writing leave in one write.
			if len(c.events) == 0 && rc.Flush() != nil {
				return
			}
		}
	}
}

func (s *Server) subscribe(c *client, topics []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range topics {
		set := s.topics[t]
		if set == nil {
			set = make(map[*client]struct{})
			s.topics[t] = set
		}
		set[c] = struct{}{} // a repeated topic is one subscription
	}
}

func (s *Server) unsubscribe(c *client, topics []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range topics {
		delete(s.topics[t], c)
		if len(s.topics[t]) == 0 {
			delete(s.topics, t)
		}
	}
}

// event is one parsed publication.
type event struct {
	topics []string
	name   string
	data   []byte
}

func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPublishBytes))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", maxPublishBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", "read body: "+err.Error())
		return
	}
	events, err := parsePublish(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	ids := s.publish(events)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		IDs []string `json:"ids"`
	}{ids})
}

// publish assigns ids to events and queues them for their subscribers, in
// order, and returns the ids. It never blocks on a client.
func (s *Server) publish(events []event) []string {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, len(events))
	for i, ev := range events {
		s.lastID++
		ids[i] = strconv.FormatUint(s.lastID, 10)
		frame := appendFrame(nil, ids[i], ev.name, ev.data)
		if len(ev.topics) == 1 {
			for c := range s.topics[ev.topics[0]] {
				s.send(c, frame)
			}
			continue
		}
		// A client on several of the event's topics gets it once.
		seen := make(map[*client]struct{})
		for _, t := range ev.topics {
			for c := range s.topics[t] {
				if _, dup := seen[c]; !dup {
					seen[c] = struct{}{}
					s.send(c, frame)
				}
			}
		}
	}
	return ids
}

// send queues frame for c, or drops c if its queue is full. A dropped client
// gets nothing more, so what it did receive has no gap; its handler ends
// the stream and the client reconnects. The caller holds pubMu.
func (s *Server) send(c *client, frame []byte) {
	select {
	case <-c.gone:
		return
	default:
	}
	select {
	case c.events <- frame:
	default:
		close(c.gone)
		s.dropped.Add(1)
	}
}

// appendFrame appends the SSE frame of one event to dst: its id, its type
// unless it is empty or "message", and one data line per line of data, CRLF,
// CR and LF all counting as line breaks (a lone CR would otherwise start a
// new field in the client's parser).
func appendFrame(dst []byte, id, name string, data []byte) []byte {
	dst = append(dst, "id: "...)
	dst = append(dst, id...)
	dst = append(dst, '\n')
	if name != "" && name != "message" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		dst = append(append(append(dst, "data: "...), data[:i]...), '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	dst = append(append(append(dst, "data: "...), data...), '\n')
	return append(dst, '\n')
}

// jsonEvent is one event object of a publish request.
type jsonEvent struct {
	Topic  string          `json:"topic"`
	Topics []string        `json:"topics"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
}

// parsePublish parses a publish body: one event object or a non-empty array
// of them.
func parsePublish(body []byte) ([]event, error) {
	body = bytes.TrimSpace(body)
	var objs []jsonEvent
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &objs); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		if len(objs) == 0 {
			return nil, errors.New("empty batch")
		}
	} else {
		objs = make([]jsonEvent, 1)
		if err := json.Unmarshal(body, &objs[0]); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
	}
	events := make([]event, len(objs))
	for i, o := range objs {
		ev := event{topics: o.Topics, name: o.Event}
		if o.Topic != "" {
			ev.topics = append(ev.topics, o.Topic)
		}
		switch {
		case len(ev.topics) == 0 || slices.Contains(ev.topics, ""):
			return nil, fmt.Errorf("event %d: give a non-empty topic or topics", i)
		case strings.ContainsAny(o.Event, "\r\n\x00"):
			return nil, fmt.Errorf("event %d: event name has CR, LF or NUL", i)
		case o.Data == nil:
			return nil, fmt.Errorf("event %d: missing data", i)
		}
		if o.Data[0] == '"' {
			var s string
			if err := json.Unmarshal(o.Data, &s); err != nil {
				return nil, fmt.Errorf("event %d: data: %w", i, err)
			}
			ev.data = []byte(s)
		} else {
			// Other values go out as their JSON text, on one line.
			var buf bytes.Buffer
			if err := json.Compact(&buf, o.Data); err != nil {
				return nil, fmt.Errorf("event %d: data: %w", i, err)
			}
			ev.data = buf.Bytes()
		}
		events[i] = ev
	}
	return events, nil
}

// writeError answers with ssehub's JSON error shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e.Error.Code, e.Error.Message = code, msg
	_ = json.NewEncoder(w).Encode(e)
}
