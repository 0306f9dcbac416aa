package mercure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/internal/telemetry"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/frontdoor"
)

// DefaultPath is where the door is served when Config.Path is empty: the
// well-known URL draft-07 §2 (Discovery) requires.
const DefaultPath = "/.well-known/mercure"

// DefaultCookieName is the cookie a token is read from when
// Config.CookieName is empty (draft-07 §6).
const DefaultCookieName = "mercureAuthorization"

// SecureCookieName is the cookie name draft-08 §6.1 recommends. It is
// read after Config.CookieName, so a browser app following either draft
// works without configuration.
const SecureCookieName = "__Secure-mercure_access_token"

// Config configures the door. Zero fields take the documented defaults.
type Config struct {
	// Path is the hub's URL path. Empty means DefaultPath.
	Path string
	// Publishers verifies publishers' tokens; it must be made with
	// auth.Config.Mercure. Nil means no one may publish.
	Publishers *auth.Verifier
	// Subscribers verifies subscribers' tokens (auth.Config.Mercure).
	// Nil means Publishers: one key for both, as Mercure's jwt_key.
	Subscribers *auth.Verifier
	// Anonymous lets subscribers without a token in; they get public
	// updates only (Mercure's anonymous directive). False means 401.
	Anonymous bool
	// CORSOrigins are the origins whose pages may subscribe and publish
	// with credentials ("*": any, without credentials). Empty means
	// same-origin only.
	CORSOrigins []string
	// MaxSelectors bounds the topic selectors of one subscription. Zero
	// means DefaultMaxSelectors.
	MaxSelectors int
	// CookieName is the cookie a token may come in. Empty means
	// DefaultCookieName. SecureCookieName is read too, after it.
	CookieName string
	// Resource is the hub's OAuth 2.0 resource identifier, which the aud
	// claim of a draft-08 token must contain (draft-08 §6.3 recommends the
	// hub's canonical URL, such as
	// https://hub.example.com/.well-known/mercure). Empty refuses every
	// draft-08 token: §6.3 requires a hub to be configured with one, and
	// the request's Host cannot stand in for it (a client chooses it).
	Resource string
	// HubURL is the hub's public URL, such as
	// https://hub.example.com/.well-known/mercure: relative URL patterns,
	// and the relative topics they are matched with (the hub's own
	// subscription events), resolve against it (draft-08 §4.2). It must
	// be an absolute URL (New panics otherwise). Empty means Resource
	// when that is an absolute URL, else http://localhost and Path, with
	// which relative patterns match relative topics, but absolute
	// patterns naming the hub's real host do not.
	HubURL string
	// Protocol is the one generation of tokens accepted, Draft07 or
	// Draft08 (Mercure's protocol_version_compatibility); a token of the
	// other is 401 invalid_token. Zero accepts both.
	Protocol Generation
	// MaxTopics bounds the topics of one update. Zero means
	// DefaultMaxTopics.
	MaxTopics int
	// PublishTimeout bounds a publish. Zero means 10s.
	PublishTimeout time.Duration
	// IdempotencyTTL is how long a publish sent with an Idempotency-Key
	// header is remembered, as on the native API. Zero means
	// broker.DefaultIdempotencyTTL.
	IdempotencyTTL time.Duration
	// Logger receives the door's log lines. Nil means slog.Default.
	Logger *slog.Logger
	// Subscriptions, if not nil, turns active subscriptions on (draft-07
	// §8, draft-08 §8; Mercure's subscriptions directive): the fleet's
	// store of them, which the hub's broker implements. Close the door
	// before the hub then.
	Subscriptions broker.MercureSubscriptionStore
	// SubscriptionsTTL is how long the subscriptions of a hub that dies
	// without closing its door stay listed. Zero means
	// broker.DefaultPresenceTTL.
	SubscriptionsTTL time.Duration
}

