package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/acl"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/frontdoor"
)

// Config tunes the HTTP server. Zero fields take the documented
// defaults. Retry, SendBuffer, MaxSendBuffer, MaxStreamsPerIP,
// MaxStreamsPerUser, PublishRate, Tracer and Logger go to the server's
// [frontdoor.Door], which has their defaults.
type Config struct {
	// Retry is the reconnect delay told to EventSource clients in the
	// stream's first line. Zero means 3s.
	Retry time.Duration
	// WriteTimeout bounds writing the stream's first bytes. Zero means 10s.
	WriteTimeout time.Duration
	// SendBuffer, if positive, is the kernel send buffer (SO_SNDBUF) a
	// stream's socket starts with. Left to autotuning, Linux grows it to
	// several MiB for a client that stops reading (2.8 MB measured on
	// loopback), so a stuck client goes unnoticed, holding that much
	// kernel memory, until then; a small buffer bounds both.
	SendBuffer int
	// MaxSendBuffer is how far a stream's send buffer grows while its
	// client keeps up with writes larger than the buffer (see package
	// frontdoor); at most SendBuffer keeps it fixed. Zero means
	// frontdoor.DefaultMaxSendBuffer; negative keeps it fixed.
	MaxSendBuffer int
	// ReadTimeout bounds reading one request, so slow senders (slowloris)
	// cannot hold connections before their stream starts. Zero means 10s.
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle between requests.
	// Zero means 60s.
	IdleTimeout time.Duration
	// MaxBodyBytes caps a publish request body; larger gets 413, after
	// which the rest, up to 64 MiB within ReadTimeout, is read and
	// discarded so that the client gets the answer (see
	// frontdoor.LingerOnClose). Zero means 1 MiB.
	MaxBodyBytes int
	// MaxHeaderBytes caps the request line and headers; larger gets 431.
	// Zero means 8 KiB.
	MaxHeaderBytes int
	// MaxTopics caps the topics and patterns of one stream. Zero means 64.
	MaxTopics int
	// MaxStreamsPerIP caps the open streams of one client address. Zero
	// means 2000; negative means unlimited (behind a reverse proxy every
	// client has the proxy's address).
	MaxStreamsPerIP int
	// MaxStreamsPerUser caps the open streams of one authenticated user
	// (tabs, devices). Zero means 50; negative means unlimited.
	MaxStreamsPerUser int
	// Publish bounds one publish request.
	Publish PublishLimits
	// IdempotencyTTL is how long a publish with an Idempotency-Key is
	// remembered: a repeat within it returns the first ids and publishes
	// nothing. Zero means 24h.
	IdempotencyTTL time.Duration
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Auth verifies subscriber and publisher tokens. Nil turns auth off:
	// anyone may subscribe to anything and publish.
	Auth *auth.Verifier
	// PublicTopics may be subscribed to without a token when Auth is set.
	PublicTopics acl.Grant
	// APIKeys are static publisher credentials, sent as
	// "Authorization: Bearer <key>", that may publish to any topic. Used
	// only with Auth set.
	APIKeys []string
	// PublishRate is how many events per second one credential (one
	// client address with auth off) may publish on average, in bursts of
	// twice that; more gets 429, and a batch larger than a burst, which
	// could never pass, 413. Zero means 1000; negative means unlimited.
	PublishRate int
	// CORSOrigins are the browser origins allowed to call the hub from
	// another origin ("https://app.example.com"), with credentials; "*"
	// allows any origin without credentials. Empty allows none. Each
	// must pass frontdoor.ValidateOrigin to ever match.
	CORSOrigins []string
	// Demo serves the demo page at / (and its files under /demo/). False
	// answers / with a one-line text hint.
	Demo bool
	// Tracer traces publish requests and stream connects, as children of
	// the traceparent a client sends. Nil traces nothing.
	Tracer *telemetry.Tracer
	// PresenceEvents says the hub publishes join and leave events to the
	// companion topics "presence:<topic>" (hub.Config.PresenceEvents):
	// subscribing to one takes the grant of <topic>, and no one may
	// publish to one.
	PresenceEvents bool
	// Metrics, if not nil, answers GET /metrics (see package
	// internal/telemetry/metrics); nil answers it 404.
	Metrics fasthttp.RequestHandler
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.ReadTimeout, 10*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.IdempotencyTTL, broker.DefaultIdempotencyTTL)
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 8 << 10
	}
	if c.MaxTopics <= 0 {
		c.MaxTopics = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server serves ssehub's HTTP API: GET /events, POST /publish, /healthz,
// /readyz, and at / the demo page or a short text index; and other front
// doors mounted on it (Mount). Its fields are set by New and read-only
// after, but mounts (see Mount).
type Server struct {
	hub  *hub.Hub
	cfg  Config
	srv  *fasthttp.Server
	door *frontdoor.Door
	cors *frontdoor.CORS
	// everything grants every topic: what an API key may publish to.
	everything acl.Grant
	// mounts are the other front doors' paths, replaced whole by Mount
	// (under mountMu) and read by every request.
	mounts  atomic.Pointer[[]mount]
	mountMu sync.Mutex

	published atomic.Uint64 // events accepted by POST /publish
}

// New returns a server for h.
func New(h *hub.Hub, cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{hub: h, cfg: cfg, cors: frontdoor.NewCORS(cfg.CORSOrigins, frontdoor.CORSOptions{}),
		door: frontdoor.New(h, frontdoor.Config{
			Retry:             cfg.Retry,
			SendBuffer:        cfg.SendBuffer,
			MaxSendBuffer:     cfg.MaxSendBuffer,
			MaxStreamsPerIP:   cfg.MaxStreamsPerIP,
			MaxStreamsPerUser: cfg.MaxStreamsPerUser,
			PublishRate:       cfg.PublishRate,
			Tracer:            cfg.Tracer,
			Logger:            cfg.Logger,
		})}
	s.everything, _ = acl.NewGrant([]string{"*"})
	s.srv = &fasthttp.Server{
		Handler:            s.handle,
		ErrorHandler:       s.handleError,
		Name:               "ssehub",
		ReadTimeout:        cfg.ReadTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		MaxRequestBodySize: cfg.MaxBodyBytes,
		ReadBufferSize:     cfg.MaxHeaderBytes,
		// Streams are hijacked and written by the hub's goroutines, with
		// no fasthttp worker or buffers parked per stream
		// (docs/platform-notes.md#memory-per-stream).
		KeepHijackedConns: true,
		ReduceMemoryUsage: true,
		CloseOnShutdown:   true,
		// Request bytes must stay out of the logs: fasthttp then leaves
		// the read buffer out of its parse errors, and the logger redacts
		// the URI and header lines some still quote.
		SecureErrorLogMessage: true,
		Logger:                newFasthttpLogger(cfg.Logger),
	}
	return s
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(frontdoor.LingerListener(ln, s.cfg.ReadTimeout))
}

// Shutdown stops accepting and waits for in-flight requests, and for the
// lingering close of any refused as too large (at most ReadTimeout). Streams
// are the hub's: end them with Drain first, or hub.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.ShutdownWithContext(ctx) }

// Handler returns the request handler, for embedding in another server.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Door returns the server's front door machinery, for another front door
// mounted on it (Mount): the front doors of one server share it, and so
// its stream limits and publish rates.
func (s *Server) Door() *frontdoor.Door { return s.door }

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	if m := s.mounted(ctx.Path()); m != nil {
		m(ctx)
		return
	}
	if done, allowed := s.cors.Apply(ctx); done {
		if !allowed {
			writeError(ctx, &APIError{Status: fasthttp.StatusForbidden, Code: CodeOriginNotAllowed, Message: "this origin may not call the hub; see --cors-origins"})
		}
		return
	}
	switch string(ctx.Path()) {
	case "/events":
		if s.allow(ctx, fasthttp.MethodGet) {
			s.events(ctx)
		}
	case "/publish":
		if s.allow(ctx, fasthttp.MethodPost) {
			s.publish(ctx)
		}
	case "/presence":
		if s.allow(ctx, fasthttp.MethodGet) {
			s.presence(ctx)
		}
	case "/healthz":
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	case "/readyz":
		s.readyz(ctx)
	case "/metrics":
		if s.cfg.Metrics == nil {
			writeError(ctx, &APIError{Status: fasthttp.StatusNotFound, Code: CodeNotFound, Message: "metrics are off"})
		} else if s.allow(ctx, fasthttp.MethodGet) {
			s.cfg.Metrics(ctx)
		}
	case "/":
		if !s.serveDemo(ctx) {
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString("ssehub: subscribe with GET /events?topic=NAME, publish with POST /publish\n")
		}
	default:
		if !s.serveDemo(ctx) {
			writeError(ctx, &APIError{Status: fasthttp.StatusNotFound, Code: CodeNotFound, Message: "no such endpoint; see /events and /publish"})
		}
	}
}

