package mercure

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/hub/topic/uritemplate"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
	"github.com/ssehub/ssehub/internal/clip"
)

// Generation is the generation of the Mercure protocol a request speaks
// (docs/mercure-design.md): it decides the parameter names, the token's
// claims and the reserved topics of subscription events.
type Generation uint8

const (
	// Draft07 is draft-dunglas-mercure-07, what deployed hubs and client
	// libraries speak: "topic" selectors and the "mercure" claim.
	Draft07 Generation = 7
	// Draft08 is the current draft: "match" parameters and OAuth 2.0
	// access tokens with authorization_details.
	Draft08 Generation = 8
)

// Error is a request the door refuses: its HTTP status and a message for
// the client (text/plain), which quotes the request only clipped.
type Error struct {
	// Status is the HTTP status of the answer: 400, 401, 403, 413, ...
	Status int
	// Message is the answer's text/plain body.
	Message string
	// challenge is the WWW-Authenticate header of a token error (RFC
	// 6750), empty for others.
	challenge string
}

func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// DefaultMaxSelectors is how many selectors one subscription may have
// when SubscribeOptions.MaxSelectors is zero (draft-08 §3 lets a hub bound
// them).
const DefaultMaxSelectors = 64

// SubscribeOptions bound what a subscription request may ask, and say
// how its URL patterns are read.
type SubscribeOptions struct {
	// MaxSelectors is the most topic selectors or matchers of one
	// request. Zero means DefaultMaxSelectors.
	MaxSelectors int
	// Base is the hub's URL, against which relative URL patterns and
	// the topics they are matched with resolve (draft-08 §4.2); nil
	// refuses relative patterns.
	Base *urlpattern.Base
}

// Subscription is a parsed subscription request: what the stream
// follows, of either generation.
type Subscription struct {
	Generation Generation
	// Selectors are the topic selectors (draft-07 §3: exact topics, URI
	// templates, "*") or the matchers (draft-08 §4: exact and urlpattern).
	Selectors *mercure.Selectors
	// List is the selectors in request order, each once: the
	// subscriptions the request creates (draft-07 §8.1, draft-08 §8.1).
	List []mercure.Selector
	// LastEventID is the resume point, from the Last-Event-ID header or
	// the query (draft-08 §7 last_event_id, draft-07 §7 lastEventID, and
	// Last-Event-ID as older clients send it), in that precedence; empty
	// for none.
	LastEventID string
}

// ParseSubscription parses a subscription request's query string (raw,
// without "?") and its Last-Event-ID header. A request is of one
// generation: "topic" and "match" parameters together are refused, as are
// names in the reserved "match" namespace that draft-08 §3 does not
// define, values that are not UTF-8 or hold control or format characters,
// and selectors that do not parse for their type.
func ParseSubscription(query, lastEventIDHeader string, limits SubscribeOptions) (Subscription, error) {
	maxSelectors := limits.MaxSelectors
	if maxSelectors <= 0 {
		maxSelectors = DefaultMaxSelectors
	}
	var sub Subscription
	var sels []mercure.Selector
	var fields [16]formField
	var fromQuery [3]string // last_event_id, lastEventID, Last-Event-ID
	n := 0
	for _, f := range parseForm(query, fields[:0]) {
		var kind mercure.Kind
		gen := Draft08
		switch {
		case f.name == "topic":
			kind, gen = mercure.Exact, Draft07
			if uritemplate.IsTemplate(f.value) {
				kind = mercure.Template
			}
		case isMatchName(f.name):
			// Two spellings of each type: the draft-08 text the door was
			// built on (match_urlpattern) and the draft's later
			// revisions (matchURLPattern, the type name in canonical
			// case). Both are in use; neither can mean anything else.
			ok := f.name == "match" // the bare name is the default type, exact
			if typ, found := strings.CutPrefix(f.name, "match_"); found {
				kind, ok = MatcherKind(typ)
				ok = ok && typ[0] >= 'a' // match_urlpattern, never match_URLPattern
			} else if typ := f.name[len("match"):]; typ != "" && typ[0] >= 'A' && typ[0] <= 'Z' {
				kind, ok = MatcherKind(typ)
			}
			if !ok {
				return sub, badRequest("unknown parameter %s: names in the reserved match namespace are match, match_exact (matchExact) and match_urlpattern (matchURLPattern) (draft-08 §3)",
					clip.Quote(f.name))
			}
		case f.name == "last_event_id":
			fromQuery[0] = f.value
			continue
		case f.name == "lastEventID":
			fromQuery[1] = f.value
			continue
		case f.name == "Last-Event-ID":
			fromQuery[2] = f.value
			continue
		default:
			continue // other parameters are the application's
		}
		if sub.Generation != 0 && sub.Generation != gen {
			return sub, badRequest("topic and match parameters in one request: a subscription is of one protocol generation")
		}
		sub.Generation = gen
		if n++; n > maxSelectors {
			return sub, badRequest("more than %d topic selectors", maxSelectors)
		}
		if err := validateMatcher(f.value); err != nil {
			return sub, badRequest("%s: %v", f.name, err)
		}
		sel := mercure.Selector{Kind: kind, Value: f.value}
		if !slices.Contains(sels, sel) {
			sels = append(sels, sel)
		}
	}
	if sub.Generation == 0 {
		return sub, badRequest("no topic selector: subscribe with topic=... (or match=...)")
	}
	var err error
	if sub.Selectors, err = mercure.NewWithBase(sels, limits.Base); err != nil {
		return sub, badRequest("%v", err)
	}
	sub.List = sels
	sub.LastEventID = lastEventIDHeader
	for _, id := range fromQuery {
		if sub.LastEventID == "" {
			sub.LastEventID = id
		}
	}
	if strings.ContainsAny(sub.LastEventID, "\r\n\x00") {
		return sub, badRequest("the last event id holds a line break or NUL")
	}
	if len(sub.LastEventID) > MaxIDLen {
		// No id the hub knows is that long: cut, it stays unknown, and
		// the stream goes on from now with Mercure-Last-Event-ID
		// earliest. Refusing it would stop EventSource from ever
		// reconnecting.
		sub.LastEventID = sub.LastEventID[:MaxIDLen+1]
	}
	return sub, nil
}

// isMatchName reports whether name is in draft-08's reserved "match"
// namespace: "match" or a name starting with it, ASCII case-insensitively.
func isMatchName(name string) bool {
	return len(name) >= 5 && strings.EqualFold(name[:5], "match")
}

// MatcherKind maps a draft-08 matcher type name (§4: "exact",
// "urlpattern"), as the match_<type> query parameters and the match_type
// of a token's topic matchers (§6.7) spell it, to its Kind; the draft's
// later revisions spell the names in canonical case ("Exact",
// "URLPattern": matchURLPattern, matchType), which are taken too. Names
// are case-sensitive; ok is false for a type the hub does not support,
// which both places must refuse rather than skip.
func MatcherKind(name string) (kind mercure.Kind, ok bool) {
	switch name {
	case "exact", "Exact":
		return mercure.Exact, true
	case "urlpattern", "URLPattern":
		return mercure.URLPattern, true
	}
	return 0, false
}

// validateMatcher checks a matcher's value as a topic (draft-08 §2, §3:
// UTF-8, no control or format characters, bounded length). Whether it
// parses for its type is mercure.New's to say, once for the whole list.
func validateMatcher(value string) error {
	return mercuremap.Validate(value)
}
