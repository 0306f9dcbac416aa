package transport

import (
	"errors"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/transport/auth"
)

// unauthorized answers a credential problem with 401 and the auth code.
func unauthorized(err error) *APIError {
	code := auth.Code(err)
	if code == "" {
		code = "unauthorized"
	}
	return &APIError{Status: fasthttp.StatusUnauthorized, Code: code, Message: err.Error()}
}

func forbidden(format string, args ...any) *APIError {
	e := badRequest("forbidden_topic", format, args...)
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
func (s *Server) authorizeSubscribe(ctx *fasthttp.RequestCtx, req *subscribeRequest) (streamIdentity, *APIError) {
	if s.cfg.Auth == nil {
		return streamIdentity{}, nil
	}
	token, err := auth.Extract(string(ctx.Request.Header.Peek("Authorization")),
		string(ctx.Request.Header.Peek("Cookie")), string(ctx.QueryArgs().Peek("token")))
	if errors.Is(err, auth.ErrMissing) {
		// Anonymous: only public topics.
		for _, t := range req.Topics {
			if !s.cfg.PublicTopics.AllowsTopic(t) {
				return streamIdentity{}, unauthorized(err)
			}
		}
		for _, p := range req.Patterns {
			if !s.cfg.PublicTopics.AllowsPattern(p) {
				return streamIdentity{}, unauthorized(err)
			}
		}
		if len(req.Topics)+len(req.Patterns) == 0 {
			return streamIdentity{}, badRequest("missing_topic", "missing topic; add ?topic=NAME (repeatable)")
		}
		return streamIdentity{}, nil
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
	for _, t := range req.Topics {
		if t != private && !claims.Subscribe.AllowsTopic(t) && !s.cfg.PublicTopics.AllowsTopic(t) {
			return streamIdentity{}, forbidden("the token does not grant topic %q", t)
		}
	}
	for _, p := range req.Patterns {
		// A pattern must be covered as a whole by a grant: it may match
		// other users' private topics otherwise.
		if !claims.Subscribe.AllowsPattern(p) && !s.cfg.PublicTopics.AllowsPattern(p) {
			return streamIdentity{}, forbidden("the token does not grant every topic pattern %q can match", p)
		}
	}
	if private != "" && !slices.Contains(req.Topics, private) {
		req.Topics = append(req.Topics, private)
	}
	if len(req.Topics)+len(req.Patterns) == 0 {
		return streamIdentity{}, badRequest("missing_topic", "missing topic; add ?topic=NAME (repeatable)")
	}
	return streamIdentity{userID: claims.Subject, expires: claims.ExpiresAt}, nil
}

// authenticatePublisher verifies the publisher's token, before its body is
// read. With auth off it returns nil claims.
func (s *Server) authenticatePublisher(ctx *fasthttp.RequestCtx) (*auth.Claims, *APIError) {
	if s.cfg.Auth == nil {
		return nil, nil
	}
	// Publishers are servers: the Authorization header only.
	token, err := auth.Extract(string(ctx.Request.Header.Peek("Authorization")), "", "")
	if err != nil {
		return nil, unauthorized(err)
	}
	claims, err := s.cfg.Auth.Verify(token)
	if err != nil {
		return nil, unauthorized(err)
	}
	return &claims, nil
}

// authorizePublish checks that claims grant every topic of pubs.
func authorizePublish(claims *auth.Claims, pubs []broker.Publication) *APIError {
	if claims == nil {
		return nil
	}
	for _, p := range pubs {
		for _, t := range p.Topics {
			if !claims.Publish.AllowsTopic(t) {
				return forbidden("the token does not grant publishing to topic %q", t)
			}
		}
	}
	return nil
}
