// Package publisher is a Go client for ssehub's publish API (POST /publish,
// docs/protocol.md#publish), for backends that publish events.
//
// Each call is one publish: its events are sent as one JSON request, which
// is retried until the hub answers it, the attempts run out or the
// context ends. Retrying is what makes a publish survive a hub that is
// restarting, rate-limiting or overloaded, and it is safe: every call
// carries an Idempotency-Key (docs/protocol.md#idempotent-publishing), the
// same with the same body on every attempt, so the hub publishes each
// event at most once however often the call is retried, even after a
// 503 broker_unavailable or a timeout that left the outcome unknown.
//
// What is retried: 429 and 503 (after the hub's Retry-After), 408, 502 and
// 504 (which proxies in front of a hub answer), and an attempt that failed
// to connect or timed out. Any other error answer (a bad event, a refused
// credential) is the same on every attempt, so it is returned at once as
// an [*Error] with the hub's code.
//
// A call whose context ends returns an error that wraps both the
// context's error and the last attempt's (an [*Error] if the hub
// answered), so that errors.Is and errors.As find either. A call whose
// next attempt would come after the context's deadline (a Retry-After
// longer than the time left) ends at once, with context.DeadlineExceeded:
// waiting could not end otherwise.
//
// The package uses only the standard library, so that a backend importing
// it takes in nothing of the hub.
package publisher

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Event is one event to publish (docs/protocol.md#json-body).
type Event struct {
	// Topics are the exact topics the event goes to, at least one. A
	// stream following several of them receives it once.
	Topics []string
	// Event is the SSE event name. Empty means the default, "message",
	// which EventSource hands to onmessage.
	Event string
	// Data is what subscribers receive as the event's data, as is. It
	// may be JSON text (encode a value with json.Marshal first), and may
	// have several lines. The hub refuses data that is not valid UTF-8
	// (400 invalid_data): it is sent as it is rather than repaired.
	Data string
}

// Config configures a Client. Only URL is required; zero fields take the
// documented defaults.
type Config struct {
	// URL is the hub's base URL, such as "https://hub.example.com"; the
	// client posts to URL + "/publish". A path is kept, for a hub served
	// under a prefix by a proxy.
	URL string
	// Token is the publisher's credential, sent as "Authorization: Bearer
	// <Token>": an API key (--api-keys) or a JWT with a publish grant.
	// Empty sends none, for a hub with --auth off.
	Token string
	// HTTPClient sends the requests. Nil means a client of the package's
	// own, on a copy of http.DefaultTransport; CloseIdleConnections
	// closes its connections. Its Timeout, if any, bounds each attempt.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts of one call, the first included.
	// Zero means 5; one means no retries; negative means no bound but the
	// context's.
	MaxAttempts int
	// AttemptTimeout bounds one attempt, so that a stalled connection is
	// given up and retried while the context leaves time. It should exceed
	// the hub's --write-timeout (10s by default), after which the hub
	// answers a stalled broker with 503 itself. Zero means 15s; negative
	// means only the context bounds an attempt.
	AttemptTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry: before
	// retry n the client waits a random time below MinBackoff·2^(n-1),
	// capped at MaxBackoff ("full jitter"), or, when the hub sent
	// Retry-After, that long plus such a random time, so that publishers
	// refused together do not come back together. Zero means 100ms and
	// 5s.
	MinBackoff, MaxBackoff time.Duration
	// UserAgent is sent as the User-Agent header. Empty means
	// "ssehub-publisher-go".
	UserAgent string
	// OnRetry, if not nil, is called before each retry's wait, on the
	// calling goroutine, with the attempt that failed (1 for the first),
	// its error and the wait: a place to log or count retries.
	OnRetry func(attempt int, err error, wait time.Duration)
}

// Defaults of Config's zero fields.
const (
	DefaultMaxAttempts    = 5
	DefaultAttemptTimeout = 15 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultUserAgent      = "ssehub-publisher-go"
)

// maxResponseBytes bounds how much of an answer is read: the hub's are a
// few hundred bytes, or 30 bytes per id of a batch of at most --max-batch.
const maxResponseBytes = 4 << 20

// Client publishes to one hub. It is safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint string // cfg.URL + "/publish"
	auth     string // the Authorization header, or ""
	own      bool   // cfg.HTTPClient is the package's, closed by CloseIdleConnections
}

// New returns a client for the hub at cfg.URL.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("publisher: hub URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("publisher: hub URL %q: want http:// or https:// and a host", cfg.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("publisher: hub URL %q: want no query or fragment", cfg.URL)
	}
	// Checked here: net/http would refuse such a header on every attempt,
	// an error that looks like a network failure and would be retried.
	if !headerSafe(cfg.Token) || !headerSafe(cfg.UserAgent) {
		return nil, errors.New("publisher: token or user agent has a control character")
	}
	c := &Client{cfg: cfg, endpoint: strings.TrimSuffix(u.String(), "/") + "/publish"}
	if cfg.Token != "" {
		c.auth = "Bearer " + cfg.Token
	}
	if c.cfg.HTTPClient == nil {
		c.cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		c.own = true
	}
	if c.cfg.MaxAttempts == 0 {
		c.cfg.MaxAttempts = DefaultMaxAttempts
	}
	if c.cfg.AttemptTimeout == 0 {
		c.cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.cfg.MinBackoff <= 0 {
		c.cfg.MinBackoff = DefaultMinBackoff
	}
	if c.cfg.MaxBackoff <= 0 {
		c.cfg.MaxBackoff = DefaultMaxBackoff
	}
	c.cfg.MaxBackoff = max(c.cfg.MaxBackoff, c.cfg.MinBackoff)
	if c.cfg.UserAgent == "" {
		c.cfg.UserAgent = DefaultUserAgent
	}
	return c, nil
}

