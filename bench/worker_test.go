package bench

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testenv"
)

func TestLayoutTopicsOf(t *testing.T) {
	tests := []struct {
		layout Layout
		i      int
		want   []string
	}{
		{Layout{Kind: LayoutShared, Topic: "bench/all"}, 7, []string{"bench/all"}},
		{Layout{Kind: LayoutUser}, 7, []string{"user/7"}},
		{Layout{Kind: LayoutUser}, 0, []string{"user/0"}},
		{Layout{Kind: LayoutUserShared, Topic: "bench/all"}, 12345, []string{"user/12345", "bench/all"}},
		{Layout{Kind: LayoutPattern, Topic: "feed", Groups: 10}, 13, []string{"feed/3/*"}},
		{Layout{Kind: LayoutPattern, Topic: "feed", Groups: 10}, 10, []string{"feed/0/*"}},
		{Layout{Kind: LayoutPattern, Topic: "feed"}, 13, []string{"feed/0/*"}}, // no groups: one
		{Layout{Kind: LayoutEvery, Topics: []string{"a", "b"}}, 5, []string{"a", "b"}},
		{Layout{Kind: "", Topic: "t"}, 3, []string{"t"}}, // unknown kinds share
	}
	for _, tt := range tests {
		if got := tt.layout.TopicsOf(tt.i); !slices.Equal(got, tt.want) {
			t.Errorf("%+v.TopicsOf(%d) = %q, want %q", tt.layout, tt.i, got, tt.want)
		}
	}
}

func TestExpandPath(t *testing.T) {
	tests := []struct {
		path   string
		topics []string
		want   string
	}{
		{"/events?topic={topic}", []string{"bench/all"}, "/events?topic=bench%2Fall"},
		{"/events?topic={topic}", []string{"user/1", "bench/all"}, "/events?topic=user%2F1&topic=bench%2Fall"},
		{"/events?topic={topic}", []string{"feed/1/*"}, "/events?topic=feed%2F1%2F%2A"},
		{"/sub?x=1&t={topic}&y=2", []string{"a", "b", "c"}, "/sub?x=1&t=a&t=b&t=c&y=2"},
		{"/sse/{topic}", []string{"a"}, "/sse/a"},
		{"/sse/{topic}", []string{"a", "b"}, "/sse/a&b"}, // no query parameter to repeat
		{"/sse/{topic}?v=1", []string{"a:b@c"}, "/sse/a%3Ab%40c?v=1"},
	}
	for _, tt := range tests {
		if got := expandPath(tt.path, tt.topics); got != tt.want {
			t.Errorf("expandPath(%q, %q) = %q, want %q", tt.path, tt.topics, got, tt.want)
		}
	}
}

func TestFinalsBySubscription(t *testing.T) {
	final := map[string]uint64{
		"bench/all": 7,
		"user/1":    2,
		"user/10":   5,
		"feed/1/a":  3,
		"feed/1/b":  4,
		"feed/10/a": 6,
		"feed/2/a":  9,
	}
	tests := []struct {
		subs []string
		want map[string]uint64
	}{
		{[]string{"bench/all"}, map[string]uint64{"bench/all": 7}},
		{[]string{"user/1", "bench/all"}, map[string]uint64{"user/1": 2, "bench/all": 7}},
		{[]string{"user/9"}, map[string]uint64{}}, // nothing published to it
		{[]string{"feed/1/*"}, map[string]uint64{"feed/1/a": 3, "feed/1/b": 4}},
		{[]string{"feed/1*"}, map[string]uint64{"feed/1/a": 3, "feed/1/b": 4, "feed/10/a": 6}},
		{[]string{"feed/*/a", "user/10"}, map[string]uint64{"feed/1/a": 3, "feed/10/a": 6, "feed/2/a": 9, "user/10": 5}},
		{[]string{"feed/1/*", "feed/*/a"}, map[string]uint64{"feed/1/a": 3, "feed/1/b": 4, "feed/10/a": 6, "feed/2/a": 9}},
		{nil, map[string]uint64{}},
	}
	matches := finalsBySubscription(final)
	// Twice over, the second time from the pattern cache, after the first
	// results were scribbled on.
	for round := range 2 {
		for _, tt := range tests {
			got := matches(tt.subs)
			if !maps.Equal(got, tt.want) {
				t.Errorf("round %d: finalsBySubscription(...)(%q) = %v, want %v", round, tt.subs, got, tt.want)
			}
			got["feed/1/a"] = 1000
		}
	}
}