// Door serves the Mercure protocol at its path, over the hub the native
// API serves too (docs/mercure-design.md). Built so far: publishing
// (draft-07 §5, draft-08 §5) and subscribing (draft-07 §4 and draft-08 §3
// selectors), with draft-07 tokens (the mercure claim) and draft-08
// access tokens (authorization_details), and active subscriptions
// (draft-07 §8, draft-08 §8) when Config.Subscriptions is set.
type Door struct {
	hub       *hub.Hub
	front     *frontdoor.Door
	cors      *frontdoor.CORS
	cfg       Config
	queries   subscriptionCache // parsed subscription queries
	subs      *registry         // active subscriptions; nil when off
	base      *urlpattern.Base  // Config.HubURL, parsed
	metadata  *resourceMetadata // nil: none served
	noToken   *Error            // the answer to a request without a token
	published atomic.Uint64     // updates accepted, for metrics
}

// New returns the door for h; front is the native server's (it holds the
// publish rates both doors share).
func New(h *hub.Hub, front *frontdoor.Door, cfg Config) *Door {
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Subscribers == nil {
		cfg.Subscribers = cfg.Publishers
	}
	cors := frontdoor.NewCORS(cfg.CORSOrigins, frontdoor.CORSOptions{
		AllowHeaders:  "Authorization, Last-Event-ID, Content-Type, Cache-Control",
		ExposeHeaders: []string{resumeHeader, legacyResumeHeader},
	})
	d := &Door{hub: h, front: front, cors: cors, cfg: cfg, base: hubBase(cfg), metadata: newResourceMetadata(cfg.Resource)}
	// One value for every request without a token (an anonymous
	// subscriber's): not to be modified.
	d.noToken = &Error{Status: http.StatusUnauthorized, Message: "no token", challenge: d.metadata.challenge()}
	if cfg.Subscriptions != nil {
		d.subs = newRegistry(h, cfg.Subscriptions, cfg.SubscriptionsTTL, d.base, cfg.Logger)
	}
	return d
}

// hubBase is the URL relative patterns and topics resolve against
// (Config.HubURL).
func hubBase(cfg Config) *urlpattern.Base {
	if cfg.HubURL != "" {
		b, err := urlpattern.NewBase(cfg.HubURL)
		if err != nil {
			panic("mercure: Config.HubURL: " + err.Error())
		}
		return b
	}
	if b, err := urlpattern.NewBase(cfg.Resource); err == nil && cfg.Resource != "" {
		return b
	}
	b, err := urlpattern.NewBase("http://localhost" + cfg.Path)
	if err != nil {
		panic("mercure: Config.Path: " + err.Error()) // CheckMountPath lets no such path through
	}
	return b
}

// Close ends the door's active subscriptions: it publishes their end
// (active false) and removes them from the fleet's store, and stops the
// goroutine that records them. Call it once streams are drained, before
// the hub shuts down. A door without Config.Subscriptions has nothing to
// close.
func (d *Door) Close(ctx context.Context) error {
	if d.subs == nil {
		return nil
	}
	return d.subs.close(ctx)
}

// MercureSubscriptionCounts returns SubscriptionStats's counters, for
// metrics (metrics.MercureSubscriptionReporter).
func (d *Door) MercureSubscriptionCounts() (active int64, events, dropped, errors uint64) {
	st := d.SubscriptionStats()
	return st.Active, st.Events, st.Dropped, st.Errors
}

// SubscriptionStats returns the counters of the door's active
// subscriptions; zero when they are off.
func (d *Door) SubscriptionStats() SubscriptionStats {
	if d.subs == nil {
		return SubscriptionStats{}
	}
	return d.subs.stats()
}

// Published returns how many updates the door accepted. Safe to call
// from any goroutine.
func (d *Door) Published() uint64 { return d.published.Load() }

// Path is where the door is served (httpapi.Server.Mount).
func (d *Door) Path() string { return d.cfg.Path }

// Handle answers the requests under the door's path.
func (d *Door) Handle(ctx *fasthttp.RequestCtx) {
	if done, allowed := d.cors.Apply(ctx); done {
		if !allowed {
			writeError(ctx, &Error{Status: http.StatusForbidden, Message: "this origin may not call the hub"})
		}
		return
	}
	if d.subs != nil && strings.HasPrefix(string(ctx.URI().PathOriginal()), d.cfg.Path+subscriptionsSegment) {
		d.subscriptionsAPI(ctx)
		return
	}
	if string(ctx.Path()) != d.cfg.Path {
		writeError(ctx, &Error{Status: http.StatusNotFound, Message: "not found"})
		return
	}
	switch string(ctx.Method()) {
	case fasthttp.MethodPost:
		d.publish(ctx)
	case fasthttp.MethodGet:
		d.subscribe(ctx)
	default:
		ctx.Response.Header.Set("Allow", "GET, POST")
		writeError(ctx, &Error{Status: http.StatusMethodNotAllowed, Message: "use GET to subscribe, POST to publish"})
	}
}

