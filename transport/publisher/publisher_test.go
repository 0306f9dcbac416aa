package publisher_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/sockopt"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/publisher"
	"github.com/ssehub/ssehub/transport/sse"
)

func ctxTimeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testenv.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// TestPublishAndBatch: the ids Publish and PublishBatch return are the
// ones a subscriber receives, with the events' names and data unchanged.
func TestPublishAndBatch(t *testing.T) {
	th := startHub(t, hub.Config{}, httpapi.Config{})
	c := newClient(t, th, publisher.Config{})
	sub := th.subscribe(t, "topic=news&topic=user/42")
	ctx := ctxTimeout(t)

	id, err := c.Publish(ctx, publisher.Event{Topics: []string{"news", "user/42"}, Event: "alert",
		Data: "storm \"warning\"\nline 2\t\\ é 😀"})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	ids, err := c.PublishBatch(ctx, []publisher.Event{
		{Topics: []string{"news"}, Data: "1"},
		{Topics: []string{"user/42"}, Data: `{"unread":3}`},
		{Topics: []string{"news"}, Event: "message", Data: ""},
	})
	if err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	if len(ids) != 3 {
		t.Fatalf("PublishBatch returned %d ids, want 3", len(ids))
	}
	want := []sse.Event{
		{ID: id, Type: "alert", Data: "storm \"warning\"\nline 2\t\\ é 😀"},
		{ID: ids[0], Type: "message", Data: "1"},
		{ID: ids[1], Type: "message", Data: `{"unread":3}`},
		{ID: ids[2], Type: "message", Data: ""},
	}
	var got []sse.Event
	for range want {
		got = append(got, sub.next())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events received (-want +got):\n%s", diff)
	}
}

// TestCredentials: an API key and a JWT with a publish grant publish; a
// wrong key is a 401 returned at once, not retried.
func TestCredentials(t *testing.T) {
	key := auth.KeyConfig{Algorithm: auth.HS256, Secret: "0123456789abcdef0123456789abcdef-test-only"}
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{key}})
	if err != nil {
		t.Fatal(err)
	}
	const apiKey = "static-publisher-key-0123456789"
	th := startHub(t, hub.Config{}, httpapi.Config{Auth: v, APIKeys: []string{apiKey}})
	jwt, err := auth.Mint(key, auth.MintClaims{Subject: "svc", Publish: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t)
	ev := publisher.Event{Topics: []string{"news"}, Data: "x"}
	for _, tok := range []string{apiKey, jwt} {
		if _, err := newClient(t, th, publisher.Config{Token: tok}).Publish(ctx, ev); err != nil {
			t.Errorf("Publish with a valid credential: %v", err)
		}
	}

	cases := []struct {
		name, token string
		event       publisher.Event
		status      int
	}{
		{"wrong API key", "static-publisher-key-wrong", ev, http.StatusUnauthorized},
		{"no credential", "", ev, http.StatusUnauthorized},
		{"topic not granted", jwt, publisher.Event{Topics: []string{"other"}, Data: "x"}, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r retries
			c := newClient(t, th, publisher.Config{Token: tc.token, OnRetry: r.record})
			_, err := c.Publish(ctx, tc.event)
			var e *publisher.Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code == "" {
				t.Fatalf("Publish = %v, want a *publisher.Error with status %d and the hub's code", err, tc.status)
			}
			if n := r.count(); n != 0 {
				t.Errorf("%d retries of a %d, want none", n, tc.status)
			}
		})
	}
	if n := th.server.Published(); n != 2 {
		t.Errorf("hub published %d events, want the 2 with valid credentials", n)
	}
}

