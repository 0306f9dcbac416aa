package mercure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
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
	// DefaultCookieName.
	CookieName string
	// MaxTopics bounds the topics of one update. Zero means
	// DefaultMaxTopics.
	MaxTopics int
	// PublishTimeout bounds a publish. Zero means 10s.
	PublishTimeout time.Duration
	// Logger receives the door's log lines. Nil means slog.Default.
	Logger *slog.Logger
}

// Door serves the Mercure protocol at its path, over the hub the native
// API serves too (docs/mercure-design.md). Built so far: publishing
// (draft-07 §5) and subscribing (draft-07 §4 and draft-08 §3 selectors),
// with draft-07 tokens.
type Door struct {
	hub   *hub.Hub
	front *frontdoor.Door
	cors  *frontdoor.CORS
	cfg   Config
	subs  subscriptionCache
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
	return &Door{hub: h, front: front, cors: cors, cfg: cfg}
}

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
	sub, shared, err := d.subs.parse(ctx.QueryArgs().QueryString(), ctx.Request.Header.Peek("Last-Event-ID"),
		SubscribeLimits{MaxSelectors: d.cfg.MaxSelectors}, !ctx.QueryArgs().Has("authorization"))
	if err != nil {
		writeError(ctx, err)
		return
	}
	// The head says where the stream resumed from: the shard has the
	// stream's own head, with its CORS headers, made as for any stream by
	// d.front.Stream, and one resumeHead for all the streams.
	m := shard.MercureStream{Selectors: sub.Selectors, Head: resumeHead{}}
	stream := shard.Stream{Selection: broker.Selection{Topics: sub.Selectors.Mapped()}, LastEventID: sub.LastEventID}
	claims, err := d.authenticate(ctx, d.cfg.Subscribers, true)
	userID := ""
	var e *Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusUnauthorized && e.challenge == "Bearer" && d.cfg.Anonymous:
		// No token: public updates only.
	case err != nil:
		writeError(ctx, err)
		return
	case claims.AuthorizationDetails != nil && claims.Mercure == nil:
		writeError(ctx, invalidToken("draft-08 access tokens (authorization_details) are not supported yet"))
		return
	default:
		grant, perr := ParseClaim07(claims.Mercure)
		if perr == nil && len(grant.Subscribe) > 0 {
			m.Grants, perr = mercure.FromTopics(grant.Subscribe)
		}
		if perr != nil {
			writeError(ctx, invalidToken(perr.Error()))
			return
		}
		// A stream ends when its token expires (draft-07 §6.5).
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
	answered = true
	d.front.Stream(ctx, span, hub.StreamRequest{Stream: stream, UserID: userID}, d.cors, nil)
}

// publish answers a publication (draft-07 §5): the token's publish
// selectors must match every topic (§6.4), else 403 and nothing is
// published; on success 200, text/plain, the update's id.
func (d *Door) publish(ctx *fasthttp.RequestCtx) {
	tctx, span := d.front.StartSpan(ctx, d.cfg.Path)
	defer func() { telemetry.EndServer(span, ctx.Response.StatusCode()) }()
	claims, err := d.authenticate(ctx, d.cfg.Publishers, false)
	if err != nil {
		writeError(ctx, err)
		return
	}
	if claims.AuthorizationDetails != nil && claims.Mercure == nil {
		writeError(ctx, invalidToken("draft-08 access tokens (authorization_details) are not supported yet"))
		return
	}
	grant, perr := ParseClaim07(claims.Mercure)
	if perr != nil {
		writeError(ctx, invalidToken(perr.Error()))
		return
	}
	if len(grant.Publish) == 0 {
		writeError(ctx, insufficientScope("the token's mercure.publish claim grants no topic (draft-07 §6.4)"))
		return
	}
	allowed, perr := mercure.FromTopics(grant.Publish)
	if perr != nil {
		writeError(ctx, invalidToken(perr.Error()))
		return
	}
	u, err := ParseUpdate(string(ctx.PostBody()), Draft07, PublishLimits{MaxTopics: d.cfg.MaxTopics})
	if err != nil {
		writeError(ctx, err)
		return
	}
	for _, t := range u.Topics {
		if !allowed.MatchesAny([]string{t}) {
			writeError(ctx, insufficientScope(fmt.Sprintf("the token may not publish to topic %s (draft-07 §6.4)", clip.Quote(t))))
			return
		}
	}
	pub, err := publication(u)
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
	ids, perr := d.hub.Publish(pctx, []broker.Publication{pub}, broker.Idempotency{})
	switch {
	case errors.Is(perr, hub.ErrOverloaded):
		ctx.Response.Header.Set("Retry-After", "1")
		writeError(ctx, &Error{Status: http.StatusServiceUnavailable, Message: "the hub is overloaded; nothing was published; retry after Retry-After"})
		return
	case perr != nil:
		d.cfg.Logger.Error("mercure publish", "err", perr)
		writeError(ctx, &Error{Status: http.StatusServiceUnavailable, Message: "the broker did not answer; the update may or may not have been published"})
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(transport.MercureEventID(pub.Mercure, ids[0]))
}

// publication maps u onto the broker's: its topics' mapped names, and the
// routing topic when a URL pattern could match one that its carrier
// cannot see (mercuremap.NeedsRoute).
func publication(u Update) (broker.Publication, error) {
	p := broker.Publication{Event: u.Type, Data: []byte(u.Data),
		Mercure: &broker.Mercure{Topics: u.Topics, ID: u.ID, Private: u.Private, Retry: u.Retry}}
	var err error
	if p.Topics, err = mercuremap.Names(u.Topics); err != nil {
		return p, badRequest("topic: %v", err)
	}
	return p, nil
}

// authenticate finds the request's token and verifies it: the
// Authorization header, then the authorization query parameter, then the
// cookie when cookie is true (draft-07 §6). A malformed header never
// falls back to the others.
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
	} else if q := ctx.QueryArgs().Peek("authorization"); len(q) > 0 {
		token = string(q)
	} else if c := ctx.Request.Header.Cookie(d.cfg.CookieName); cookie && len(c) > 0 {
		token = string(c)
	}
	if token == "" {
		return auth.Claims{}, errNoToken
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

// publisherKey is what publish rates are counted by: the token's subject
// when it has one, else the client's address.
func publisherKey(ctx *fasthttp.RequestCtx, c auth.Claims) string {
	if c.Subject != "" {
		return "mercure-sub:" + c.Subject
	}
	return "mercure-ip:" + ctx.RemoteIP().String()
}

// errNoToken is authenticate's answer to a request without a token: one
// value for every anonymous subscriber. Not to be modified.
var errNoToken = &Error{Status: http.StatusUnauthorized, Message: "no token", challenge: "Bearer"}

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