// resumeHeader says where a resumed stream resumed from (draft-08 §7);
// legacyResumeHeader is draft-07's name for it.
const (
	resumeHeader       = "Mercure-Last-Event-ID"
	legacyResumeHeader = "Last-Event-ID"
)

// resumeHead is the shard.MercureHead of the door's streams: their head,
// with the CORS headers of their origin, and where they resumed from in
// Mercure-Last-Event-ID and Last-Event-ID (draft-08 §7). Of no size and
// comparable, the shard shares it between streams, which hold no head
// function of their own (BENCHMARKS.md, "A Mercure stream next to a
// native one").
type resumeHead struct{}

// ResumedHead implements shard.MercureHead.
func (resumeHead) ResumedHead(head []byte, resumedFrom string) []byte {
	return frontdoor.WithHeader(head, [][2]string{{resumeHeader, resumedFrom}, {legacyResumeHeader, resumedFrom}})
}

// subscribe opens a stream (draft-07 §4, draft-08 §3): the selectors of
// the query, the token's subscribe selectors as the grants for private
// updates (none for an anonymous subscriber), and a head that says where
// the stream resumed from.
func (d *Door) subscribe(ctx *fasthttp.RequestCtx) {
	_, span := d.front.StartSpan(ctx, d.cfg.Path)
	answered := false
	defer func() {
		if !answered { // refused; else Stream ended the span
			telemetry.EndServer(span, ctx.Response.StatusCode())
		}
	}()
	// A query holding a token is not kept: tokens stay out of the cache.
	noToken := !ctx.QueryArgs().Has("authorization") && !ctx.QueryArgs().Has("access_token")
	sub, shared, err := d.queries.parse(ctx.QueryArgs().QueryString(), ctx.Request.Header.Peek("Last-Event-ID"),
		SubscribeOptions{MaxSelectors: d.cfg.MaxSelectors, Base: d.base}, noToken)
	if err != nil {
		writeError(ctx, err)
		return
	}
	// The head says where the stream resumed from: the shard has the
	// stream's own head, with its CORS headers, made as for any stream by
	// d.front.Stream, and one resumeHead for all the streams.
	m := shard.MercureStream{Selectors: sub.Selectors, Head: resumeHead{}}
	stream := shard.Stream{Selection: broker.Selection{Topics: sub.Selectors.Mapped()}, LastEventID: sub.LastEventID}
	claims, g, err := d.authorize(ctx, d.cfg.Subscribers, true) // g is zero for an anonymous subscriber
	userID := ""
	switch {
	case err == d.noToken && d.cfg.Anonymous:
		// No token: public updates only.
	case err != nil:
		writeError(ctx, err)
		return
	default:
		var gerr error
		if m.Grants, gerr = g.subscribe(); gerr != nil {
			writeError(ctx, gerr)
			return
		}
		// A stream ends when its token expires (draft-07 §6.5, draft-08
		// §6.6).
		stream.Expires = claims.ExpiresAt
		if claims.Subject != "" {
			// --max-streams-per-user counts a Mercure subject apart from
			// a native user of the same name.
			userID = "mercure:" + claims.Subject
		}
	}
	if m.Grants == nil && shared != nil {
		stream.Mercure = shared // equal to m: the query's, for every stream without grants
	} else {
		own := m
		stream.Mercure = &own
	}
	if d.subs != nil {
		ss := &streamSubs{recs: make([]broker.MercureSubscription, len(sub.List))}
		subscriber := subscriberID(claims)
		for i, sel := range sub.List {
			ss.recs[i] = subscriptionRecord(d.cfg.Path, sub.Generation, sel, subscriber, subscriptionPayload(g, sel))
		}
		stream.OnOpen = func() { d.subs.opened(ss) }
		stream.OnEnd = func(shard.Reason) { d.subs.ended(ss) }
	}
	answered = true
	d.front.Stream(ctx, span, hub.StreamRequest{Stream: stream, UserID: userID}, d.cors, nil)
}

