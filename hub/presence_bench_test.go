package hub_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/membroker"
)

// discardConn is a stream's conn that takes every write: the cost measured
// is the hub's, not a socket's.
type discardConn struct{}

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) Close() error                     { return nil }

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// presenceHubFor starts a hub of 4 shards on the embedded broker.
func presenceHubFor(b *testing.B, presence bool) *hub.Hub {
	b.Helper()
	br := membroker.New(membroker.Config{})
	h, err := hub.New(hub.Config{Shards: 4, Presence: presence, Shard: shard.Config{PresenceFlush: 10 * time.Millisecond}}, br)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		br.Close()
	})
	return h
}

// BenchmarkPresenceMemory_20kUsers reports the hub memory a stream takes
// with presence off and on: 20,000 streams of 20,000 users, each on one
// shared topic and its private topic user/<sub>, as with --auth jwt. The
// difference is presence's cost per tracked stream (two counts each: the
// shard's and the embedded store's).
func BenchmarkPresenceMemory_20kUsers(b *testing.B) {
	const streams = 20_000
	for _, presence := range []bool{false, true} {
		b.Run("presence="+strconv.FormatBool(presence), func(b *testing.B) {
			for b.Loop() {
				h := presenceHubFor(b, presence)
				before := heapInUse()
				for i := range streams {
					user := "user" + strconv.Itoa(i)
					err := h.Stream(discardConn{}, hub.StreamRequest{UserID: user, Stream: shard.Stream{
						Head: []byte("h"), Selection: hub.Selection{Topics: []string{"room", "user/" + user}}}})
					if err != nil {
						b.Fatal(err)
					}
				}
				for open := int64(0); open < streams; {
					open = 0
					for _, st := range h.Stats() {
						open += st.Clients
					}
				}
				if presence {
					for h.PresenceStats().Members < 2*streams {
						time.Sleep(10 * time.Millisecond)
					}
				}
				b.ReportMetric(float64(heapInUse()-before)/streams, "B/stream")
			}
		})
	}
}
