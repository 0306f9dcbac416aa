package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/transport/auth"
)

// unauthorized answers a credential problem with 401 and the auth code.
func unauthorized(err error) *APIError {
	code := auth.Code(err)
	if code == "" {
		code = CodeUnauthorized
	}
	return &APIError{Status: fasthttp.StatusUnauthorized, Code: code, Message: err.Error()}
}

func forbidden(format string, args ...any) *APIError {
	e := badRequest(CodeForbiddenTopic, format, args...)
	e.Status = fasthttp.StatusForbidden
	return e
}

// streamIdentity is who a stream belongs to, once authorized.
type streamIdentity struct {
	userID  string    // "" for an anonymous stream
	expires time.Time // when its token expires; zero without a token
}

// authorizeSubscribe checks the stream's credentials against what it asks
// for and adds the user's private topic user/<sub>. With auth off
// everything is allowed.
//
// A stream must follow something: with no topic named and no private topic
// added, it is refused (missing_topic).
func (s *Server) authorizeSubscribe(ctx *fasthttp.RequestCtx, req *subscribeRequest) (streamIdentity, *APIError) {
	if s.cfg.Auth == nil {
		return streamIdentity{}, requireTopic(req)
	}
	token, err := auth.Extract(string(ctx.Request.Header.Peek("Authorization")),
		string(ctx.Request.Header.Peek("Cookie")), string(ctx.QueryArgs().Peek("token")))
	if errors.Is(err, auth.ErrMissing) {
		// Anonymous: only public topics.
		for _, t := range req.Topics {
			if !s.grants(s.cfg.PublicTopics.AllowsTopic, t) {
				return streamIdentity{}, unauthorized(err)
			}
		}
		for _, p := range req.Patterns {
			if !s.grants(s.cfg.PublicTopics.AllowsPattern, p) {
				return streamIdentity{}, unauthorized(err)
			}
		}
		return streamIdentity{}, requireTopic(req)
	}
	if err != nil {
		return streamIdentity{}, unauthorized(err)
	}
	claims, err := s.cfg.Auth.Verify(token)
	if err != nil {
		return streamIdentity{}, unauthorized(err)
	}
	private := ""
	if claims.Subject != "" {
		private = "user/" + claims.Subject
	}
	isPrivate := func(t string) bool { return t == private }
	for _, t := range req.Topics {
		if !s.grants(isPrivate, t) && !s.grants(claims.Subscribe.AllowsTopic, t) && !s.grants(s.cfg.PublicTopics.AllowsTopic, t) {
			return streamIdentity{}, forbidden("the token does not grant topic %s", clip.Quote(t))
		}
	}
	for _, p := range req.Patterns {
		// A pattern must be covered as a whole by a grant: it may match
		// other users' private topics otherwise.
		if !s.grants(claims.Subscribe.AllowsPattern, p) && !s.grants(s.cfg.PublicTopics.AllowsPattern, p) {
			return streamIdentity{}, forbidden("the token does not grant every topic pattern %s can match", clip.Quote(p))
		}
	}
	if private != "" && !slices.Contains(req.Topics, private) {
		req.Topics = append(req.Topics, private)
	}
	if apiErr := requireTopic(req); apiErr != nil {
		return streamIdentity{}, apiErr
	}
	return streamIdentity{userID: claims.Subject, expires: claims.ExpiresAt}, nil
}

// grants reports whether allows allows name, or, with presence events on,
// the topic or pattern whose companion name is: the join and leave events
// of a topic are for whoever may follow it (docs/protocol.md#presence).
// A name is never checked with the prefix cut off otherwise, so that a
// deployment without events keeps "presence:" topics as ordinary ones.
func (s *Server) grants(allows func(string) bool, name string) bool {
	if allows(name) {
		return true
	}
	of, ok := strings.CutPrefix(name, broker.PresencePrefix)
	return ok && s.cfg.PresenceEvents && of != "" && allows(of)
}

// refuseCompanions refuses publishing to the companion topics of presence
// events, with events on: only the hub writes there, so subscribers can
// trust what they read.
func (s *Server) refuseCompanions(pubs []broker.Publication) *APIError {
	if !s.cfg.PresenceEvents {
		return nil
	}
	for _, p := range pubs {
		for _, t := range p.Topics {
			if strings.HasPrefix(t, broker.PresencePrefix) {
				return badRequest(CodeInvalidTopic, "topic %s is reserved: topics starting with %q carry the hub's presence events", clip.Quote(t), broker.PresencePrefix)
			}
		}
	}
	return nil
}

// requireTopic refuses a stream that follows nothing.
func requireTopic(req *subscribeRequest) *APIError {
	if len(req.Topics)+len(req.Patterns) == 0 {
		return badRequest(CodeMissingTopic, "missing topic; add ?topic=NAME (repeatable)")
	}
	return nil
}

// publisher is who publishes: its grant (nil with auth off) and the key its
// publish rate is counted under.
type publisher struct {
	claims *auth.Claims
	key    string
}

// authenticatePublisher verifies the publisher's credentials, before its
// body is read: a static API key (which may publish anywhere) or a token.
func (s *Server) authenticatePublisher(ctx *fasthttp.RequestCtx) (publisher, *APIError) {
	if s.cfg.Auth == nil {
		return publisher{key: "ip:" + ctx.RemoteIP().String()}, nil
	}
	// Publishers are servers: the Authorization header only.
	token, err := auth.Extract(string(ctx.Request.Header.Peek("Authorization")), "", "")
	if err != nil {
		return publisher{}, unauthorized(err)
	}
	for i, k := range s.cfg.APIKeys {
		if subtle.ConstantTimeCompare([]byte(token), []byte(k)) == 1 {
			return publisher{claims: &auth.Claims{Publish: s.everything}, key: "apikey:" + strconv.Itoa(i)}, nil
		}
	}
	// A credential that cannot be a token was meant as an API key: say
	// so, rather than how it fails to parse as a token.
	if len(s.cfg.APIKeys) > 0 && strings.Count(token, ".") != 2 {
		return publisher{}, &APIError{Status: fasthttp.StatusUnauthorized, Code: CodeInvalidAPIKey,
			Message: "not one of the hub's API keys (--api-keys), nor a token"}
	}
	claims, err := s.cfg.Auth.Verify(token)
	if err != nil {
		return publisher{}, unauthorized(err)
	}
	key := "sub:" + claims.Subject
	if claims.Subject == "" {
		sum := sha256.Sum256([]byte(token))
		key = "token:" + hex.EncodeToString(sum[:8])
	}
	return publisher{claims: &claims, key: key}, nil
}

// authorizePublish checks that claims grant every topic of pubs.
func authorizePublish(claims *auth.Claims, pubs []broker.Publication) *APIError {
	if claims == nil {
		return nil
	}
	for _, p := range pubs {
		for _, t := range p.Topics {
			if !claims.Publish.AllowsTopic(t) {
				return forbidden("the token does not grant publishing to topic %s", clip.Quote(t))
			}
		}
	}
	return nil
}