// publish answers a publication (draft-07 §5): the token's publish
// selectors must match every topic (§6.4), else 403 and nothing is
// published; on success 200, text/plain, the update's id.
func (d *Door) publish(ctx *fasthttp.RequestCtx) {
	tctx, span := d.front.StartSpan(ctx, d.cfg.Path)
	defer func() { telemetry.EndServer(span, ctx.Response.StatusCode()) }()
	claims, g, err := d.authorize(ctx, d.cfg.Publishers, false)
	if err != nil {
		writeError(ctx, err)
		return
	}
	allowed, err := g.publish()
	if err != nil {
		writeError(ctx, err)
		return
	}
	// Not part of Mercure: ssehub's Idempotency-Key, with which a
	// publisher retries a publish that timed out (503) without
	// publishing it twice, as on the native API.
	key, err := frontdoor.ParseIdempotencyKey(ctx.Request.Header.Peek("Idempotency-Key"))
	if err != nil {
		writeError(ctx, badRequest("%v", err))
		return
	}
	// A request is of its token's generation (docs/mercure-design.md):
	// a draft-08 update has exactly one topic.
	u, err := ParseUpdate(string(ctx.PostBody()), g.gen, PublishLimits{MaxTopics: d.cfg.MaxTopics})
	if err != nil {
		writeError(ctx, err)
		return
	}
	for _, t := range u.Topics {
		if addressesHub(t, d.cfg.Path, d.base) {
			writeError(ctx, &Error{Status: http.StatusForbidden,
				Message: fmt.Sprintf("topic %s is in the hub's reserved namespace: only the hub publishes there (draft-08 §5)", clip.Quote(t))})
			return
		}
		if !allowed.MatchesAny([]string{t}) {
			writeError(ctx, insufficientScope(fmt.Sprintf("the token may not publish to topic %s (%s)", clip.Quote(t), g.cite("§6.4", "§6.5"))))
			return
		}
	}
	pub, err := publication(u, d.base)
	if err != nil {
		writeError(ctx, err)
		return
	}
	if ok, retry := d.front.PublishRates().Take(publisherKey(ctx, claims), 1); !ok {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int(retry.Seconds()+0.999))))
		writeError(ctx, &Error{Status: http.StatusTooManyRequests, Message: "publish rate exceeded for this credential"})
		return
	}
	pctx, cancel := context.WithTimeout(tctx, d.cfg.PublishTimeout)
	defer cancel()
	ids, perr := d.hub.Publish(pctx, []broker.Publication{pub},
		frontdoor.Idempotency(publisherKey(ctx, claims), key, ctx.PostBody(), d.cfg.IdempotencyTTL))
	switch {
	case errors.Is(perr, broker.ErrIdempotencyMismatch):
		writeError(ctx, &Error{Status: http.StatusUnprocessableEntity,
			Message: "this Idempotency-Key was used for another request body; nothing was published; use a new key"})
		return
	case errors.Is(perr, hub.ErrOverloaded):
		ctx.Response.Header.Set("Retry-After", "1")
		writeError(ctx, &Error{Status: http.StatusServiceUnavailable, Message: "the hub is overloaded; nothing was published; retry after Retry-After"})
		return
	case perr != nil:
		d.cfg.Logger.Error("mercure publish", "err", perr)
		writeError(ctx, &Error{Status: http.StatusServiceUnavailable,
			Message: "the broker did not answer; the update may or may not have been published; retry with the same Idempotency-Key, which publishes it at most once"})
		return
	}
	d.published.Add(1)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(transport.MercureEventID(pub.Mercure, ids[0]))
}

// publication maps u onto the broker's: its topics' mapped names, and the
// routing topic when a URL pattern could match one that its carrier
// cannot see (mercuremap.NeedsRoute; a relative topic resolved against
// base, the hub's URL).
func publication(u Update, base *urlpattern.Base) (broker.Publication, error) {
	p := broker.Publication{Event: u.Type, Data: []byte(u.Data),
		Mercure: &broker.Mercure{Topics: u.Topics, ID: u.ID, Private: u.Private, Retry: u.Retry}}
	var err error
	if p.Topics, err = mercuremap.Names(u.Topics, base); err != nil {
		return p, badRequest("topic: %v", err)
	}
	return p, nil
}