func TestParseSources(t *testing.T) {
	if got, err := parseSources(nil); err != nil || len(got) != 1 || got[0] != nil {
		t.Errorf("parseSources(nil) = %v, %v; want [nil]", got, err)
	}
	got, err := parseSources([]string{"127.0.0.2", "127.0.0.3"})
	if err != nil || len(got) != 2 || got[1].IP.String() != "127.0.0.3" || got[1].Port != 0 {
		t.Errorf("parseSources(127.0.0.2, 127.0.0.3) = %v, %v; want two addresses, port 0", got, err)
	}
	for _, bad := range []string{"127.0.0.2:80", "localhost", ""} {
		if _, err := parseSources([]string{bad}); err == nil {
			t.Errorf("parseSources(%q) = nil error; want an error", bad)
		}
	}
}

func TestSplitStreams(t *testing.T) {
	tests := []struct {
		n, workers int
		want       []int // counts
		wantErr    bool
	}{
		{n: 1000, want: []int{1000}},
		{n: MaxGeneratorStreams, want: []int{MaxGeneratorStreams}},
		{n: MaxGeneratorStreams + 1, want: []int{7501, 7500}},
		{n: 100000, want: []int{14286, 14286, 14286, 14286, 14286, 14285, 14285}},
		{n: 100000, workers: 7, want: []int{14286, 14286, 14286, 14286, 14286, 14285, 14285}},
		{n: 100000, workers: 6, wantErr: true}, // 16,667 each
		{n: 7, workers: 3, want: []int{3, 2, 2}},
		{n: 10, workers: 20, want: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{n: 1, workers: 1, want: []int{1}},
		{n: 0, wantErr: true},
		{n: -3, workers: 2, wantErr: true},
	}
	for _, tt := range tests {
		first, count, err := splitStreams(tt.n, tt.workers)
		if tt.wantErr {
			if err == nil {
				t.Errorf("splitStreams(%d, %d) = %v, %v, nil; want an error", tt.n, tt.workers, first, count)
			}
			continue
		}
		if err != nil || !slices.Equal(count, tt.want) {
			t.Errorf("splitStreams(%d, %d) counts = %v, %v; want %v", tt.n, tt.workers, count, err, tt.want)
			continue
		}
		at := 0
		for k := range first {
			if first[k] != at {
				t.Errorf("splitStreams(%d, %d) firsts = %v; want worker %d to start at %d", tt.n, tt.workers, first, k, at)
			}
			at += count[k]
		}
	}
}

// TestWorkerSeesTheEndOfAStreamThatArrivesWithData runs a worker against a
// server that ends every stream right after sending it an event, the way
// a killed hub's sockets end: each stream must notice the end and
// reconnect, again and again.
func TestWorkerSeesTheEndOfAStreamThatArrivesWithData(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = conn.Read(buf) // the request
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nretry: 10\n\n")
			time.Sleep(50 * time.Millisecond) // the stream is open and waiting now
			_, _ = io.WriteString(conn, "id: 1\ndata: t|1|1\n\n")
			conn.Close() // the FIN follows the event at once
			accepted <- struct{}{}
		}
	}()

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- RunWorker(context.Background(), inR, outW) }()
	enc := json.NewEncoder(inW)
	if err := enc.Encode(WorkerSpec{Targets: []string{ln.Addr().String()}, Count: 1, Concurrency: 1,
		Layout: Layout{Kind: LayoutShared, Topic: "t"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		select {
		case <-accepted:
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %d never came: the stream did not notice the end of the one before", i+1)
		}
	}
	// One sample, to check the worker answers, then stdin's end stops it.
	if err := enc.Encode(workerCommand{Op: "sample"}); err != nil {
		t.Fatal(err)
	}
	var s WorkerSample
	decoded := make(chan error, 1)
	go func() { decoded <- json.NewDecoder(outR).Decode(&s) }()
	if err := testenv.Recv(t, "the worker's sample", decoded); err != nil {
		t.Fatal(err)
	}
	if s.Reconnects < 1 { // the third head may not be parsed yet
		t.Errorf("reconnects = %d, want at least 1", s.Reconnects)
	}
	inW.Close()
	if err := testenv.Recv(t, "the worker to stop at the end of its input", done); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	for len(accepted) > 0 {
		<-accepted
	}
}