// allow answers 405 unless the request uses method.
func (s *Server) allow(ctx *fasthttp.RequestCtx, method string) bool {
	if string(ctx.Method()) == method {
		return true
	}
	ctx.Response.Header.Set("Allow", method)
	writeError(ctx, &APIError{Status: fasthttp.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
		Message: "use " + method + " for " + string(ctx.Path())})
	return false
}

// events starts an SSE stream.
func (s *Server) events(ctx *fasthttp.RequestCtx) {
	_, span := s.door.StartSpan(ctx, "/events")
	streaming := false
	defer func() {
		if !streaming { // answered with an error; else the stream ends the span
			telemetry.EndServer(span, ctx.Response.StatusCode())
		}
	}()
	req, apiErr := parseSubscribe(ctx.QueryArgs(), ctx.Request.Header.Peek("Last-Event-ID"), s.cfg.MaxTopics)
	if apiErr != nil {
		writeError(ctx, apiErr)
		return
	}
	who, apiErr := s.authorizeSubscribe(ctx, &req)
	if apiErr != nil {
		writeError(ctx, apiErr)
		return
	}
	// Everything the stream needs has been copied out of ctx: fasthttp
	// reuses it once this handler returns.
	streaming = true
	s.door.Stream(ctx, span, hub.StreamRequest{
		Stream: shard.Stream{
			Selection:   broker.Selection{Topics: req.Topics, Patterns: req.Patterns},
			LastEventID: req.LastEventID,
			Expires:     who.expires,
		},
		UserID: who.userID,
	}, s.cors, nil)
}

