//go:build linux

package mercure_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
)

// TestMercureVanishedClients: Mercure subscribers that vanish (close their
// sockets without a word) are noticed within 2 s although the heartbeat is
// 15 s away, counted as peer_closed, and their slots under the per-IP
// limit and a token subject's per-user limit are free again: a client
// refused at the limit before gets a stream after. As TestClosedClientsFreeTheirSlotsWithinTwoSeconds
// natively.
func TestMercureVanishedClients(t *testing.T) {
	const (
		streams = 200
		perUser = 5
		within  = 2 * time.Second
	)
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	d := startDoor(t, b, doorOptions{
		server: httpapi.Config{MaxStreamsPerIP: streams, MaxStreamsPerUser: perUser, Retry: time.Second},
		door:   mercure.Config{Anonymous: true},
	})
	// The first few are one subject's, at its --max-streams-per-user.
	alice := "Authorization: Bearer " + signed(t, jwt.MapClaims{"sub": "alice", "mercure": map[string]any{"subscribe": []string{"*"}}})
	open := make([]subscriber, streams)
	for i := range open {
		var headers []string
		if i < perUser {
			headers = append(headers, alice)
		}
		open[i] = subscribe(t, d.url, "topic=a&topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D", headers...)
		if open[i].resp.StatusCode != 200 {
			t.Fatalf("stream %d = %d", i, open[i].resp.StatusCode)
		}
		if i == perUser-1 {
			expectRefused(t, subscribe(t, d.url, "topic=a", alice), 10000) // alice is at her limit
		}
	}
	d.waitOpen(t, streams)
	expectRefused(t, subscribe(t, d.url, "topic=a"), 10000) // the address is at its limit

	closed := time.Now()
	for _, s := range open {
		s.conn.Close()
	}
	for d.stats().Clients > 0 {
		if time.Since(closed) > within {
			t.Fatalf("%v after %d Mercure clients closed their sockets, %d streams are still open (ended: %v)",
				within, streams, d.stats().Clients, d.endedByReason())
		}
		time.Sleep(10 * time.Millisecond)
	}
	again := subscribe(t, d.url, "topic=a", alice)
	if again.resp.StatusCode != 200 {
		t.Fatalf("alice's stream after the others vanished = %d", again.resp.StatusCode)
	}
	d.waitOpen(t, 1) // joined: a refused stream never joins a shard
	if got := d.ended(shard.ReasonPeerClosed); got != streams {
		t.Errorf("streams ended as peer_closed = %d, want %d (ended: %v)", got, streams, d.endedByReason())
	}
	t.Logf("%d vanished Mercure streams gone after %v", streams, time.Since(closed))
}
