//go:build linux

package httpapi_test

import (
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/auth"
	"github.com/ssehub/ssehub/transport/httpapi"
)

// openStreams is what ssehub_open_streams reports: the streams open on
// every shard of th's hub.
func (th *testHub) openStreams() int64 {
	var n int64
	for _, st := range th.hub.Stats() {
		n += st.Clients
	}
	return n
}

// ended returns how many of th's streams ended for the reason named name.
func (th *testHub) ended(name string) uint64 {
	var n uint64
	for _, st := range th.hub.Stats() {
		for _, r := range shard.Reasons() {
			if r.String() == name {
				n += st.Ended[r]
			}
		}
	}
	return n
}

// Issue 16, item 8: the hub used to learn that a client had closed its
// socket only when a heartbeat write to it failed, 15 to 30 s later, and
// meanwhile kept its slot: its stream counted as open, and a user at the
// per-user limit who reconnected was refused. Within 2 s of 2,000 clients
// closing, every stream must be over, counted as peer_closed, and the
// user's slots free again. The heartbeat stays at its 15 s default, so
// that only noticing the close itself can pass.
func TestClosedClientsFreeTheirSlotsWithinTwoSeconds(t *testing.T) {
	const (
		streams = 2000 // 4,000 descriptors with the hub's ends: well under the limit
		within  = 2 * time.Second
	)
	v, err := auth.NewVerifier(auth.Config{Keys: []auth.KeyConfig{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	th := startHub(t, hubOptions{server: httpapi.Config{Auth: v, MaxStreamsPerIP: -1, MaxStreamsPerUser: streams}})
	alice := mint(t, auth.MintClaims{Subject: "alice"})
	open := make([]*stream, streams)
	for i := range open {
		open[i] = th.subscribe(t, "", "Authorization: Bearer "+alice)
		if code := open[i].resp.StatusCode; code != 200 {
			t.Fatalf("stream %d of alice's %d = %d, want 200", i, streams, code)
		}
	}
	testenv.WaitFor(t, "every stream to open", func() bool { return th.openStreams() == streams })
	expectRefusedStream(t, th.subscribe(t, "", "Authorization: Bearer "+alice), 30000) // she is at her limit

	closed := time.Now()
	for _, s := range open {
		s.conn.Close()
	}
	for th.openStreams() > 0 {
		if time.Since(closed) > within {
			t.Fatalf("%v after %d clients closed their sockets, %d streams are still open (ssehub_open_streams), want 0",
				within, streams, th.openStreams())
		}
		time.Sleep(10 * time.Millisecond)
	}
	gone := time.Since(closed)

	// Her slots are free: a new stream is accepted (it joins a shard before
	// its head is sent, while a refused one never does).
	again := th.subscribe(t, "", "Authorization: Bearer "+alice)
	back := time.Since(closed)
	if again.resp.StatusCode != 200 || th.openStreams() != 1 {
		t.Fatalf("alice's stream after closing all %d: status %d, open streams %d; want 200 and 1 (accepted, not refused)",
			streams, again.resp.StatusCode, th.openStreams())
	}
	if back > within {
		t.Errorf("alice could stream again %v after closing her streams, want within %v", back, within)
	}
	if got := th.ended("peer_closed"); got != streams {
		t.Errorf("streams ended as peer_closed = %d, want %d (write_failed %d)", got, streams, th.ended("write_failed"))
	}
	t.Logf("%d closed streams gone after %v; alice streaming again after %v", streams, gone, back)
}