// TestBadInputNotRetried: events the hub refuses are answered with its
// 400 code at once; nothing is published and nothing retried. Text that is
// not UTF-8 reaches the hub as it is (encoding/json would have replaced
// it with U+FFFD and published that).
func TestBadInputNotRetried(t *testing.T) {
	th := startHub(t, hub.Config{}, httpapi.Config{})
	var r retries
	c := newClient(t, th, publisher.Config{OnRetry: r.record})
	ctx := ctxTimeout(t)
	cases := []struct {
		name   string
		events []publisher.Event
		code   string
	}{
		{"no topic", []publisher.Event{{Data: "x"}}, httpapi.CodeMissingTopic},
		{"data not UTF-8", []publisher.Event{{Topics: []string{"a"}, Data: "caf\xe9"}}, httpapi.CodeInvalidData},
		{"topic not UTF-8", []publisher.Event{{Topics: []string{"caf\xe9"}, Data: "x"}}, httpapi.CodeInvalidTopic},
		{"invalid topic", []publisher.Event{{Topics: []string{"a b"}, Data: "x"}}, httpapi.CodeInvalidTopic},
		{"pattern as topic", []publisher.Event{{Topics: []string{"user/*"}, Data: "x"}}, httpapi.CodeInvalidTopic},
		{"reserved event name", []publisher.Event{{Topics: []string{"a"}, Event: "ssehub.reset", Data: "x"}}, httpapi.CodeInvalidEvent},
		{"event name with LF", []publisher.Event{{Topics: []string{"a"}, Event: "a\nb", Data: "x"}}, httpapi.CodeInvalidEvent},
		{"empty batch", []publisher.Event{}, httpapi.CodeEmptyBatch},
		{"bad event in a batch", []publisher.Event{{Topics: []string{"a"}, Data: "ok"}, {Data: "x"}}, httpapi.CodeMissingTopic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if len(tc.events) == 1 {
				_, err = c.Publish(ctx, tc.events[0])
			} else {
				_, err = c.PublishBatch(ctx, tc.events)
			}
			var e *publisher.Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != tc.code {
				t.Fatalf("publish = %v, want 400 %s", err, tc.code)
			}
		})
	}
	if n := r.count(); n != 0 {
		t.Errorf("%d retries of 400 answers, want none", n)
	}
	if n := th.server.Published(); n != 0 {
		t.Errorf("hub published %d events, want none", n)
	}
}

// TestRateLimitedRetried: a publish over the publisher's rate is answered
// 429; the client waits the Retry-After the hub sent and publishes.
func TestRateLimitedRetried(t *testing.T) {
	// A burst of 2 events, then one a second.
	th := startHub(t, hub.Config{}, httpapi.Config{PublishRate: 1})
	var r retries
	c := newClient(t, th, publisher.Config{OnRetry: r.record, MinBackoff: 10 * time.Millisecond})
	ctx := ctxTimeout(t)
	if _, err := c.PublishBatch(ctx, []publisher.Event{{Topics: []string{"a"}, Data: "1"}, {Topics: []string{"a"}, Data: "2"}}); err != nil {
		t.Fatalf("PublishBatch of the burst: %v", err)
	}
	// Two events, which the bucket holds again only 2s after the burst:
	// a slow machine cannot make this pass without a 429.
	start := time.Now()
	if _, err := c.PublishBatch(ctx, []publisher.Event{{Topics: []string{"a"}, Data: "3"}, {Topics: []string{"a"}, Data: "4"}}); err != nil {
		t.Fatalf("PublishBatch beyond the burst: %v", err)
	}
	elapsed := time.Since(start)
	if r.count() == 0 {
		t.Fatal("PublishBatch beyond the burst was not retried; the hub should have answered 429")
	}
	for i, err := range r.errs {
		var e *publisher.Error
		if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Code != publisher.CodeRateLimited || e.RetryAfter < time.Second {
			t.Errorf("retry %d after %v, want 429 %s with Retry-After of at least 1s", i, err, publisher.CodeRateLimited)
			continue
		}
		if r.wait[i] < e.RetryAfter {
			t.Errorf("retry %d waited %v, less than Retry-After %v", i, r.wait[i], e.RetryAfter)
		}
	}
	var first *publisher.Error
	if errors.As(r.errs[0], &first) && elapsed < first.RetryAfter {
		t.Errorf("PublishBatch took %v, less than the hub's Retry-After of %v", elapsed, first.RetryAfter)
	}
	if n := th.server.Published(); n != 4 {
		t.Errorf("hub published %d events, want 4", n)
	}
}

