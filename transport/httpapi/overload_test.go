package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/httpapi"
)

// floodPublisher publishes batches of events of 512 bytes to topic until
// ctx ends, as fast as the hub answers (batches, so that publishing beside
// the race detector outruns delivery). A refusal (503 overloaded) publishes nothing:
// it waits a little and sends the same event again, as the README tells
// publishers to. It returns the ids the hub accepted.
func floodPublisher(ctx context.Context, th *testHub, topic string, refused *atomic.Int64) ([]string, error) {
	var ids []string
	const batch = 20
	pad := strings.Repeat("x", 512)
	for seq := 0; ctx.Err() == nil; {
		var body strings.Builder
		body.WriteString("[")
		for i := range batch {
			if i > 0 {
				body.WriteString(",")
			}
			fmt.Fprintf(&body, `{"topic":%q,"data":"%s-%d-%s"}`, topic, topic, seq+i, pad)
		}
		body.WriteString("]")
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, th.url+"/publish", strings.NewReader(body.String()))
		if err != nil {
			return ids, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return ids, err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			var out struct{ IDs []string }
			if err := json.Unmarshal(raw, &out); err != nil || len(out.IDs) != batch {
				return ids, fmt.Errorf("publish answer %q: %v", raw, err)
			}
			ids = append(ids, out.IDs...)
			seq += batch
		case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(raw), `"overloaded"`):
			if resp.Header.Get("Retry-After") == "" {
				return ids, fmt.Errorf("503 overloaded without Retry-After")
			}
			refused.Add(1)
			// Retry-After says 1s; a short test retries sooner, which only
			// floods harder.
			time.Sleep(50 * time.Millisecond)
		default:
			return ids, fmt.Errorf("publish = %d %s", resp.StatusCode, raw)
		}
	}
	return ids, nil
}

