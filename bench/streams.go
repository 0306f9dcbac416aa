package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssehub/ssehub/transport/sse"
)

// DefaultConcurrency is how many streams OpenStreams has connecting at once
// when asked for 0. The machine's listen backlog (somaxconn) is 4096 and
// tcp_max_syn_backlog 2048 (REFERENCE.md §1): a few hundred in flight ramp up
// fast without overflowing them into SYN retransmits.
const DefaultConcurrency = 200

// HandshakeTimeout bounds connecting one stream: the dial, the request, and
// the response head and SSE preamble.
const HandshakeTimeout = 10 * time.Second

// SharedTopic returns a topicOf for OpenStreams that puts every stream on
// topic name.
func SharedTopic(name string) func(int) string {
	return func(int) string { return name }
}

// UserTopic is a topicOf for OpenStreams that puts stream i on "user/i", the
// private topic of user i: one topic per stream.
func UserTopic(i int) string { return "user/" + strconv.Itoa(i) }

// Streams is a set of open SSE streams. Each is kept drained by its own
// goroutine, so the hub never sees a stuck client, whatever it sends.
type Streams struct {
	// conns[i] is stream i, nil if it did not open. Written only by
	// OpenStreams before it returns.
	conns  []*net.TCPConn
	opened int

	drains  sync.WaitGroup // the drain goroutines
	closing atomic.Bool    // set by Close: drains ending now are not "ended"
	ended   atomic.Int64   // streams ended by the hub or an error while draining
	drained atomic.Int64   // bytes read after the preambles

	closeOnce sync.Once
}

// OpenStreams opens n SSE streams to the hub at addr, stream i following
// topic topicOf(i), with at most concurrency of them connecting at once
// (0 means DefaultConcurrency). Stream i connects from local address
// sources[i % len(sources)], an IP such as "127.0.0.2", so that more than
// one source's ephemeral ports (about 28k) can be used; no sources means
// the kernel's choice (127.0.0.1).
//
// A stream counts as open once the 200 response head and the SSE preamble
// (a retry field and a comment) have arrived; from then on it is drained in
// the background until Close.
//
// If some streams fail to open, or ctx ends first, OpenStreams returns the
// streams that did open together with an error saying how many did not;
// the caller must Close them either way.
func OpenStreams(ctx context.Context, addr string, n int, topicOf func(i int) string, sources []string, concurrency int) (*Streams, error) {
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	locals, err := parseSources(sources)
	if err != nil {
		return nil, err
	}
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	s := &Streams{conns: make([]*net.TCPConn, n)}
	var (
		next    atomic.Int64
		mu      sync.Mutex // guards failed, errs and s.opened
		failed  int
		errs    []error // the first few, as examples
		workers sync.WaitGroup
	)
	for range min(concurrency, n) {
		workers.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				topic := topicOf(i)
				conn, err := openStream(ctx, addr, locals[i%len(locals)], topic)
				mu.Lock()
				if err != nil {
					failed++
					if len(errs) < 3 {
						errs = append(errs, fmt.Errorf("stream %d topic=%q: %w", i, topic, err))
					}
				} else {
					s.conns[i] = conn
					s.opened++
					s.drains.Add(1)
					go s.drain(conn)
				}
				mu.Unlock()
			}
		})
	}
	workers.Wait()
	if s.opened < n {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
		}
		return s, fmt.Errorf("open streams to %s: %d of %d opened, %d failed: %w", addr, s.opened, n, failed, errors.Join(errs...))
	}
	return s, nil
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

// openStream connects one stream and returns it once its preamble arrived.
func openStream(ctx context.Context, addr string, local *net.TCPAddr, topic string) (*net.TCPConn, error) {
	return dialStream(ctx, addr, local, func(conn net.Conn) error { return handshake(conn, topic) })
}