// publish handles POST /publish.
func (s *Server) publish(ctx *fasthttp.RequestCtx) {
	tctx, span := s.door.StartSpan(ctx, "/publish")
	defer func() { telemetry.EndServer(span, ctx.Response.StatusCode()) }()
	who, apiErr := s.authenticatePublisher(ctx)
	if apiErr != nil {
		writeError(ctx, apiErr)
		return
	}
	key, err := frontdoor.ParseIdempotencyKey(ctx.Request.Header.Peek("Idempotency-Key"))
	if err != nil {
		writeError(ctx, badRequest(CodeInvalidIdempotencyKey, "%v", err))
		return
	}
	pubs, apiErr := parsePublish(string(ctx.Request.Header.ContentType()), ctx.PostBody(), s.cfg.Publish)
	if apiErr == nil {
		apiErr = s.refuseCompanions(pubs)
	}
	if apiErr == nil {
		apiErr = authorizePublish(who.claims, pubs)
	}
	if apiErr != nil {
		writeError(ctx, apiErr)
		return
	}
	rates := s.door.PublishRates()
	if burst := rates.Burst(); burst > 0 && len(pubs) > burst {
		// No wait would let it through: a 429 with Retry-After would have
		// the client retry it forever.
		writeError(ctx, tooLarge("batch of %d events exceeds the publish burst of %d events per credential (twice --publish-rate); split it",
			len(pubs), burst))
		return
	}
	if ok, retry := rates.Take(who.key, len(pubs)); !ok {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int(retry.Seconds()+0.999))))
		writeError(ctx, &APIError{Status: fasthttp.StatusTooManyRequests, Code: CodeRateLimited,
			Message: fmt.Sprintf("publish rate over %d events/s for this credential; retry in %s", rates.Rate(), retry)})
		return
	}
	pctx, cancel := context.WithTimeout(tctx, s.cfg.WriteTimeout)
	defer cancel()
	// With auth off every publisher is the same one: a key is scoped to
	// nobody, so a retry counts whichever address it comes from.
	scope := who.key
	if s.cfg.Auth == nil {
		scope = ""
	}
	ids, err := s.hub.Publish(pctx, pubs, frontdoor.Idempotency(scope, key, ctx.PostBody(), s.cfg.IdempotencyTTL))
	if err != nil {
		if errors.Is(err, hub.ErrOverloaded) {
			// Nothing was published. One second is about how long the
			// streams take to catch up once the flood stops; clients
			// spread their retries around it.
			ctx.Response.Header.Set("Retry-After", "1")
			writeError(ctx, &APIError{Status: fasthttp.StatusServiceUnavailable, Code: CodeOverloaded,
				Message: "the hub is overloaded: its streams are behind; nothing was published; retry after Retry-After, or batch events"})
			return
		}
		if errors.Is(err, broker.ErrIdempotencyMismatch) {
			writeError(ctx, &APIError{Status: fasthttp.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused,
				Message: "this Idempotency-Key was used for another request body; nothing was published; use a new key"})
			return
		}
		if errors.Is(err, hub.ErrClosed) || errors.Is(err, broker.ErrClosed) {
			writeError(ctx, &APIError{Status: fasthttp.StatusServiceUnavailable, Code: CodeShuttingDown, Message: "the hub is shutting down; retry on another instance"})
			return
		}
		// Broker failures are transient (Redis unreachable, stalled,
		// failing over): 503 tells publishers to retry. Whether the
		// events were applied is not known: a script queued in a stalled
		// Redis runs once it resumes, after this answer. The
		// Idempotency-Key is what makes the retry safe.
		s.cfg.Logger.Error("publish", "events", len(pubs), "err", err)
		writeError(ctx, &APIError{Status: fasthttp.StatusServiceUnavailable, Code: CodeBrokerUnavailable,
			Message: "the broker did not answer: the events may or may not have been published; retry with the same Idempotency-Key, which publishes each at most once"})
		return
	}
	out := struct {
		IDs []string `json:"ids"`
	}{IDs: make([]string, len(ids))}
	for i, id := range ids {
		out.IDs[i] = id.String()
	}
	s.published.Add(uint64(len(ids)))
	tracePublish(span, pubs, out.IDs)
	body, _ := json.Marshal(out)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(body, '\n'))
}

