package shard

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/hubtest"
)

// byteCounter counts what the streams' readers received.
type byteCounter struct{ n atomic.Int64 }

func (c *byteCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// BenchmarkFanOut measures a running shard writing events to streams on
// real loopback sockets, whose other ends are read as fast as they come:
//
//   - paced: one event at a time, each fanned out before the next arrives,
//     so the loop writes every frame itself (through io_uring where the
//     kernel allows it, else write(2));
//   - backlog: every event delivered at once, so the loop queues while the
//     mailbox is not empty and flushers coalesce.
//
// The clock stops when every byte has been read, and ns/delivery is the
// wall time per event per stream: the hub's and the readers' work
// together, as on a machine whose clients share its cores. It drives the
// shard only through its exported API and the dispatch tests' nopBroker,
// so that the same file measures an older build beside the new one
// (BENCHMARKS.md, "Go microbenchmarks").
func BenchmarkFanOut(b *testing.B) {
	const streams = 1000
	for _, shape := range []string{"paced", "backlog"} {
		b.Run(fmt.Sprintf("%s/subs=%d", shape, streams), func(b *testing.B) {
			s, err := New(Config{QueueSize: 1024, MailboxSize: 4096}, nopBroker{})
			if err != nil {
				b.Fatal(err)
			}
			var loop, readers sync.WaitGroup
			var received byteCounter
			loop.Add(1)
			go func() { defer loop.Done(); s.Run() }()
			defer func() {
				s.Stop() // closes every stream, so each reader sees EOF
				loop.Wait()
				readers.Wait()
			}()
			sel := broker.Selection{Topics: []string{"news"}}
			for range streams {
				client, server := hubtest.TCPPair(b)
				readers.Add(1)
				go func() { defer readers.Done(); _, _ = io.Copy(&received, client) }()
				if err := s.Join(server, Stream{Selection: sel}); err != nil {
					b.Fatal(err)
				}
			}
			for s.Stats().Clients < streams {
				// Joins are taken by the loop in order; every one is in
				// before the first event is delivered.
			}
			msgs := make([]*broker.Message, b.N)
			want := int64(0)
			for i := range msgs {
				id := eventid.ID{Time: 1, Seq: uint64(i + 1)}
				frame := []byte("id: " + id.String() + "\ndata: " + strconv.Itoa(i) + " some typical payload bytes\n\n")
				msgs[i] = &broker.Message{ID: id, Topics: []string{"news"}, Frame: frame}
				want += int64(len(frame) * streams)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i, m := range msgs {
				s.Deliver(m)
				if shape == "paced" {
					for s.Stats().Messages < uint64(i+1) {
					}
				}
			}
			for received.n.Load() < want {
				if st := s.Stats(); st.Clients < streams {
					b.Fatalf("%d of %d streams ended: %+v", streams-st.Clients, streams, st.Ended)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*streams), "ns/delivery")
		})
	}
}
