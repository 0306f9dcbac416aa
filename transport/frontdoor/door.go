package frontdoor

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/sse"
)

// Config tunes a Door. Zero fields take the documented defaults.
type Config struct {
	// Retry is the reconnect delay told to EventSource clients in the
	// stream's first line. Zero means 3s.
	Retry time.Duration
	// SendBuffer, if positive, is the kernel send buffer (SO_SNDBUF) a
	// stream's socket starts with. Left to autotuning, Linux grows it to
	// several MiB for a client that stops reading (2.8 MB measured on
	// loopback), so a stuck client goes unnoticed, holding that much
	// kernel memory, until then; a small buffer bounds both.
	SendBuffer int
	// MaxSendBuffer is how far a stream's send buffer grows while its
	// client keeps up with writes larger than the buffer (see
	// elasticConn); at most SendBuffer keeps it fixed. Zero means
	// DefaultMaxSendBuffer; negative keeps it fixed.
	MaxSendBuffer int
	// MaxStreamsPerIP caps the open streams of one client address, through
	// every front door together. Zero means 2000; negative means unlimited
	// (behind a reverse proxy every client has the proxy's address).
	MaxStreamsPerIP int
	// MaxStreamsPerUser caps the open streams of one authenticated user
	// (tabs, devices). Zero means 50; negative means unlimited.
	MaxStreamsPerUser int
	// PublishRate is how many events per second one credential may
	// publish on average, in bursts of twice that (see PublishRates).
	// Zero means 1000; negative means unlimited.
	PublishRate int
	// Tracer traces requests and stream connects, as children of the
	// traceparent a client sends. Nil traces nothing.
	Tracer *telemetry.Tracer
	// Logger receives the door's logs; nil means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Retry <= 0 {
		c.Retry = 3 * time.Second
	}
	if c.PublishRate == 0 {
		c.PublishRate = 1000
	}
	if c.MaxStreamsPerIP == 0 {
		c.MaxStreamsPerIP = 2000
	}
	if c.MaxStreamsPerUser == 0 {
		c.MaxStreamsPerUser = 50
	}
	if c.MaxSendBuffer == 0 {
		c.MaxSendBuffer = DefaultMaxSendBuffer
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Door admits streams to a hub and runs them, for every front door of one
// server: they share one Door, so that its limits count their streams
// together. Its fields are set by New and read-only after, and its
// limiters have their own locks: a Door is safe for concurrent use.
type Door struct {
	hub     *hub.Hub
	cfg     Config
	streams *streamLimiter
	rates   *RateLimiter
	head    []byte // response head and SSE preamble, the same for every stream
}

// streamHead is the response head of every stream. The body is delimited by
// the connection's close: no Content-Length, and no chunked encoding, whose
// framing would cost bytes and a copy on every write.
const streamHead = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"X-Accel-Buffering: no\r\n" +
	"Connection: close\r\n" +
	"\r\n"

// New returns the door to h.
func New(h *hub.Hub, cfg Config) *Door {
	cfg = cfg.withDefaults()
	d := &Door{hub: h, cfg: cfg,
		streams: newStreamLimiter(max(cfg.MaxStreamsPerIP, 0), max(cfg.MaxStreamsPerUser, 0)),
		rates:   NewRateLimiter(max(cfg.PublishRate, 0), time.Now)}
	d.head = append([]byte(streamHead), sse.AppendRetry(nil, cfg.Retry)...)
	// A comment at once, so proxies pass the headers on and onopen fires.
	d.head = sse.AppendComment(d.head, "ssehub")
	d.head = append(d.head, '\n')
	return d
}

// PublishRates returns the publish rate limiter (Config.PublishRate),
// shared by the front doors so that a credential's budget is one whichever
// door it publishes through.
func (d *Door) PublishRates() *RateLimiter { return d.rates }

// Stream opens the stream req asks for on ctx's connection, once the
// calling front door has parsed the request and authorized it: it applies
// the stream limits (req.UserID is counted per user), hijacks the
// connection and hands it to the hub. A stream that cannot be served is
// refused without an error status, which would stop EventSource from ever
// reconnecting (docs/platform-notes.md#writing-streams): the head, a
// retry: and the end of the stream. Stream always answers ctx itself; the
// caller writes nothing after it.
//
// span is the request's server span (StartSpan); Stream ends it when the
// stream opens or fails to. req.Head is the door's: Stream sets it.
// req.OnOpen and req.OnEnd, if set, are called after the door's own (a
// Mercure door records its active subscriptions with them); OnEnd is not
// called for a stream the hub refused, which never opened. The head carries cors's headers for the
// request's Origin (a nil cors gives none), then header, the front door's
// own header lines as name and value pairs; a CR, LF or NUL in a value is
// written as a space, so that no value can split the head. Everything req
// and header hold must be copied out of ctx: fasthttp reuses it once the
// handler returns.
func (d *Door) Stream(ctx *fasthttp.RequestCtx, span trace.Span, req hub.StreamRequest, cors *CORS, header [][2]string) {
	head := d.Head(cors, string(ctx.Request.Header.Peek("Origin")), header)
	refused, release := d.streams.acquire(ctx.RemoteIP().String(), req.UserID)
	ctx.HijackSetNoResponse(true)
	connect := newConnectSpan(span)
	if refused != "" {
		connect.failed("too many streams: " + refused)
		d.cfg.Logger.Debug("stream refused: too many streams", "limit", refused, "ip", ctx.RemoteIP().String())
		ctx.Hijack(func(c net.Conn) { endAtOnce(unwrapConn(c), refusal(head, 10*d.cfg.Retry, "too many streams")) })
		return
	}
	req.Head = head
	onOpen, onEnd := req.OnOpen, req.OnEnd
	req.OnOpen, req.OnEnd = connect.callbacks(func(r shard.Reason) {
		release()
		if onEnd != nil {
			onEnd(r)
		}
	})
	if opened := req.OnOpen; onOpen != nil {
		req.OnOpen = func() {
			if opened != nil {
				opened()
			}
			onOpen()
		}
	}
	ctx.Hijack(func(c net.Conn) {
		conn := streamConn(unwrapConn(c), d.cfg.SendBuffer, d.cfg.MaxSendBuffer)
		err := d.hub.Stream(conn, req)
		switch {
		case errors.Is(err, hub.ErrBrokerDown):
			// Redis is down: subscribing would wait for it and time out.
			// A retry that backs off, jittered so that the clients do not
			// all come back together.
			connect.failed(err.Error())
			release()
			endAtOnce(conn, refusal(head, 2*d.cfg.Retry+rand.N(2*d.cfg.Retry), "broker unavailable"))
		case err != nil:
			// Draining or shutting down: answer with a stream that ends at
			// once, so EventSource retries (elsewhere, after a jittered
			// delay) rather than giving up for good as it would on an
			// error status (docs/platform-notes.md#writing-streams).
			connect.failed(err.Error())
			release()
			endAtOnce(conn, slices.Concat(head, d.Goodbye()))
		}
	})
}

// Head returns a stream's response head and preamble, with the CORS
// headers cors gives origin when it is allowed, and header (written as
// Stream writes it).
func (d *Door) Head(cors *CORS, origin string, header [][2]string) []byte {
	h := cors.Headers(origin)
	if h == nil && len(header) == 0 {
		return d.head
	}
	head := make([]byte, 0, len(d.head)+128)
	head = append(head, streamHead[:len(streamHead)-2]...) // without the blank line
	head = appendHeaderLines(head, h)
	head = appendHeaderLines(head, header)
	return append(head, d.head[len(streamHead)-2:]...)
}

// WithHeader returns head, a head Head returned, with the lines of header
// too, after its own: what Head returns given them. A door whose head
// depends on how the stream resumed (a Mercure stream's
// shard.MercureHead) builds it with this from the head Stream wrote.
// head is not modified.
func WithHeader(head []byte, header [][2]string) []byte {
	end := bytes.Index(head, []byte("\r\n\r\n"))
	if end < 0 || len(header) == 0 {
		return head
	}
	end += 2 // after the last header line's CRLF
	b := make([]byte, 0, len(head)+128)
	b = append(b, head[:end]...)
	b = appendHeaderLines(b, header)
	return append(b, head[end:]...)
}

// appendHeaderLines appends a header line to b for each name and value of
// h, with any CR, LF or NUL of a value written as a space.
func appendHeaderLines(b []byte, h [][2]string) []byte {
	for _, kv := range h {
		b = append(b, kv[0]...)
		b = append(b, ": "...)
		b = append(b, headerValue.Replace(kv[1])...)
		b = append(b, "\r\n"...)
	}
	return b
}

// headerValue makes a value safe in a header line. It returns a value
// without those bytes as it is, without copying it.
var headerValue = strings.NewReplacer("\r", " ", "\n", " ", "\x00", " ")

// Goodbye returns the last frame of a drained stream: its reconnect delay,
// drawn uniformly from [Retry/2, 3·Retry/2) so that its mean stays Retry.
// A blank line ends the frame; with no data, EventSource dispatches nothing.
// It is what a server passes to hub.Drain, and is called on the shard
// loops: math/rand/v2's top-level functions are safe for concurrent use.
func (d *Door) Goodbye() []byte {
	retry := d.cfg.Retry/2 + rand.N(d.cfg.Retry)
	return append(sse.AppendRetry(nil, retry), '\n')
}

// refusal is a stream refused without an error status, since any would
// stop EventSource from ever reconnecting
// (docs/platform-notes.md#writing-streams): head (with its CORS headers),
// a retry: that asks the client to come back after retry, a comment saying
// why, and then the end of the stream.
func refusal(head []byte, retry time.Duration, why string) []byte {
	b := slices.Concat(head, sse.AppendRetry(nil, retry))
	b = sse.AppendComment(b, why)
	return append(b, '\n')
}

// endAtOnce writes head (a 200 stream head with retry:) and closes conn.
func endAtOnce(conn net.Conn, head []byte) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write(head)
	_ = conn.Close()
}

// unwrapConn returns the raw connection under fasthttp's hijack wrapper, so
// the stream does not keep fasthttp's read buffer alive (streams never
// read), and under a LingerListener's lingerConn, so the shard writes to
// the socket itself.
func unwrapConn(c net.Conn) net.Conn {
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		c = u.UnsafeConn()
	}
	if l, ok := c.(*lingerConn); ok {
		c = l.Conn
	}
	return c
}
