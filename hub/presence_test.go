package hub_test

import (
	"context"
	"errors"
	"net"
	"strings"
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
	return newHubWith(t, hub.Config{Shards: shards, Presence: true,
		Shard: shard.Config{PresenceFlush: 20 * time.Millisecond}})
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

// readFrames reads from conn until it has n SSE events (blocks ending in a
// blank line that are not comments), and returns them.
func readFrames(t *testing.T, conn net.Conn, n int) []string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var frames []string
	var buf []byte
	b := make([]byte, 4096)
	for len(frames) < n {
		k, err := conn.Read(b)
		if err != nil {
			t.Fatalf("reading %d events, got %q: %v", n, frames, err)
		}
		buf = append(buf, b[:k]...)
		for {
			i := strings.Index(string(buf), "\n\n")
			if i < 0 {
				break
			}
			if block := string(buf[:i+2]); !strings.HasPrefix(block, ":") {
				frames = append(frames, block)
			}
			buf = buf[i+2:]
		}
	}
	return frames
}

// Join and leave events reach the companion topic, in order, for the
// topics that have them, once per user however many streams they hold.
func TestPresenceEvents(t *testing.T) {
	b := membroker.New(membroker.Config{})
	h, err := hub.New(hub.Config{Shards: 2, Presence: true, Shard: shard.Config{PresenceFlush: 10 * time.Millisecond},
		PresenceEvents: func(topic string) bool { return topic == "room" }}, b)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := h.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		b.Close()
	}()
	watcher := follow(t, h, "", hub.Selection{Topics: []string{"presence:room"}})
	a1 := follow(t, h, "alice", hub.Selection{Topics: []string{"room", "other"}})
	waitPresence(t, b, "room", broker.TopicPresence{Streams: 1, Users: 1})
	a2 := follow(t, h, "alice", hub.Selection{Topics: []string{"room"}})
	waitPresence(t, b, "room", broker.TopicPresence{Streams: 2, Users: 1})
	a1.Close()
	waitPresence(t, b, "room", broker.TopicPresence{Streams: 1, Users: 1})
	a2.Close()
	waitPresence(t, b, "room", broker.TopicPresence{})

	var got []string
	for _, f := range readFrames(t, watcher, 2) {
		got = append(got, f[strings.Index(f, "\n")+1:]) // without the id line
	}
	want := []string{
		"event: ssehub.join\ndata: {\"topic\":\"room\",\"user\":\"alice\"}\n\n",
		"event: ssehub.leave\ndata: {\"topic\":\"room\",\"user\":\"alice\"}\n\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events on presence:room, -want +got:\n%s", diff)
	}
}