// TestOverloadedRetried: streams that stop reading pause their shard, and
// the hub refuses publishes with 503 overloaded (here at once: no publish
// wait). The client retries after Retry-After; by then the stall timeout
// has evicted the stuck streams, and the retry is published. A refusal
// publishes nothing, so every call is published once.
func TestOverloadedRetried(t *testing.T) {
	th := startHub(t,
		hub.Config{Shards: 1, PublishWait: -1,
			Shard: shard.Config{QueueSize: 4, StallTimeout: 300 * time.Millisecond, WriteTimeout: time.Minute}},
		httpapi.Config{SendBuffer: 4 << 10, PublishRate: -1})
	for range 3 {
		stuck := dialSmallBuffer(t, th.addr)
		if _, err := stuck.Write([]byte("GET /events?topic=big HTTP/1.1\r\nHost: ssehub\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		stuck.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := stuck.Read(make([]byte, 64)); err != nil { // open; it never reads again
			t.Fatal(err)
		}
	}
	var r retries
	c := newClient(t, th, publisher.Config{OnRetry: r.record, MaxAttempts: -1})
	ctx := ctxTimeout(t)
	payload := strings.Repeat("x", 16<<10)
	calls := 0
	for ; calls < 200 && r.count() == 0; calls++ {
		if _, err := c.Publish(ctx, publisher.Event{Topics: []string{"big"}, Data: payload}); err != nil {
			t.Fatalf("Publish %d: %v", calls, err)
		}
	}
	if r.count() == 0 {
		t.Fatalf("%d publishes to 3 stuck streams, none retried; want a refusal once their shard paused", calls)
	}
	for i, err := range r.errs {
		var e *publisher.Error
		if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Code != publisher.CodeOverloaded {
			t.Errorf("retry %d after %v, want 503 %s", i, err, publisher.CodeOverloaded)
		} else if r.wait[i] < e.RetryAfter || e.RetryAfter != time.Second {
			t.Errorf("retry %d waited %v after Retry-After %v, want Retry-After 1s and at least that", i, r.wait[i], e.RetryAfter)
		}
	}
	if n := th.server.Published(); n != uint64(calls) {
		t.Errorf("hub published %d events for %d calls, want one each", n, calls)
	}
	// The retry came after the stall timeout; the evictions it waited
	// for may still be under way on a loaded machine.
	testenv.WaitFor(t, "the 3 stuck streams to be evicted as slow", func() bool {
		return th.hub.Stats()[0].Ended[shard.ReasonSlow] == 3
	})
}

// dialSmallBuffer dials addr with a small receive buffer, so that a
// stream's socket fills after a few KiB the client does not read.
func dialSmallBuffer(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: sockopt.RecvBuffer(4096)}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestContextEndsRetries: a call stops when its context ends, with the
// context's error and the hub's last answer in its chain: at once when
// the hub's Retry-After would outlast the deadline, or during the wait
// when the context is canceled. The calls publish two events, which the
// rate limiter has again only 2s after the burst.
func TestContextEndsRetries(t *testing.T) {
	th := startHub(t, hub.Config{}, httpapi.Config{PublishRate: 1})
	c := newClient(t, th, publisher.Config{})
	ev := publisher.Event{Topics: []string{"a"}, Data: "x"}
	if _, err := c.PublishBatch(ctxTimeout(t), []publisher.Event{ev, ev}); err != nil {
		t.Fatalf("PublishBatch of the burst: %v", err)
	}

	t.Run("deadline before Retry-After", func(t *testing.T) {
		var r retries
		c := newClient(t, th, publisher.Config{OnRetry: r.record})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := c.PublishBatch(ctx, []publisher.Event{ev, ev})
		var e *publisher.Error
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &e) || e.Code != publisher.CodeRateLimited {
			t.Fatalf("Publish = %v, want the deadline and 429 %s", err, publisher.CodeRateLimited)
		}
		if n := r.count(); n != 0 {
			t.Errorf("%d retries, want none: the deadline comes before Retry-After", n)
		}
	})

	t.Run("canceled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := newClient(t, th, publisher.Config{OnRetry: func(int, error, time.Duration) { cancel() }})
		_, err := c.PublishBatch(ctx, []publisher.Event{ev, ev})
		var e *publisher.Error
		if !errors.Is(err, context.Canceled) || !errors.As(err, &e) || e.Code != publisher.CodeRateLimited {
			t.Fatalf("Publish = %v, want context.Canceled and 429 %s", err, publisher.CodeRateLimited)
		}
	})
	if n := th.server.Published(); n != 2 {
		t.Errorf("hub published %d events, want the burst's 2", n)
	}
}