// TestFloodEvictsNoneAndLosesNothingAccepted floods a few hundred streams
// with unpaced publishers, far more than the hub can deliver beside the
// race detector: the hub holds the publishers back instead of evicting the
// streams, every event it accepted reaches every stream once and in order,
// and the one stream that stopped reading is evicted.
func TestFloodEvictsNoneAndLosesNothingAccepted(t *testing.T) {
	const (
		streams    = 300
		publishers = 8
		flood      = 2 * time.Second
	)
	// The send buffer is --send-buffer's default: with the kernel's
	// autotuning instead, a socket whose peer reads nothing takes megabytes.
	th := startHub(t, hubOptions{server: httpapi.Config{SendBuffer: 32 << 10, PublishRate: -1}})
	var query strings.Builder
	for p := range publishers {
		fmt.Fprintf(&query, "topic=flood-%d&", p)
	}
	stuck := dialSmallBuffer(t, th.addr)
	if _, err := stuck.Write([]byte("GET /events?" + query.String() + " HTTP/1.1\r\nHost: ssehub\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 64)
	stuck.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stuck.Read(head); err != nil { // open; from now on it never reads
		t.Fatal(err)
	}

	received := make([][]string, streams)
	var readers sync.WaitGroup
	for i := range streams {
		s := th.subscribe(t, query.String())
		readers.Go(func() {
			for {
				s.conn.SetReadDeadline(time.Now().Add(flood + 20*time.Second))
				e, err := s.r.Next()
				if err != nil {
					return // closed at the end of the test, or a failure the checks show
				}
				received[i] = append(received[i], e.ID)
				if e.Data == "done" {
					return
				}
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), flood)
	defer cancel()
	var refused atomic.Int64
	accepted := make([][]string, publishers)
	errs := make([]error, publishers)
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() { accepted[p], errs[p] = floodPublisher(ctx, th, "flood-"+strconv.Itoa(p), &refused) })
	}
	pubs.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	floodEnd := time.Now()
	// The last event: each stream stops reading once it has it.
	var done []string
	for {
		ids, err := th.tryPublish(`{"topic":"flood-0","data":"done"}`)
		if err == nil {
			done = ids
			break
		}
		if !strings.Contains(err.Error(), "overloaded") {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	doneAt := time.Since(floodEnd)
	readers.Wait()
	readAt := time.Since(floodEnd)

	var all []eventid.ID
	for _, ids := range append(accepted, done) {
		for _, s := range ids {
			id, err := eventid.Parse(s)
			if err != nil {
				t.Fatalf("accepted id %q: %v", s, err)
			}
			all = append(all, id)
		}
	}
	for i, got := range received {
		if len(got) != len(all) {
			t.Fatalf("stream %d received %d events, want the %d accepted", i, len(got), len(all))
		}
		for j := 1; j < len(got); j++ {
			if prev, _ := eventid.Parse(got[j-1]); !prev.Less(mustParse(t, got[j])) {
				t.Fatalf("stream %d: event %s after %s: not in id order", i, got[j], got[j-1])
			}
		}
	}

	var total shard.Stats
	for _, st := range th.hub.Stats() {
		total.Clients += st.Clients
		total.Pauses += st.Pauses
		total.PausedFor += st.PausedFor
		for r, n := range st.Ended {
			total.Ended[r] += n
		}
	}
	if total.Ended[shard.ReasonSlow] != 1 || total.Clients != streams {
		t.Errorf("%d streams evicted as slow, %d open; want the stuck one evicted and all %d readers open (ended: %v)",
			total.Ended[shard.ReasonSlow], total.Clients, streams, total.Ended)
	}
	ps := th.hub.PublishStats()
	t.Logf("%d streams: %d events accepted in %s (%d deliveries), %d publishes refused; shards paused %d times for %s; "+
		"publishes waited %s; the last event was accepted %s and read by all %s after the flood",
		streams, len(all), flood, len(all)*streams, refused.Load(), total.Pauses, total.PausedFor, ps.WaitTime, doneAt, readAt)
	if total.Pauses == 0 {
		t.Errorf("the shards never paused: the flood did not overload the hub, so the test proves nothing")
	}
}

func mustParse(t *testing.T, s string) eventid.ID {
	t.Helper()
	id, err := eventid.Parse(s)
	if err != nil {
		t.Fatalf("event id %q: %v", s, err)
	}
	return id
}

// TestStuckStreamsMakeTheHubRefuseThenRecover: streams that stop reading,
// more of them than a shard tolerates, pause their shard; a publish then
// gets 503 overloaded with Retry-After (here at once: no publish wait) and
// publishes nothing. After the stall timeout the stuck streams are
// evicted, the shard resumes and publishes are accepted again.
func TestStuckStreamsMakeTheHubRefuseThenRecover(t *testing.T) {
	th := startHub(t, hubOptions{
		hub: hub.Config{Shards: 1, PublishWait: -1,
			Shard: shard.Config{QueueSize: 4, StallTimeout: 300 * time.Millisecond, WriteTimeout: time.Minute}},
		server: httpapi.Config{SendBuffer: 4 << 10},
	})
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
	payload := strings.Repeat("x", 16<<10)
	var refusal *http.Response
	var refusalBody []byte
	accepted := 0
	for i := 0; i < 200 && refusal == nil; i++ {
		resp, err := http.Post(th.url+"/publish", "application/json",
			strings.NewReader(`{"topic":"big","data":"`+payload+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			accepted++
		case http.StatusServiceUnavailable:
			refusal, refusalBody = resp, body
		default:
			t.Fatalf("publish = %d %s", resp.StatusCode, body)
		}
	}
	if refusal == nil {
		t.Fatalf("%d publishes to 3 stuck streams all accepted; want a refusal once their shard paused", accepted)
	}
	var e struct{ Error struct{ Code string } }
	if err := json.Unmarshal(refusalBody, &e); err != nil || e.Error.Code != "overloaded" {
		t.Errorf("refusal body %s: want code overloaded", refusalBody)
	}
	if got := refusal.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if n := th.server.Published(); n != uint64(accepted) {
		t.Errorf("published counter %d, want the %d accepted: a refusal publishes nothing", n, accepted)
	}

	// The stall timeout evicts the stuck streams; the hub recovers.
	testenv.WaitFor(t, "the stuck streams to be evicted", func() bool {
		return th.hub.Stats()[0].Ended[shard.ReasonSlow] == 3
	})
	testenv.WaitFor(t, "publishes to be accepted again", func() bool {
		_, err := th.tryPublish(`{"topic":"big","data":"again"}`)
		return err == nil
	})
	if ps := th.hub.PublishStats(); ps.Refused == 0 {
		t.Errorf("PublishStats().Refused = 0 after a refusal")
	}
}
