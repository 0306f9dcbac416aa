package httpapi

import (
	"encoding/json"
	"fmt"

	"github.com/valyala/fasthttp"
)

// The codes of [APIError], grouped by the status they are answered with.
// They are the table of docs/protocol.md#error-codes, which clients rely
// on: a value never changes. The 401 codes of token errors are in
// transport/auth (auth.CodeMissingToken and the rest, returned by
// [auth.Code]); CodeUnauthorized is the fallback for any other credential
// failure.
const (
	// CodeBadRequest (400): the HTTP request itself is malformed.
	CodeBadRequest = "bad_request"
	// CodeMissingTopic (400): no topic given, to subscribe (and no private
	// topic) or in a published event.
	CodeMissingTopic = "missing_topic"
	// CodeInvalidTopic (400): a topic or pattern breaks the topic rules, or
	// a published topic contains '*'.
	CodeInvalidTopic = "invalid_topic"
	// CodeTooManyTopics (400): more than the allowed topics and patterns in
	// a subscription, or topics in one event.
	CodeTooManyTopics = "too_many_topics"
	// CodeInvalidJSON (400): the body is not one JSON object or an array of
	// objects, has trailing data, or a field has the wrong type.
	CodeInvalidJSON = "invalid_json"
	// CodeInvalidForm (400): a malformed percent escape in a form, or data
	// or type given twice.
	CodeInvalidForm = "invalid_form"
	// CodeUnknownField (400): a JSON or form field the publish API does not
	// have.
	CodeUnknownField = "unknown_field"
	// CodeInvalidEvent (400): the event name is too long, has CR, LF or
	// NUL, is not UTF-8 (or, in JSON, escapes a lone surrogate), or uses
	// the hub's reserved prefix.
	CodeInvalidEvent = "invalid_event"
	// CodeMissingData (400): an event without data.
	CodeMissingData = "missing_data"
	// CodeInvalidData (400): the data is not valid UTF-8 (or, in a JSON
	// string, escapes a lone surrogate).
	CodeInvalidData = "invalid_data"
	// CodeEmptyBatch (400): a JSON array with no events.
	CodeEmptyBatch = "empty_batch"
	// CodeInvalidIdempotencyKey (400): an Idempotency-Key header that is
	// not printable ASCII, is longer than 255 bytes, or is a malformed
	// quoted string.
	CodeInvalidIdempotencyKey = "invalid_idempotency_key"

	// CodeInvalidCursor (400): a presence cursor the hub did not hand
	// out.
	CodeInvalidCursor = "invalid_cursor"
	// CodeInvalidLimit (400): a presence limit that is not a number from
	// 1 to MaxPresenceLimit.
	CodeInvalidLimit = "invalid_limit"

	// CodeUnauthorized (401): a credential failure that is none of the
	// token errors of transport/auth; a fallback, not expected in practice.
	CodeUnauthorized = "unauthorized"

	// CodeInvalidAPIKey (401): the publisher's bearer credential is not a
	// token (no three dot-separated parts) and not one of --api-keys.
	CodeInvalidAPIKey = "invalid_api_key"

	// CodeForbiddenTopic (403): the token does not grant a topic or pattern.
	CodeForbiddenTopic = "forbidden_topic"
	// CodeOriginNotAllowed (403): a CORS preflight from an origin that may
	// not call the hub.
	CodeOriginNotAllowed = "origin_not_allowed"

	// CodeNotFound (404): no such endpoint, /metrics with metrics off, or
	// /presence with presence off.
	CodeNotFound = "not_found"

	// CodeMethodNotAllowed (405): wrong method; the Allow header names the
	// right one.
	CodeMethodNotAllowed = "method_not_allowed"

	// CodeTimeout (408): the request was not received within the read
	// timeout.
	CodeTimeout = "timeout"

	// CodeTooLarge (413): a body, an event's data or a batch over its
	// limit, or a batch larger than the publish burst.
	CodeTooLarge = "too_large"

	// CodeUnsupportedMediaType (415): a publish body that is neither JSON
	// nor a form.
	CodeUnsupportedMediaType = "unsupported_media_type"

	// CodeIdempotencyKeyReused (422): an Idempotency-Key this publisher
	// used before, within --idempotency-ttl, with another body. Nothing
	// was published.
	CodeIdempotencyKeyReused = "idempotency_key_reused"

	// CodeRateLimited (429): over the publish rate; see Retry-After.
	CodeRateLimited = "rate_limited"

	// CodeHeadersTooLarge (431): request line and headers over the limit.
	CodeHeadersTooLarge = "headers_too_large"

	// CodeShuttingDown (503): a publish while the hub shuts down.
	CodeShuttingDown = "shutting_down"
	// CodeOverloaded (503): the hub's streams are behind and the publish
	// waited its bound (--publish-wait) for them to catch up. Nothing was
	// published; retry after Retry-After.
	CodeOverloaded = "overloaded"
	// CodeBrokerUnavailable (503): the broker failed or timed out. The
	// events may have been published, all or some: a retry with the same
	// Idempotency-Key publishes each at most once.
	CodeBrokerUnavailable = "broker_unavailable"
	// CodeNotReady (503): /readyz while the hub cannot take streams.
	CodeNotReady = "not_ready"
)

// APIError is an error answered to an HTTP client before any stream starts,
// as JSON {"error": {"code": "...", "message": "..."}}. Code is one of
// the Code constants (or a token code of transport/auth), stable and
// machine-readable; Message is for people and may change.
type APIError struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// badRequest returns a 400 APIError with a formatted message.
func badRequest(code, format string, args ...any) *APIError {
	return &APIError{Status: fasthttp.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeError answers ctx with e as JSON.
func writeError(ctx *fasthttp.RequestCtx, e *APIError) {
	body, _ := json.Marshal(struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{Error: struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.Message}})
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(e.Status)
	ctx.SetBody(append(body, '\n'))
}

// writePlainError answers e as text/plain: its status and message, for a
// request to a mounted door that failed before the door saw it.
func writePlainError(ctx *fasthttp.RequestCtx, e *APIError) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetStatusCode(e.Status)
	ctx.SetBodyString(e.Message + "\n")
}