// TestIdempotencyKey: a call with a key of the caller's is published once
// however often it is made; the same key with other events is a 422,
// returned at once.
func TestIdempotencyKey(t *testing.T) {
	th := startHub(t, hub.Config{}, httpapi.Config{})
	var r retries
	c := newClient(t, th, publisher.Config{OnRetry: r.record})
	sub := th.subscribe(t, "topic=orders")
	ctx := ctxTimeout(t)
	// Quotes and backslashes must be escaped in the header's quoted
	// string, the same way every time.
	const key = `outbox-17 "a\b"`
	batch := []publisher.Event{{Topics: []string{"orders"}, Data: "o1"}, {Topics: []string{"orders"}, Data: "o2"}}
	first, err := c.PublishBatch(ctx, batch, publisher.WithIdempotencyKey(key))
	if err != nil {
		t.Fatalf("PublishBatch with a key: %v", err)
	}
	again, err := c.PublishBatch(ctx, batch, publisher.WithIdempotencyKey(key))
	if err != nil || !cmp.Equal(again, first) {
		t.Fatalf("PublishBatch again with the key = %v, %v; want the first ids %v", again, err, first)
	}
	_, err = c.Publish(ctx, publisher.Event{Topics: []string{"orders"}, Data: "other"}, publisher.WithIdempotencyKey(key))
	var e *publisher.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity || e.Code != publisher.CodeIdempotencyKeyReused {
		t.Errorf("the key with other events = %v, want 422 %s", err, publisher.CodeIdempotencyKeyReused)
	}
	for _, bad := range []string{"caf\xe9", "tab\there", strings.Repeat("k", 256), strings.Repeat(`"`, 128)} {
		if _, err := c.Publish(ctx, batch[0], publisher.WithIdempotencyKey(bad)); err == nil || errors.As(err, &e) {
			t.Errorf("Publish with key %q = %v, want the client to refuse it", bad, err)
		}
	}
	if _, err := c.Publish(ctx, publisher.Event{Topics: []string{"orders"}, Data: "end"}); err != nil {
		t.Fatal(err)
	}
	data, ids := sub.readUntil("end")
	if data["o1"] != 1 || data["o2"] != 1 || data["other"] != 0 || ids[first[0]] != 1 || ids[first[1]] != 1 {
		t.Errorf("received data %v, ids %v; want o1 and o2 once each, with ids %v", data, ids, first)
	}
	if n := r.count(); n != 0 {
		t.Errorf("%d retries, want none", n)
	}
}