// authenticate finds the request's token and verifies it. One token is
// taken, in the precedence both drafts require (draft-08 §6.1, draft-07
// §6): the Authorization header, then the access_token query parameter
// (draft-08), then the authorization one (draft-07), then, when cookie
// is true, Config.CookieName and SecureCookieName. A malformed header
// never falls back to the others; nor does an access_token parameter
// given empty (RFC 6750 §3.1 invalid_request: a presentation, not a
// missing token).
//
// Publishing never reads the cookie: a browser sends it with a form
// another site posts, so a page anywhere could publish as the user
// (Mercure reads it for publishing only from its publish_origins, which
// ssehub has not built).
func (d *Door) authenticate(ctx *fasthttp.RequestCtx, v *auth.Verifier, cookie bool) (auth.Claims, error) {
	token := ""
	if h := ctx.Request.Header.Peek("Authorization"); len(h) > 0 {
		// The scheme is case-insensitive (RFC 7235 §2.1).
		scheme, t, _ := bytes.Cut(h, []byte(" "))
		if !bytes.EqualFold(scheme, []byte("Bearer")) || len(t) == 0 {
			return auth.Claims{}, &Error{Status: http.StatusBadRequest, Message: "the Authorization header is not a Bearer token",
				challenge: `Bearer error="invalid_request"`}
		}
		token = string(t)
	} else if ctx.QueryArgs().Has("access_token") {
		// Has, not Peek: fasthttp gives a present empty value as nil.
		q := ctx.QueryArgs().Peek("access_token")
		if len(q) == 0 {
			return auth.Claims{}, &Error{Status: http.StatusBadRequest, Message: "the access_token parameter is empty",
				challenge: `Bearer error="invalid_request"`}
		}
		token = string(q)
	} else if q := ctx.QueryArgs().Peek("authorization"); len(q) > 0 {
		token = string(q)
	} else if cookie {
		for _, name := range []string{d.cfg.CookieName, SecureCookieName} {
			if c := ctx.Request.Header.Cookie(name); len(c) > 0 {
				token = string(c)
				break
			}
		}
	}
	if token == "" {
		return auth.Claims{}, d.noToken
	}
	if v == nil {
		return auth.Claims{}, &Error{Status: http.StatusForbidden, Message: "this hub has no Mercure keys for this"}
	}
	c, err := v.Verify(token)
	if err != nil {
		// The detailed reason stays in the debug log (RFC 6750: one
		// error code for every token failure).
		d.cfg.Logger.Debug("mercure token refused", "code", auth.Code(err), "err", err)
		return auth.Claims{}, invalidToken("the token is not valid")
	}
	return c, nil
}

// authorize is authenticate, then the grants of the token (d.grants):
// its claims, what it grants, or the error to answer (d.noToken for a
// request without a token).
func (d *Door) authorize(ctx *fasthttp.RequestCtx, v *auth.Verifier, cookie bool) (auth.Claims, tokenGrants, error) {
	c, err := d.authenticate(ctx, v, cookie)
	if err != nil {
		return c, tokenGrants{}, err
	}
	g, err := d.grants(c)
	return c, g, err
}

// publisherKey is what publish rates are counted by: the token's subject
// when it has one, else the client's address.
func publisherKey(ctx *fasthttp.RequestCtx, c auth.Claims) string {
	if c.Subject != "" {
		return "mercure-sub:" + c.Subject
	}
	return "mercure-ip:" + ctx.RemoteIP().String()
}

func invalidToken(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Message: msg, challenge: `Bearer error="invalid_token"`}
}

func insufficientScope(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Message: msg, challenge: `Bearer error="insufficient_scope"`}
}

// writeError answers err as RFC 6750 asks (draft-08 §6.2): a
// WWW-Authenticate challenge on token errors, and a text/plain message.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Message: "internal error"}
	}
	if e.challenge != "" {
		ctx.Response.Header.Set("WWW-Authenticate", e.challenge)
	}
	ctx.SetStatusCode(e.Status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(e.Message + "\n")
}
