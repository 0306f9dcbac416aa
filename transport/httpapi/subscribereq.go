package httpapi

import (
	"slices"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/internal/clip"
)

// maxLastEventIDLen caps the resume id kept from a request. Real ids are far
// shorter; the cap only bounds what a client can make us store and echo.
const maxLastEventIDLen = 128

// subscribeRequest is what GET /events asked for, copied out of the fasthttp request.
type subscribeRequest struct {
	Topics      []string // exact topics, deduplicated, in request order
	Patterns    []string // '*' patterns, deduplicated, in request order
	LastEventID string   // raw value as sent (header wins over query); "" when absent
}

// parseSubscribe reads the query of GET /events and its Last-Event-ID header.
// maxTopics bounds distinct topics and patterns together; zero means 64.
//
// Query parameters other than topic and lastEventId are ignored: browsers and
// proxies add cache busters, and the credential parameter (token) is read by
// the auth layer.
//
// A request with no topic is not refused here: an authenticated user
// follows its private topic without naming it, and its resume point counts
// like anyone's. authorizeSubscribe refuses a stream that ends up with no
// topic at all.
//
// An unusable Last-Event-ID is never an error: EventSource resends it on
// every reconnect, so refusing it would stop the client from ever
// reconnecting. It is kept (cut to 128 bytes) and the hub answers an id it
// cannot parse with an ssehub.reset event, which carries it JSON-encoded and
// never raw on the wire.
func parseSubscribe(args *fasthttp.Args, lastEventIDHeader []byte, maxTopics int) (subscribeRequest, *APIError) {
	if maxTopics <= 0 {
		maxTopics = defaultMaxTopics
	}
	var req subscribeRequest
	n := 0 // distinct topics and patterns so far; at most maxTopics
	for _, v := range args.PeekMulti("topic") {
		s := string(v) // copy: fasthttp reuses the buffer
		if err := topic.ValidatePattern(s); err != nil {
			return subscribeRequest{}, badRequest(CodeInvalidTopic, "%s", err.Error())
		}
		if err := refuseMercureNamespace(s); err != nil {
			return subscribeRequest{}, err
		}
		list := &req.Topics
		if topic.IsPattern(s) {
			list = &req.Patterns
		}
		if slices.Contains(*list, s) {
			continue
		}
		if n == maxTopics {
			return subscribeRequest{}, badRequest(CodeTooManyTopics, "more than %d topics and patterns in one subscription", maxTopics)
		}
		*list = append(*list, s)
		n++
	}
	id := lastEventIDHeader
	if len(id) == 0 {
		id = args.Peek("lastEventId")
	}
	if len(id) > maxLastEventIDLen {
		id = id[:maxLastEventIDLen]
	}
	req.LastEventID = string(id)
	return req, nil
}

// refuseMercureNamespace refuses a native topic or pattern under the
// Mercure front door's prefix: a native stream has no Mercure grants, so
// it could read private updates there, and a native publish would reach
// Mercure subscribers without their door's checks
// (docs/mercure-design.md, "Topic mapping").
func refuseMercureNamespace(name string) *APIError {
	if mercuremap.IsMapped(name) {
		return badRequest(CodeInvalidTopic, "topic %s: names under %q are the Mercure front door's", clip.Quote(name), mercuremap.Prefix)
	}
	return nil
}
