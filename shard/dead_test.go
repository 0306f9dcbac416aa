package shard

import (
	"errors"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/testenv"
)

// failConn fails every write, as a conn to a peer that is gone does.
type failConn struct{ discardConn }

func (failConn) Write([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// TestDeadClientIsNotEvictedAsSlow: once a flusher's write fails, its
// client is dead until the loop takes the flusher's leave. What the loop
// has for it meanwhile, events or heartbeats, more than its queue holds,
// must be neither queued nor counted, or the full queue gets it evicted as
// slow and its failed write is counted under the wrong reason.
func TestDeadClientIsNotEvictedAsSlow(t *testing.T) {
	const queue = 4
	for _, tt := range []struct {
		name  string
		burst func(s *Shard)
	}{
		{"events", func(s *Shard) {
			for seq := range uint64(2 * queue) {
				s.dispatch(message(seq+1, "news"))
			}
		}},
		{"heartbeats", func(s *Shard) {
			for range 2 * queue * heartbeatBuckets { // 2*queue visits of its bucket
				s.heartbeat()
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{QueueSize: queue, NoIOUring: true}, nopBroker{})
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(failConn{}, Stream{Head: []byte("head\n"), Selection: broker.Selection{Topics: []string{"news"}}}, queue)
			s.join(c) // its flusher fails to write the head
			testenv.WaitFor(t, "the flusher's leave after its failed write", func() bool { return len(s.leaves) == 1 })
			tt.burst(s)
			l := <-s.leaves
			s.remove(l.c, l.reason) // as the loop does next
			st := s.Stats()
			if st.Ended[ReasonWriteFailed] != 1 || st.Ended[ReasonSlow] != 0 || st.Deliveries != 0 {
				t.Errorf("after a failed write and a burst: ended write_failed %d, slow %d, deliveries %d; want 1, 0, 0",
					st.Ended[ReasonWriteFailed], st.Ended[ReasonSlow], st.Deliveries)
			}
			waitFlushers(t, s)
		})
	}
}