// TestBrokerUnavailableRetriedOnce stalls Redis under a publish. The hub
// answers 503 broker_unavailable once its publish bound (--write-timeout)
// passes, but the publish is queued in the stalled Redis and runs when it
// resumes: whether it was published is not known. The client retries with
// the same Idempotency-Key, so once Redis resumes its retry is answered
// with the ids of that first attempt, and the event reaches the
// subscriber once.
func TestBrokerUnavailableRetriedOnce(t *testing.T) {
	th, srv, client := startRedisHub(t, httpapi.Config{WriteTimeout: 300 * time.Millisecond, PublishRate: -1})
	sub := th.subscribe(t, "topic=stall")
	c := newClient(t, th, publisher.Config{MaxAttempts: -1})
	ctx := ctxTimeout(t)
	// Redis then has the publish script, so the stalled EVALSHA runs
	// rather than failing with NOSCRIPT.
	if _, err := c.Publish(ctx, publisher.Event{Topics: []string{"stall"}, Data: "warm"}); err != nil {
		t.Fatal(err)
	}

	var r retries
	// Redis resumes after the second 503: the first attempt and a retry
	// are then queued in it.
	refused := make(chan struct{})
	n503 := 0 // OnRetry runs on the publishing goroutine alone
	stalled := newClient(t, th, publisher.Config{MaxAttempts: -1, MinBackoff: 50 * time.Millisecond,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			r.record(attempt, err, wait)
			var e *publisher.Error
			if errors.As(err, &e) && e.Code == publisher.CodeBrokerUnavailable {
				if n503++; n503 == 2 {
					close(refused)
				}
			}
		}})
	resume := srv.Pause(t)
	type result struct {
		ids []string
		err error
	}
	done := make(chan result, 1)
	go func() {
		ids, err := stalled.PublishBatch(ctx, []publisher.Event{{Topics: []string{"stall"}, Data: "k1"}, {Topics: []string{"stall"}, Data: "k2"}})
		done <- result{ids, err}
	}()
	testenv.Recv(t, "two 503 broker_unavailable during the stall", refused)
	resume()
	res := testenv.Recv(t, "the publish after Redis resumed", done)
	if res.err != nil || len(res.ids) != 2 {
		t.Fatalf("PublishBatch across the stall = %v, %v; want two ids", res.ids, res.err)
	}

	if _, err := c.Publish(ctx, publisher.Event{Topics: []string{"stall"}, Data: "end"}); err != nil {
		t.Fatal(err)
	}
	data, ids := sub.readUntil("end")
	for _, d := range []string{"k1", "k2"} {
		if data[d] != 1 {
			t.Errorf("data %q received %d times, want 1", d, data[d])
		}
	}
	for _, id := range res.ids {
		if ids[id] != 1 {
			t.Errorf("id %s received %d times, want 1", id, ids[id])
		}
	}
	entries, err := client.XRange(context.Background(), "{ssehub}:t:stall", "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE: %v", err)
	}
	inHistory := map[string]int{}
	for _, x := range entries {
		d, _ := x.Values["d"].(string)
		inHistory[d]++
	}
	if inHistory["k1"] != 1 || inHistory["k2"] != 1 {
		t.Errorf("topic history holds %v, want k1 and k2 once each", inHistory)
	}
	t.Logf("%d retries across the stall", r.count())
}

// TestHubNotUpYetRetried: a publish to a hub that is not listening (it
// is restarting) is retried until the hub is up.
func TestHubNotUpYetRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused until the hub listens there
	c, err := publisher.New(publisher.Config{URL: "http://" + addr, MaxAttempts: -1, MinBackoff: 20 * time.Millisecond,
		OnRetry: func(attempt int, err error, _ time.Duration) {
			var e *publisher.Error
			if errors.As(err, &e) {
				t.Errorf("retry %d after %v, want a connection error", attempt, err)
			}
			if attempt == 3 {
				// OnRetry runs on the goroutine that called Publish,
				// the test's, where a hub may be started.
				b := membroker.New(membroker.Config{})
				t.Cleanup(func() { b.Close() })
				serveHubAt(t, addr, hub.Config{}, b, httpapi.Config{})
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	if _, err := c.Publish(ctxTimeout(t), publisher.Event{Topics: []string{"a"}, Data: "x"}); err != nil {
		t.Fatalf("Publish to a hub that comes up after 3 attempts: %v", err)
	}
}

// TestCodesMatchTheHub: the client's codes are the hub's.
func TestCodesMatchTheHub(t *testing.T) {
	for _, c := range [][2]string{
		{publisher.CodeRateLimited, httpapi.CodeRateLimited},
		{publisher.CodeOverloaded, httpapi.CodeOverloaded},
		{publisher.CodeShuttingDown, httpapi.CodeShuttingDown},
		{publisher.CodeBrokerUnavailable, httpapi.CodeBrokerUnavailable},
		{publisher.CodeIdempotencyKeyReused, httpapi.CodeIdempotencyKeyReused},
		{publisher.CodeTooLarge, httpapi.CodeTooLarge},
	} {
		if c[0] != c[1] {
			t.Errorf("publisher code %q, hub code %q", c[0], c[1])
		}
	}
}