// dialStream connects to addr from local (nil: the kernel's choice) and runs
// handshake on the new connection, which is closed if handshake fails. One
// deadline, HandshakeTimeout, bounds the dial and handshake together and
// is cut short if ctx ends; it is cleared again before the connection is
// returned, since a stream then waits as long as the hub keeps it open.
func dialStream(ctx context.Context, addr string, local *net.TCPAddr, handshake func(net.Conn) error) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: HandshakeTimeout}
	if local != nil {
		d.LocalAddr = local
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := c.(*net.TCPConn)
	_ = conn.SetDeadline(time.Now().Add(HandshakeTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	err = handshake(conn)
	// stop reports false once the AfterFunc has run: ctx ended, and the
	// deadline it set may have cut the handshake short.
	if !stop() || err != nil {
		conn.Close()
		return nil, errors.Join(err, ctx.Err())
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// handshake sends the subscribe request and reads the response head and
// the SSE preamble.
func handshake(rw io.ReadWriter, topic string) error {
	if _, err := io.WriteString(rw, subscribeRequest(topic, "")); err != nil {
		return err
	}
	return readPreamble(rw)
}

// subscribeRequest returns the GET /events request for topic, resuming
// after lastEventID unless it is empty.
func subscribeRequest(topic, lastEventID string) string {
	req := "GET /events?topic=" + url.QueryEscape(topic) + " HTTP/1.1\r\n" +
		"Host: ssehub\r\nAccept: text/event-stream\r\n"
	if lastEventID != "" {
		req += "Last-Event-ID: " + lastEventID + "\r\n"
	}
	return req + "\r\n"
}

// maxHeadBytes bounds the response head a stream may send.
const maxHeadBytes = 4 << 10

// readPreamble reads an SSE response up to its preamble: a 200 head with
// Content-Type text/event-stream, then a retry field and a comment
// (PRODUCT.md, "Subscribe"). Bytes after the preamble may be consumed too;
// an idle stream does not need them.
func readPreamble(r io.Reader) error {
	var (
		buf     = make([]byte, 0, 512)
		chunk   [512]byte
		inBody  bool
		p       sse.Parser
		comment bool
	)
	p.OnComment = func(string) { comment = true }
	for {
		_, retry := p.Retry()
		if retry && comment {
			return nil
		}
		n, err := r.Read(chunk[:])
		if n > 0 {
			if inBody {
				p.Feed(chunk[:n])
			} else {
				buf = append(buf, chunk[:n]...)
				if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
					if err := checkHead(string(buf[:i])); err != nil {
						return err
					}
					inBody = true
					p.Feed(buf[i+4:])
				} else if len(buf) > maxHeadBytes {
					return fmt.Errorf("bench: response head over %d bytes", maxHeadBytes)
				}
			}
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read preamble: %w", err)
		}
	}
}

// checkHead checks the status line and content type of a stream's response
// head (without the final blank line).
func checkHead(head string) error {
	status, headers, _ := strings.Cut(head, "\r\n")
	if !strings.HasPrefix(status, "HTTP/1.1 200 ") {
		return fmt.Errorf("bench: stream answered %q, want 200", status)
	}
	for line := range strings.SplitSeq(headers, "\r\n") {
		name, value, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Content-Type") {
			if mt, _, _ := strings.Cut(strings.TrimSpace(value), ";"); mt == "text/event-stream" {
				return nil
			}
			return fmt.Errorf("bench: stream Content-Type %q, want text/event-stream", strings.TrimSpace(value))
		}
	}
	return errors.New("bench: stream response has no Content-Type")
}

// drainBufs holds the buffers readSocket reads into. A stream takes one
// only while its socket has data, so thousands of idle streams share a few
// buffers instead of each pinning its own.
var drainBufs = sync.Pool{New: func() any {
	b := make([]byte, 4<<10)
	return &b
}}

// readSocket passes what arrives on conn to consume, chunk by chunk, until
// the peer closes it, a read fails, or conn is closed. consume must not
// keep the chunk: its buffer goes back to drainBufs when consume returns.
//
// It waits for readability through the raw socket instead of blocking in
// conn.Read, which would need a buffer per stream for the whole wait.
func readSocket(conn *net.TCPConn, consume func([]byte)) {
	rc, err := conn.SyscallConn()
	for err == nil {
		var n int
		var rerr error
		err = rc.Read(func(fd uintptr) bool {
			bp := drainBufs.Get().(*[]byte)
			n, rerr = syscall.Read(int(fd), *bp)
			if n > 0 {
				consume((*bp)[:n])
			}
			drainBufs.Put(bp)
			return rerr != syscall.EAGAIN // false: wait until readable
		})
		switch {
		case err != nil: // conn was closed, or the poller failed
		case rerr == syscall.EINTR:
		case rerr != nil:
			err = rerr
		case n == 0:
			err = io.EOF
		}
	}
}

// drain reads and discards what the hub sends on conn until it ends or Close
// is called. It runs in its own goroutine, started by OpenStreams.
func (s *Streams) drain(conn *net.TCPConn) {
	defer s.drains.Done()
	readSocket(conn, func(b []byte) { s.drained.Add(int64(len(b))) })
	if !s.closing.Load() {
		s.ended.Add(1)
		conn.Close()
	}
}

// Opened returns how many streams opened (their preamble arrived).
func (s *Streams) Opened() int { return s.opened }

// Live returns how many streams are open now: opened and not since ended by
// the hub.
func (s *Streams) Live() int { return s.opened - int(s.ended.Load()) }

// BytesDrained returns how many bytes the streams have received after their
// preambles, such as heartbeats.
func (s *Streams) BytesDrained() int64 { return s.drained.Load() }

// Close closes every stream and waits for their drain goroutines to end.
func (s *Streams) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		for _, c := range s.conns {
			if c != nil {
				_ = c.Close()
			}
		}
		s.drains.Wait()
	})
	return nil
}
