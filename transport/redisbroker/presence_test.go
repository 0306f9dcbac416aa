package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// newPresenceBroker returns a broker on client, closed when t ends.
func newPresenceBroker(t *testing.T, client redis.UniversalClient) *redisbroker.Broker {
	t.Helper()
	b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// presenceIs reports whether topic's presence, as b sees it, is want.
func presenceIs(b broker.PresenceStore, topic string, want broker.TopicPresence) func() bool {
	return func() bool {
		got, err := b.TopicPresence(context.Background(), topic)
		return err == nil && got == want
	}
}

// update hands entries to tr, which must take them.
func update(t *testing.T, tr broker.PresenceTracker, shard int, entries ...broker.PresenceEntry) {
	t.Helper()
	if !tr.Update(shard, entries) {
		t.Fatalf("Update(%d, %v) = false, want true", shard, entries)
	}
}

// presenceKeys returns the presence keys in Redis.
func presenceKeys(t *testing.T, c *redis.Client) []string {
	t.Helper()
	keys, err := c.Keys(context.Background(), "{ssehub}:p:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Counts from the shards of one hub reach another hub's queries; a hub
// that closes takes its counts, and every key of its own, with it.
func TestPresenceAcrossHubs(t *testing.T) {
	srv := redistest.Start(t)
	a := newPresenceBroker(t, srv.Client(t))
	b := newPresenceBroker(t, srv.Client(t))
	ta := a.TrackPresence(broker.PresenceConfig{})
	tb := b.TrackPresence(broker.PresenceConfig{})
	defer tb.Close()

	update(t, ta, 0, broker.PresenceEntry{Topic: "room", User: "alice", Streams: 2}, broker.PresenceEntry{Topic: "room", Streams: 1})
	update(t, ta, 1, broker.PresenceEntry{Topic: "room", Streams: 3})
	update(t, tb, 0, broker.PresenceEntry{Topic: "room", User: "alice", Streams: 1}, broker.PresenceEntry{Topic: "room", User: "bob", Streams: 1})
	testenv.WaitFor(t, "room: 8 streams, 2 users", presenceIs(b, "room", broker.TopicPresence{Streams: 8, Users: 2}))
	if n, err := b.MemberPresence(context.Background(), "room", "alice"); n != 3 || err != nil {
		t.Errorf("MemberPresence(room, alice) = %d, %v; want 3", n, err)
	}

	update(t, ta, 0, broker.PresenceEntry{Topic: "room", User: "alice", Streams: 0})
	update(t, tb, 0, broker.PresenceEntry{Topic: "room", User: "alice", Streams: 0})
	testenv.WaitFor(t, "room: alice left", presenceIs(b, "room", broker.TopicPresence{Streams: 5, Users: 1}))

	ta.Close()
	testenv.WaitFor(t, "room: hub a's counts gone", presenceIs(b, "room", broker.TopicPresence{Streams: 1, Users: 1}))
	tb.Close()
	if keys := presenceKeys(t, srv.Client(t)); len(keys) != 0 {
		t.Errorf("presence keys after both hubs closed = %q, want none", keys)
	}
}

// A hub cut off from Redis (as one killed with -9 is) drops out once its
// entry expires: another hub reaps its counts.
func TestPresenceOfADeadHubExpires(t *testing.T) {
	srv := redistest.Start(t)
	cutOff := srv.Client(t)
	a := newPresenceBroker(t, cutOff)
	b := newPresenceBroker(t, srv.Client(t))
	const ttl = time.Second
	ta := a.TrackPresence(broker.PresenceConfig{TTL: ttl})
	tb := b.TrackPresence(broker.PresenceConfig{TTL: ttl})
	defer tb.Close()
	update(t, ta, 0, broker.PresenceEntry{Topic: "room", User: "alice", Streams: 1})
	testenv.WaitFor(t, "room: alice", presenceIs(b, "room", broker.TopicPresence{Streams: 1, Users: 1}))

	cutOff.Close()
	start := time.Now()
	testenv.WaitFor(t, "room: the dead hub reaped", presenceIs(b, "room", broker.TopicPresence{}))
	if took := time.Since(start); took > ttl+time.Second {
		t.Errorf("a dead hub's counts went after %s, want within the TTL %s plus a second", took, ttl)
	}
	ta.Close() // cannot reach Redis: logs, and returns
}

// Members come in pages that together hold every user once; a cursor the
// store did not hand out is refused.
func TestPresenceMembersPages(t *testing.T) {
	srv := redistest.Start(t)
	b := newPresenceBroker(t, srv.Client(t))
	tr := b.TrackPresence(broker.PresenceConfig{})
	defer tr.Close()
	const users = 2500
	var entries []broker.PresenceEntry
	for i := range users {
		entries = append(entries, broker.PresenceEntry{Topic: "big", User: fmt.Sprintf("u%04d", i), Streams: 1 + i%3})
	}
	update(t, tr, 0, entries...)
	testenv.WaitFor(t, "big: every user", presenceIs(b, "big", broker.TopicPresence{Streams: int64(users + users/3*3), Users: users}))

	seen := map[string]int64{}
	page := broker.PresencePage{}
	for pages := 0; pages == 0 || page.Cursor != ""; pages++ {
		var err error
		if page, err = b.PresenceMembers(context.Background(), "big", page.Cursor, 100); err != nil {
			t.Fatalf("PresenceMembers page %d: %v", pages, err)
		}
		if len(page.Members) > 200 {
			t.Fatalf("PresenceMembers(limit 100) page %d has %d members", pages, len(page.Members))
		}
		for _, m := range page.Members {
			seen[m.User] = m.Streams
		}
	}
	if len(seen) != users || seen["u0002"] != 3 {
		t.Errorf("pages held %d users (u0002: %d streams), want %d (u0002: 3)", len(seen), seen["u0002"], users)
	}
	for _, bad := range []string{"x", "-1", "0"} {
		if _, err := b.PresenceMembers(context.Background(), "big", bad, 10); !errors.Is(err, broker.ErrBadCursor) {
			t.Errorf("PresenceMembers(cursor %q) err = %v, want ErrBadCursor", bad, err)
		}
	}
}

// While Redis is paused, queries fail within their deadline and updates
// wait; once it resumes, the counts catch up.
func TestPresenceCatchesUpAfterAPause(t *testing.T) {
	srv := redistest.Start(t)
	opt := srv.Client(t).Options()
	opt.ContextTimeoutEnabled = true // as the hub's client (cmd/ssehub)
	client := redis.NewClient(opt)
	defer client.Close()
	b := newPresenceBroker(t, client)
	tr := b.TrackPresence(broker.PresenceConfig{TTL: 3 * time.Second})
	defer tr.Close()
	update(t, tr, 0, broker.PresenceEntry{Topic: "room", User: "alice", Streams: 1})
	testenv.WaitFor(t, "room: alice", presenceIs(b, "room", broker.TopicPresence{Streams: 1, Users: 1}))

	resume := srv.Pause(t)
	update(t, tr, 0, broker.PresenceEntry{Topic: "room", User: "bob", Streams: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	start := time.Now()
	_, err := b.TopicPresence(ctx, "room")
	cancel()
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("TopicPresence while Redis is paused = %v after %s, want an error within the deadline", err, time.Since(start))
	}
	time.Sleep(time.Second) // a few ticks of failed writes
	resume()
	testenv.WaitFor(t, "room: bob counted after the pause", presenceIs(b, "room", broker.TopicPresence{Streams: 3, Users: 2}))
	// The tracker counts its members once Redis has answered, just after
	// the counts became visible.
	testenv.WaitFor(t, "2 members tracked", func() bool { return tr.(broker.PresenceReporter).PresenceStats().Members == 2 })
	if st := tr.(broker.PresenceReporter).PresenceStats(); st.Errors == 0 {
		t.Errorf("PresenceStats after the pause = %+v, want errors counted", st)
	}
}

// frames returns the SSE frames of msgs without their id lines.
func frames(msgs []*broker.Message) []string {
	var out []string
	for _, m := range msgs {
		f := string(m.Frame)
		out = append(out, f[strings.Index(f, "\n")+1:])
	}
	return out
}

// Join and leave events follow the fleet's counts, not one hub's: a user
// on two hubs joins once and leaves once, and a dead hub's users leave
// when it is reaped. The events are in the companion topic's history, so
// a client resumes them like any other.
func TestPresenceEventsAcrossHubs(t *testing.T) {
	srv := redistest.Start(t)
	cutOff := srv.Client(t)
	a := newPresenceBroker(t, cutOff)
	b := newPresenceBroker(t, srv.Client(t))
	events := func(topic string) bool { return topic == "room" }
	ta := a.TrackPresence(broker.PresenceConfig{TTL: time.Second, Events: events})
	tb := b.TrackPresence(broker.PresenceConfig{TTL: time.Second, Events: events})
	defer tb.Close()
	rec, _ := brokertest.Listen(t, b, "presence:room")

	step := func(tr broker.PresenceTracker, user string, n int, want broker.TopicPresence) {
		t.Helper()
		update(t, tr, 0, broker.PresenceEntry{Topic: "room", User: user, Streams: n}, broker.PresenceEntry{Topic: "quiet", User: user, Streams: n})
		testenv.WaitFor(t, fmt.Sprintf("room: %+v", want), presenceIs(b, "room", want))
	}
	step(ta, "alice", 1, broker.TopicPresence{Streams: 1, Users: 1})
	step(tb, "alice", 2, broker.TopicPresence{Streams: 3, Users: 1})
	step(ta, "alice", 0, broker.TopicPresence{Streams: 2, Users: 1})
	step(tb, "alice", 0, broker.TopicPresence{})
	step(ta, "bob", 1, broker.TopicPresence{Streams: 1, Users: 1})
	cutOff.Close() // hub a dies: b reaps it
	testenv.WaitFor(t, "room: bob reaped", presenceIs(b, "room", broker.TopicPresence{}))
	ta.Close()

	want := []string{
		"event: ssehub.join\ndata: {\"topic\":\"room\",\"user\":\"alice\"}\n\n",
		"event: ssehub.leave\ndata: {\"topic\":\"room\",\"user\":\"alice\"}\n\n",
		"event: ssehub.join\ndata: {\"topic\":\"room\",\"user\":\"bob\"}\n\n",
		"event: ssehub.leave\ndata: {\"topic\":\"room\",\"user\":\"bob\"}\n\n",
	}
	testenv.WaitFor(t, "4 events live", func() bool { return len(rec.Messages()) >= len(want) })
	live := rec.Messages()
	if diff := cmp.Diff(want, frames(live)); diff != "" {
		t.Errorf("live events on presence:room, -want +got:\n%s", diff)
	}
	replay, err := b.Replay(context.Background(), broker.Selection{Topics: []string{"presence:room"}}, live[0].ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:], frames(replay.Messages)); diff != "" {
		t.Errorf("resume of presence:room after the first event, -want +got:\n%s", diff)
	}
}
