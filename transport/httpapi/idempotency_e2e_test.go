package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/apitest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/httpapi"
)

// The go-redis timeouts of the stall test: a stall longer than
// stallReadTimeout makes go-redis re-send a publish's pipeline, and one
// longer than stallPublishTimeout (the server's publish bound) is a 503.
const (
	stallReadTimeout    = 200 * time.Millisecond
	stallPublishTimeout = 2 * time.Second
)

// stallPoolSize is how many connections the stall test's client opens
// before the stall: more than its publishes make attempts, since a
// connection dialled during a stall hangs in its handshake instead of
// sending anything.
const stallPoolSize = 128

// startRedisHub is startHub on a private redis-server, with a go-redis
// client whose short read timeout makes it re-send within a short stall,
// on connections that are open before the stall.
func startRedisHub(t *testing.T) (*testHub, *redistest.Server, *redis.Client) {
	t.Helper()
	b, srv, client := apitest.StallableRedis(t, stallReadTimeout, stallPoolSize)
	h, err := hub.New(hub.Config{Shards: 2}, b)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	return serveHub(t, h, httpapi.Config{WriteTimeout: stallPublishTimeout, PublishRate: -1}), srv, client
}

// publishResult is the answer to one POST /publish.
type publishResult struct {
	status int
	ids    []string
	code   string
	err    error
}

// postPublish posts body as JSON with the Idempotency-Key key, if any.
func (th *testHub) postPublish(body, key string) publishResult {
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, th.url+"/publish", strings.NewReader(body))
	if err != nil {
		return publishResult{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return publishResult{err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		IDs   []string
		Error struct{ Code string }
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return publishResult{status: resp.StatusCode, err: fmt.Errorf("response %q: %w", raw, err)}
	}
	return publishResult{status: resp.StatusCode, ids: out.IDs, code: out.Error.Code}
}

// readUntil reads the stream's events up to and including the one with
// data end, and returns how often each data and each id arrived.
func (s *stream) readUntil(end string) (data, ids map[string]int) {
	s.t.Helper()
	data, ids = map[string]int{}, map[string]int{}
	for {
		e := s.next(testenv.Timeout)
		data[e.Data]++
		ids[e.ID]++
		if e.Data == end {
			return data, ids
		}
	}
}

// streamData returns how often each data is in topic's Redis stream.
func streamData(t *testing.T, client *redis.Client, topic string) map[string]int {
	t.Helper()
	entries, err := client.XRange(context.Background(), "{ssehub}:t:"+topic, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE: %v", err)
	}
	n := map[string]int{}
	for _, x := range entries {
		d, _ := x.Values["d"].(string)
		n[d]++
	}
	return n
}

// TestIdempotentPublishRedisStall stalls Redis under concurrent publishes.
// go-redis re-sends each publish's pipeline after its read timeout while
// the first copy waits in the stopped server's socket buffer; once Redis
// resumes it runs every copy. Each publish must still be applied once. A
// stall past the publish timeout answers 503 although the publish is
// applied once Redis resumes: a retry with the same Idempotency-Key must
// answer the ids of that first attempt and publish nothing more.
func TestIdempotentPublishRedisStall(t *testing.T) {
	th, srv, client := startRedisHub(t)
	sub := th.subscribe(t, "topic=stall")
	// Redis then has the script, so the stalled EVALSHAs run rather than
	// fail with NOSCRIPT.
	th.publish(t, `{"topic":"stall","data":"warm"}`)

	// Phase 1: a stall longer than the read timeout, shorter than the
	// publish timeout: every publish is answered 200, after re-sends.
	const publishers = 20
	resume := srv.Pause(t)
	results := make([]publishResult, publishers)
	var wg sync.WaitGroup
	for i := range publishers {
		wg.Go(func() {
			results[i] = th.postPublish(fmt.Sprintf(`{"topic":"stall","data":"p%d"}`, i), "")
		})
	}
	// The stall is the scenario, not a wait for something: go-redis
	// times out and re-sends about every stallReadTimeout meanwhile.
	time.Sleep(3 * stallReadTimeout)
	resume()
	testenv.WaitAll(t, "the publishes during the stall", &wg)
	got := map[string]string{} // id -> data
	for i, r := range results {
		if r.err != nil || r.status != http.StatusOK || len(r.ids) != 1 {
			t.Fatalf("publish p%d during the stall = %d %s %v %v, want 200 and one id", i, r.status, r.code, r.ids, r.err)
		}
		got[r.ids[0]] = fmt.Sprintf("p%d", i)
	}
	th.publish(t, `{"topic":"stall","data":"end1"}`) // after every copy of the stalled ones
	data, ids := sub.readUntil("end1")
	for id, d := range got {
		if ids[id] != 1 {
			t.Errorf("id %s (%s) received %d times, want 1", id, d, ids[id])
		}
	}
	for d, n := range data {
		if n != 1 {
			t.Errorf("data %q received %d times, want 1", d, n)
		}
	}
	for d, n := range streamData(t, client, "stall") {
		if n != 1 {
			t.Errorf("data %q is %d times in the topic's stream, want 1", d, n)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Phase 2: a stall longer than the publish timeout.
	const key = `"stall-retry-1"`
	const body = `[{"topic":"stall","data":"k1"},{"topic":"stall","data":"k2"}]`
	resume = srv.Pause(t)
	if r := th.postPublish(body, key); r.status != http.StatusServiceUnavailable || r.code != httpapi.CodeBrokerUnavailable {
		t.Fatalf("publish during a stall past the publish timeout = %d %q %v, want 503 %s", r.status, r.code, r.err, httpapi.CodeBrokerUnavailable)
	}
	resume()
	first := th.postPublish(body, key)
	if first.status != http.StatusOK || len(first.ids) != 2 {
		t.Fatalf("retry after the 503 = %d %q %v %v, want 200 and two ids", first.status, first.code, first.ids, first.err)
	}
	again := th.postPublish(body, key)
	if again.status != http.StatusOK || strings.Join(again.ids, ",") != strings.Join(first.ids, ",") {
		t.Errorf("second retry = %d %v, want 200 %v", again.status, again.ids, first.ids)
	}
	if r := th.postPublish(`{"topic":"stall","data":"other"}`, key); r.status != http.StatusUnprocessableEntity || r.code != httpapi.CodeIdempotencyKeyReused {
		t.Errorf("same key, another body = %d %q, want 422 %s", r.status, r.code, httpapi.CodeIdempotencyKeyReused)
	}
	th.publish(t, `{"topic":"stall","data":"end2"}`)
	data, ids = sub.readUntil("end2")
	for _, d := range []string{"k1", "k2"} {
		if data[d] != 1 {
			t.Errorf("data %q received %d times, want 1", d, data[d])
		}
	}
	for _, id := range first.ids {
		if ids[id] != 1 {
			t.Errorf("id %s received %d times, want 1", id, ids[id])
		}
	}
	if data["other"] != 0 {
		t.Errorf("the refused body was delivered")
	}
	stream := streamData(t, client, "stall")
	for _, d := range []string{"k1", "k2"} {
		if stream[d] != 1 {
			t.Errorf("data %q is %d times in the topic's stream, want 1", d, stream[d])
		}
	}
}
