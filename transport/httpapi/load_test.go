package httpapi_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/sockopt"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/httpapi"
)

// Streams that resume while events keep being published must see every
// event after their resume point exactly once and in order: the replay and
// live delivery meet with no gap and no duplicate.
func TestResumeDuringPublishingHasNoGapOrDuplicate(t *testing.T) {
	th := startHub(t, hubOptions{})
	const total = 300
	ids := make([]string, 0, total)
	var mu sync.Mutex
	// The publisher reports each event published, or its error: it must
	// not end the test from its goroutine.
	published := make(chan int, total)
	publishErr := make(chan error, 1)
	go func() {
		for i := range total {
			id, err := th.tryPublish(fmt.Sprintf(`{"topic":"load","data":"%d"}`, i))
			if err != nil {
				publishErr <- err
				return
			}
			mu.Lock()
			ids = append(ids, id...)
			mu.Unlock()
			published <- i
		}
	}()
	var resumers []*stream
	var from []int
	for range total {
		var i int
		select {
		case i = <-published:
		case err := <-publishErr:
			t.Fatal(err)
		case <-time.After(testenv.Timeout):
			t.Fatalf("no event published within %v", testenv.Timeout)
		}
		if i%40 == 20 {
			mu.Lock()
			last := ids[i]
			mu.Unlock()
			resumers = append(resumers, th.subscribe(t, "topic=load", "Last-Event-ID: "+last))
			from = append(from, i+1)
		}
	}
	for k, s := range resumers {
		for want := from[k]; want < total; want++ {
			e := s.next(5 * time.Second)
			if e.Data != strconv.Itoa(want) || e.ID != ids[want] {
				t.Fatalf("resumer %d (from %d): got event %q id %s, want %d id %s", k, from[k], e.Data, e.ID, want, ids[want])
			}
		}
		s.expectQuiet(50 * time.Millisecond)
	}
}

// A client that stops reading is evicted once its queue is full, and the
// other clients on its shard keep receiving with low latency meanwhile.
func TestStuckClientIsEvictedWithoutDelayingOthers(t *testing.T) {
	th := startHub(t, hubOptions{
		// A write timeout far beyond the test's bounds: a shard that waited
		// on the stuck socket would stall the reading client for a minute.
		hub:    hub.Config{Shards: 1, Shard: shard.Config{QueueSize: 8, WriteTimeout: time.Minute}},
		server: httpapi.Config{MaxBodyBytes: 1 << 20},
	})
	stuck := dialSmallBuffer(t, th.addr)
	if _, err := stuck.Write([]byte("GET /events?topic=big HTTP/1.1\r\nHost: ssehub\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 64)
	stuck.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stuck.Read(head); err != nil { // the stream is open; from now on it never reads
		t.Fatal(err)
	}
	good := th.subscribe(t, "topic=big")

	payload := strings.Repeat("x", 60<<10)
	var worst time.Duration
	evicted := false
	for i := 0; i < 400 && !evicted; i++ {
		start := time.Now()
		th.publish(t, `{"topic":"big","data":"`+payload+strconv.Itoa(i)+`"}`)
		if e := good.next(5 * time.Second); e.Data != payload+strconv.Itoa(i) {
			t.Fatalf("good client event %d: wrong data (len %d)", i, len(e.Data))
		}
		worst = max(worst, time.Since(start))
		evicted = th.hub.Stats()[0].Ended[shard.ReasonSlow] > 0
	}
	if !evicted {
		t.Fatalf("stuck client not evicted after 400 events of 60 KiB")
	}
	// Publish plus delivery round trip on loopback; a shard blocked on the
	// stuck socket would show the one-minute write timeout instead. The
	// bound is loose because this runs beside the race detector on 2 cores.
	if worst > 3*time.Second {
		t.Errorf("worst publish-to-receive latency of the reading client = %v, want < 3s", worst)
	}
	t.Logf("worst publish-to-receive latency while one client was stuck: %v", worst)
	// The stuck client's connection is closed: after its buffered bytes it
	// reads the end of the stream.
	stuck.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		if _, err := stuck.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("evicted client's connection still open")
			}
			break
		}
	}
}

// dialSmallBuffer connects with a small receive buffer, so a client that
// does not read fills up quickly.
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