// headerSafe reports whether v may be a header's value as it is: no
// control characters.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// CloseIdleConnections closes the keep-alive connections of the client's
// own HTTP client; one given as Config.HTTPClient is its owner's to close.
func (c *Client) CloseIdleConnections() {
	if c.own {
		c.cfg.HTTPClient.CloseIdleConnections()
	}
}

// CallOption changes one call of Publish or PublishBatch.
type CallOption func(*call)

type call struct {
	key string // WithIdempotencyKey's key; empty for a random one
}

// WithIdempotencyKey makes the call use key as its Idempotency-Key instead
// of a random one: for a publish that is retried beyond one call, such as
// from an outbox after a restart, with a key derived from the outbox row.
// A key is 1 to 255 bytes of printable ASCII (a '"' or '\' counts twice).
// Within the hub's --idempotency-ttl, a key reused with other events is
// refused with 422 idempotency_key_reused. An empty key means a random one.
func WithIdempotencyKey(key string) CallOption {
	return func(c *call) { c.key = key }
}

// Publish publishes one event and returns the id the hub gave it.
func (c *Client) Publish(ctx context.Context, e Event, opts ...CallOption) (string, error) {
	ids, err := c.publish(ctx, appendEvent(nil, e), 1, opts)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// PublishBatch publishes events in one request, in order, and returns
// their ids in the same order. The hub applies a batch whole or refuses it
// whole; it takes at most --max-batch events (1000 by default), and no more
// than twice the publisher's --publish-rate.
func (c *Client) PublishBatch(ctx context.Context, events []Event, opts ...CallOption) ([]string, error) {
	body := []byte{'['}
	for i, e := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendEvent(body, e)
	}
	return c.publish(ctx, append(body, ']'), len(events), opts)
}

// publish posts body, which holds n events, until an attempt is answered or
// it is time to give up.
func (c *Client) publish(ctx context.Context, body []byte, n int, opts []CallOption) ([]string, error) {
	var cl call
	for _, o := range opts {
		o(&cl)
	}
	key := cl.key
	if key == "" {
		key = newKey()
	}
	header, err := quoteKey(key)
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 1; ; attempt++ {
		ids, retryAfter, err := c.attempt(ctx, body, header, n)
		if err == nil {
			return ids, nil
		}
		if ctx.Err() != nil {
			// An attempt the context cut short failed with the context's
			// error, which says nothing new: the attempt before it says
			// more, if there was one. A hub's answer always does.
			var e *Error
			if last == nil || errors.As(err, &e) {
				last = err
			}
			return nil, giveUp(n, attempt, ctx.Err(), last)
		}
		last = err
		if retryAfter < 0 {
			return nil, wrapFinal(n, err)
		}
		if c.cfg.MaxAttempts > 0 && attempt >= c.cfg.MaxAttempts {
			return nil, fmt.Errorf("publisher: publish %d events: gave up after %d attempts: %w", n, attempt, err)
		}
		wait := retryAfter + rand.N(backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, attempt))
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			// Waiting would only end at the deadline: say so now.
			return nil, giveUp(n, attempt, context.DeadlineExceeded, err)
		}
		if c.cfg.OnRetry != nil {
			c.cfg.OnRetry(attempt, err, wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, giveUp(n, attempt, err, last)
		}
	}
}

// wrapFinal names the operation in an error not worth retrying. An *Error
// is returned as is: it already says what the hub said, and callers
// type-assert it.
func wrapFinal(n int, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("publisher: publish %d events: %w", n, err)
}

// giveUp is the error of a call whose context ended (ctxErr) after attempts,
// the last of which failed with last: both are in its chain.
func giveUp(n, attempts int, ctxErr, last error) error {
	return fmt.Errorf("publisher: publish %d events: %w after %d attempts; last: %w", n, ctxErr, attempts, last)
}

// sleep waits d or until ctx ends, without a goroutine.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt posts body once. It returns the ids, or an error with how long
// the hub asked to wait before a retry (0 if it did not say), or -1 when a
// retry would be answered the same.
func (c *Client) attempt(ctx context.Context, body []byte, key string, n int) ([]string, time.Duration, error) {
	if c.cfg.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, -1, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		var cert *tls.CertificateVerificationError
		if errors.As(err, &cert) {
			return nil, -1, err // the same certificate next time
		}
		// Refused, reset, timed out: the hub restarting, a proxy, a
		// stall. The publish may have reached the hub; the key makes the
		// retry safe.
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the answer (%s): %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := newError(resp, raw)
		if !retryable(resp.StatusCode) {
			return nil, -1, e
		}
		return nil, e.RetryAfter, e
	}
	var out struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, -1, fmt.Errorf("answer %.200q is not the hub's: %w", raw, err)
	}
	if len(out.IDs) != n {
		return nil, -1, fmt.Errorf("the hub answered %d ids for %d events", len(out.IDs), n)
	}
	return out.IDs, 0, nil
}

// retryable reports whether an answer with status may be different on
// another attempt.
func retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff returns the bound of the random wait before the retry that
// follows attempt: lo·2^(attempt-1), capped at hi.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	return max(1, min(d, hi))
}