// Published returns how many events POST /publish accepted. Safe to call
// from any goroutine.
func (s *Server) Published() uint64 { return s.published.Load() }

// readyz answers 200 when the hub can serve streams and publishes.
func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.hub.Ready(rctx); err != nil {
		writeError(ctx, &APIError{Status: fasthttp.StatusServiceUnavailable, Code: CodeNotReady, Message: err.Error()})
		return
	}
	// Keys from a JWKS URL not fetched yet: tokens that need them are
	// refused, so the hub should not be sent clients.
	if s.cfg.Auth != nil {
		if err := s.cfg.Auth.Ready(); err != nil {
			writeError(ctx, &APIError{Status: fasthttp.StatusServiceUnavailable, Code: CodeNotReady, Message: err.Error()})
			return
		}
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("ready\n")
}

// handleError answers the errors fasthttp meets before a handler runs.
// Their text may quote the request, credentials and all (see
// fasthttpLogger), so it is neither logged nor echoed here.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	answer := writeError
	if s.mounted(ctx.Path()) != nil {
		// Another door's clients (a Mercure publisher) read its errors
		// as text, not as the native API's JSON.
		answer = writePlainError
	}
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		frontdoor.LingerOnClose(ctx)
		answer(ctx, tooLarge("request body exceeds the limit of %d bytes", s.cfg.MaxBodyBytes))
	case errors.As(err, &small):
		frontdoor.LingerOnClose(ctx)
		answer(ctx, &APIError{Status: fasthttp.StatusRequestHeaderFieldsTooLarge, Code: CodeHeadersTooLarge,
			Message: fmt.Sprintf("request line and headers exceed the limit of %d bytes", s.cfg.MaxHeaderBytes)})
	default:
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			answer(ctx, &APIError{Status: fasthttp.StatusRequestTimeout, Code: CodeTimeout, Message: "request not received in time"})
			return
		}
		answer(ctx, &APIError{Status: fasthttp.StatusBadRequest, Code: CodeBadRequest, Message: "malformed HTTP request"})
	}
}
