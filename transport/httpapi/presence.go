package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/transport/auth"
)

const (
	// DefaultPresenceLimit is how many users a page of GET
	// /presence?list=users holds when limit is not given.
	DefaultPresenceLimit = 100
	// MaxPresenceLimit is the largest limit a page may ask for: a page
	// is read and encoded whole.
	MaxPresenceLimit = 1000
	// presenceTimeout bounds a presence query: a stalled Redis gets 503
	// broker_unavailable, as /readyz does, rather than a hanging request.
	presenceTimeout = 2 * time.Second
)

// presenceRequest is what GET /presence asked for.
type presenceRequest struct {
	topic  string // an exact topic or a pattern; for user, "user/<user>"
	user   string // set for ?user=
	list   bool   // ?list=users
	cursor string
	limit  int
}

// parsePresence reads the query of GET /presence: topic=T (an exact topic
// or a pattern) or user=U, and, with topic, list=users, cursor and limit.
func parsePresence(args *fasthttp.Args) (presenceRequest, *APIError) {
	t, u := string(args.Peek("topic")), string(args.Peek("user"))
	var req presenceRequest
	switch {
	case t != "" && u != "":
		return req, badRequest(CodeBadRequest, "give topic or user, not both")
	case t != "":
		if err := topic.ValidatePattern(t); err != nil {
			return req, badRequest(CodeInvalidTopic, "%s", err.Error())
		}
		req.topic = t
	case u != "":
		// A user is online while a stream follows its private topic,
		// which every stream of an authenticated user does.
		if err := topic.ValidateTopic("user/" + u); err != nil {
			return req, badRequest(CodeInvalidTopic, "user %s cannot be a subject: %s", clip.Quote(u), err.Error())
		}
		req.topic, req.user = "user/"+u, u
	default:
		return req, badRequest(CodeMissingTopic, "missing topic; add ?topic=NAME, or ?user=SUBJECT")
	}
	switch l := string(args.Peek("list")); {
	case l == "users" && req.user == "":
		req.list = true
	case l != "":
		return req, badRequest(CodeBadRequest, "list must be users, with topic; got %s", clip.Quote(l))
	}
	req.cursor, req.limit = string(args.Peek("cursor")), DefaultPresenceLimit
	if !req.list && (req.cursor != "" || args.Has("limit")) {
		return req, badRequest(CodeBadRequest, "cursor and limit go with list=users")
	}
	if args.Has("limit") {
		n, err := strconv.Atoi(string(args.Peek("limit")))
		if err != nil || n < 1 || n > MaxPresenceLimit {
			return req, badRequest(CodeInvalidLimit, "limit must be a number from 1 to %d, got %s", MaxPresenceLimit, clip.Quote(string(args.Peek("limit"))))
		}
		req.limit = n
	}
	return req, nil
}

// presence answers GET /presence.
func (s *Server) presence(ctx *fasthttp.RequestCtx) {
	store := s.hub.Presence()
	if store == nil {
		writeError(ctx, &APIError{Status: fasthttp.StatusNotFound, Code: CodeNotFound, Message: "presence is off; start the hub with --presence"})
		return
	}
	req, apiErr := parsePresence(ctx.QueryArgs())
	if apiErr == nil {
		apiErr = s.authorizePresence(ctx, req.topic)
	}
	if apiErr != nil {
		writeError(ctx, apiErr)
		return
	}
	qctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	var out any
	var err error
	switch {
	case req.user != "":
		var n int64
		n, err = store.MemberPresence(qctx, req.topic, req.user)
		out = struct {
			User    string `json:"user"`
			Online  bool   `json:"online"`
			Streams int64  `json:"streams"`
		}{req.user, n > 0, n}
	case req.list:
		var page broker.PresencePage
		page, err = store.PresenceMembers(qctx, req.topic, req.cursor, req.limit)
		type member struct {
			User    string `json:"user"`
			Streams int64  `json:"streams"`
		}
		members := make([]member, len(page.Members))
		for i, m := range page.Members {
			members[i] = member{m.User, m.Streams}
		}
		out = struct {
			Topic   string   `json:"topic"`
			Members []member `json:"members"`
			Cursor  string   `json:"cursor,omitempty"`
		}{req.topic, members, page.Cursor}
	default:
		var p broker.TopicPresence
		p, err = store.TopicPresence(qctx, req.topic)
		out = struct {
			Topic   string `json:"topic"`
			Streams int64  `json:"streams"`
			Users   int64  `json:"users"`
		}{req.topic, p.Streams, p.Users}
	}
	switch {
	case errors.Is(err, broker.ErrBadCursor):
		writeError(ctx, badRequest(CodeInvalidCursor, "cursor %s is not one this hub handed out; start again without it", clip.Quote(req.cursor)))
		return
	case err != nil:
		s.cfg.Logger.Warn("presence query", "topic", req.topic, "err", err)
		writeError(ctx, &APIError{Status: fasthttp.StatusServiceUnavailable, Code: CodeBrokerUnavailable,
			Message: "the broker did not answer; retry"})
		return
	}
	body, _ := json.Marshal(out)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBody(append(body, '\n'))
}

// authorizePresence checks that the request's credentials may see name's
// presence (an exact topic or a pattern): the same grants as subscribing
// to it, the user's own private topic included, or publisher credentials
// (an API key, or a token whose publish claim grants it), which are the
// backends'. Another user's private topic is thus never visible to a
// subscriber token unless it was granted user/* or the like. With auth off
// everything is visible, as everything may be subscribed to.
func (s *Server) authorizePresence(ctx *fasthttp.RequestCtx, name string) *APIError {
	if s.cfg.Auth == nil {
		return nil
	}
	pattern := topic.IsPattern(name)
	allows := func(g interface {
		AllowsTopic(string) bool
		AllowsPattern(string) bool
	}) bool {
		if pattern {
			return g.AllowsPattern(name)
		}
		return g.AllowsTopic(name)
	}
	token, err := auth.Extract(string(ctx.Request.Header.Peek("Authorization")),
		string(ctx.Request.Header.Peek("Cookie")), string(ctx.QueryArgs().Peek("token")))
	if errors.Is(err, auth.ErrMissing) && allows(s.cfg.PublicTopics) {
		return nil
	}
	if err != nil {
		return unauthorized(err)
	}
	for _, k := range s.cfg.APIKeys {
		if subtle.ConstantTimeCompare([]byte(token), []byte(k)) == 1 {
			return nil
		}
	}
	claims, err := s.cfg.Auth.Verify(token)
	if err != nil {
		return unauthorized(err)
	}
	if claims.Subject != "" && name == "user/"+claims.Subject ||
		allows(claims.Subscribe) || allows(claims.Publish) || allows(s.cfg.PublicTopics) {
		return nil
	}
	return forbidden("the token does not grant topic %s, so neither its presence", clip.Quote(name))
}
