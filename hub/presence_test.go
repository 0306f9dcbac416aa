package hub_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/membroker"
)

// newPresenceHub starts a hub with presence on the embedded broker.
func newPresenceHub(t *testing.T, shards int) (*hub.Hub, *membroker.Broker) {
	t.Helper()
	b := membroker.New(membroker.Config{})
	h, err := hub.New(hub.Config{Shards: shards, Presence: true,
		Shard: shard.Config{PresenceFlush: 20 * time.Millisecond}}, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		b.Close()
	})
	return h, b
}

// follow opens a stream of user (empty: anonymous) on topics and patterns
// and returns the client end once the head arrived.
func follow(t *testing.T, h *hub.Hub, user string, sel hub.Selection) net.Conn {
	t.Helper()
	client, server := hubtest.TCPPair(t)
	if err := h.Stream(server, hub.StreamRequest{Stream: shard.Stream{Selection: sel, Head: []byte("h")}, UserID: user}); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err != nil {
		t.Fatalf("reading head: %v", err)
	}
	return client
}

// waitPresence polls topic's presence until it is want.
func waitPresence(t *testing.T, p broker.PresenceStore, topic string, want broker.TopicPresence) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := p.TopicPresence(context.Background(), topic)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("TopicPresence(%q) = %+v, %v; want %+v", topic, got, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Streams count per exact topic and per pattern (under the pattern's
// name, not the topics it matches), users once however many streams they
// hold and on whichever shard; anonymous streams count as streams only.
// Closed streams leave.
func TestPresenceCountsStreamsAndUsers(t *testing.T) {
	h, _ := newPresenceHub(t, 4)
	p := h.Presence()
	a1 := follow(t, h, "alice", hub.Selection{Topics: []string{"room", "user/alice"}})
	follow(t, h, "alice", hub.Selection{Topics: []string{"room"}})
	follow(t, h, "bob", hub.Selection{Topics: []string{"room"}, Patterns: []string{"news/*"}})
	anon := follow(t, h, "", hub.Selection{Topics: []string{"room"}})
	follow(t, h, "", hub.Selection{Topics: []string{"room"}})

	waitPresence(t, p, "room", broker.TopicPresence{Streams: 5, Users: 2})
	waitPresence(t, p, "news/*", broker.TopicPresence{Streams: 1, Users: 1})
	waitPresence(t, p, "news/eu", broker.TopicPresence{})
	if n, err := p.MemberPresence(context.Background(), "room", "alice"); n != 2 || err != nil {
		t.Errorf("MemberPresence(room, alice) = %d, %v; want 2", n, err)
	}

	page, err := p.PresenceMembers(context.Background(), "room", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	all := page.Members
	for page.Cursor != "" {
		if page, err = p.PresenceMembers(context.Background(), "room", page.Cursor, 1); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Members...)
	}
	want := []broker.PresenceMember{{User: "alice", Streams: 2}, {User: "bob", Streams: 1}}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("PresenceMembers(room) pages, -want +got:\n%s", diff)
	}

	a1.Close()
	anon.Close()
	waitPresence(t, p, "room", broker.TopicPresence{Streams: 3, Users: 2})
	waitPresence(t, p, "user/alice", broker.TopicPresence{})
	if _, err := p.PresenceMembers(context.Background(), "room", "!!", 10); !errors.Is(err, broker.ErrBadCursor) {
		t.Errorf("PresenceMembers with a bad cursor: err = %v, want ErrBadCursor", err)
	}
}

// A hub that shuts down takes its presence with it.
func TestPresenceEndsWithTheHub(t *testing.T) {
	b := membroker.New(membroker.Config{})
	defer b.Close()
	h, err := hub.New(hub.Config{Shards: 2, Presence: true, Shard: shard.Config{PresenceFlush: 10 * time.Millisecond}}, b)
	if err != nil {
		t.Fatal(err)
	}
	follow(t, h, "alice", hub.Selection{Topics: []string{"room"}})
	waitPresence(t, b, "room", broker.TopicPresence{Streams: 1, Users: 1})
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitPresence(t, b, "room", broker.TopicPresence{})
}

// Presence off: the hub has none to query.
func TestPresenceOffByDefault(t *testing.T) {
	h := newHub(t, 1)
	if h.Presence() != nil {
		t.Error("Presence() != nil with Config.Presence false")
	}
}
