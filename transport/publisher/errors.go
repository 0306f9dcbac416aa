package publisher

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The hub's error codes (docs/protocol.md#error-codes) that a publisher
// may act on; an [Error] carries any code the hub answers. Their values
// never change.
const (
	// CodeRateLimited (429): over the publisher's --publish-rate.
	// Retried after Retry-After.
	CodeRateLimited = "rate_limited"
	// CodeOverloaded (503): the hub's streams are behind. Nothing was
	// published. Retried after Retry-After.
	CodeOverloaded = "overloaded"
	// CodeShuttingDown (503): the hub is stopping. Nothing was published.
	// Retried, which reaches another hub behind a load balancer.
	CodeShuttingDown = "shutting_down"
	// CodeBrokerUnavailable (503): the broker (Redis) failed or stalled:
	// the events may or may not have been published. Retried with the
	// same Idempotency-Key, which publishes each at most once. A call
	// that ends with it did not say whether its events were published.
	CodeBrokerUnavailable = "broker_unavailable"
	// CodeIdempotencyKeyReused (422): the key of WithIdempotencyKey was
	// used before with other events. Nothing was published.
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	// CodeTooLarge (413): the body, an event's data or a batch is over
	// the hub's limit, or a batch is larger than the publish burst.
	CodeTooLarge = "too_large"
)

// Error is an error answer of the hub: any status but 200. A call returns
// it as is when it is not worth retrying (a 4xx but 408 and 429), and
// wrapped, in a chain errors.As finds, when the retries ran out.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the hub's machine-readable code, such as "invalid_topic"
	// or one of the Code constants; empty when the answer was not the
	// hub's JSON (a proxy's error page).
	Code string
	// Message is the hub's explanation, for people; or the start of a
	// proxy's answer.
	Message string
	// RetryAfter is the wait the Retry-After header asked for; zero if
	// none.
	RetryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("hub answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("hub answered %d %s: %s", e.Status, e.Code, e.Message)
}

// newError reads an error answer: the hub's JSON
// {"error":{"code":"...","message":"..."}}, or any other body, of which
// the start becomes the message.
func newError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var hub struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &hub) == nil && hub.Error.Code != "" {
		e.Code, e.Message = hub.Error.Code, hub.Error.Message
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = strconv.Quote(msg)
	return e
}

// maxRetryAfter bounds the wait a Retry-After may ask for. The hub asks
// for a few seconds; an hour would be a misconfigured proxy, and a call
// with no deadline would hang on it.
const maxRetryAfter = time.Minute

// parseRetryAfter reads a Retry-After value (RFC 9110 section 10.2.3):
// seconds, or an HTTP date, relative to now. Anything else, or a time in
// the past, is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
