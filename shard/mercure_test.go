package shard_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/internal/hubtest"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/membroker"
)

// update is one Mercure update as the door would publish it.
type update struct {
	topics  []string
	data    string
	private bool
	id      string // the publisher's
}

// publishMercure publishes u as the Mercure door does: to the mapped
// names of its topics, and to the routing topic when one needs it.
func publishMercure(t *testing.T, b broker.Broker, u update) eventid.ID {
	t.Helper()
	names, err := mercuremap.Names(u.topics, nil)
	if err != nil {
		t.Fatalf("Names(%q): %v", u.topics, err)
	}
	ids, err := b.Publish(context.Background(), []broker.Publication{{Topics: names, Data: []byte(u.data),
		Mercure: &broker.Mercure{Topics: u.topics, Private: u.private, ID: u.id}}}, broker.Idempotency{})
	if err != nil {
		t.Fatalf("Publish(%+v): %v", u, err)
	}
	return ids[0]
}

// publishNative publishes a native event.
func publishNative(t *testing.T, b broker.Broker, data string, topics ...string) {
	t.Helper()
	if _, err := b.Publish(context.Background(), []broker.Publication{{Topics: topics, Data: []byte(data)}}, broker.Idempotency{}); err != nil {
		t.Fatal(err)
	}
}

// selectors parses draft-07 topic selectors, or draft-08 URL patterns
// for those written "urlpattern:...".
func selectors(t *testing.T, sels ...string) *mercure.Selectors {
	t.Helper()
	var list []mercure.Selector
	for _, v := range sels {
		k := mercure.Exact
		if p, ok := strings.CutPrefix(v, "urlpattern:"); ok {
			k, v = mercure.URLPattern, p
		} else if strings.Contains(v, "{") {
			k = mercure.Template
		}
		list = append(list, mercure.Selector{Kind: k, Value: v})
	}
	s, err := mercure.New(list)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stream is one test client's end of a stream.
type stream struct {
	conn net.Conn
	r    *bufio.Reader
	head string // the head's line
}

// headFrom is a MercureHead that names where a stream resumed from
// ("head from=...").
type headFrom struct{}

func (headFrom) ResumedHead(head []byte, from string) []byte {
	if string(head) != "head from=\n" {
		panic("ResumedHead given " + string(head))
	}
	return []byte("head from=" + from + "\n")
}

// serveMercure opens a Mercure stream whose head names where it resumed
// from ("head from=...").
func serveMercure(t *testing.T, s *shard.Shard, sel, grants *mercure.Selectors, lastEventID string) *stream {
	t.Helper()
	client, server := hubtest.TCPPair(t)
	st := shard.Stream{Head: []byte("head from=\n"), Selection: broker.Selection{Topics: sel.Mapped()}, LastEventID: lastEventID,
		Mercure: &shard.MercureStream{Selectors: sel, Grants: grants, Head: headFrom{}}}
	if err := s.Join(server, st); err != nil {
		t.Fatalf("Join: %v", err)
	}
	r := bufio.NewReader(client)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "head from=") {
		t.Fatalf("stream head = %q, %v; want \"head from=...\"", line, err)
	}
	return &stream{client, r, strings.TrimSuffix(strings.TrimPrefix(line, "head from="), "\n")}
}

// serveNative opens a native stream.
func serveNative(t *testing.T, s *shard.Shard, sel broker.Selection) *stream {
	t.Helper()
	conn, r := serve(t, s, sel)
	return &stream{conn: conn, r: r}
}

// next returns the data of the next event the stream gets, and its id.
func (st *stream) next(t *testing.T) (data, id string) {
	t.Helper()
	st.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := st.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[len("id: "):]
		case strings.HasPrefix(line, "event: ssehub.reset"):
			t.Fatalf("a Mercure stream got ssehub.reset")
		case strings.HasPrefix(line, "data: "):
			return line[len("data: "):], id
		}
	}
}

// want reads the next events and checks their data, in order.
func (st *stream) want(t *testing.T, name string, data ...string) {
	t.Helper()
	for _, w := range data {
		if got, _ := st.next(t); got != w {
			t.Fatalf("%s: next event %q, want %q", name, got, w)
		}
	}
}

// waitSubscribed waits until the shard holds n broker subscriptions.
func waitSubscribed(t *testing.T, s *shard.Shard, n int64) {
	t.Helper()
	testenv.WaitFor(t, "the subscriptions", func() bool { return s.Stats().Subscriptions == n })
}

func TestMercureAndNativeStreamsAreApart(t *testing.T) {
	s, b := runShard(t, shard.Config{})
	// A native stream that follows everything, and the mapped name of a
	// Mercure topic, which the native door refuses but the shard must
	// keep apart all the same.
	native := serveNative(t, s, broker.Selection{Topics: []string{"@m/urn:a"}, Patterns: []string{"*"}})
	merc := serveMercure(t, s, selectors(t, "urn:a", "*"), nil, "")

	start, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{"elsewhere"}, Data: []byte("start")}}, broker.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	publishMercure(t, b, update{topics: []string{"urn:a"}, data: "mercure"})
	publishNative(t, b, "native on the mapped name", "@m/urn:a")
	publishNative(t, b, "native", "news")
	publishMercure(t, b, update{topics: []string{"urn:b"}, data: "mercure 2"})

	native.want(t, "native stream", "start", "native on the mapped name", "native")
	merc.want(t, "Mercure stream", "mercure", "mercure 2")

	// Nor through history: a native * stream resuming from before them
	// gets the native events only.
	conn, r := serveWith(t, s, shard.Stream{Selection: broker.Selection{Patterns: []string{"*"}}, LastEventID: start[0].String()})
	resumed := &stream{conn: conn, r: r}
	resumed.want(t, "native * stream resumed", "native on the mapped name", "native")
}

func TestMercureMatchers(t *testing.T) {
	s, b := runShard(t, shard.Config{})
	tmpl := serveMercure(t, s, selectors(t, "https://example.com/books/{id}"), nil, "")
	pat := serveMercure(t, s, selectors(t, "urlpattern:https://example.com/books/:id"), nil, "")
	exact := serveMercure(t, s, selectors(t, "https://example.com/books/1"), nil, "")
	all := serveMercure(t, s, selectors(t, "*"), nil, "")
	// Matched by all three of its selectors, and by two topics: once.
	every := serveMercure(t, s, selectors(t, "https://example.com/books/{id}", "urlpattern:https://example.com/books/:id", "https://example.com/books/1"), nil, "")
	other := serveMercure(t, s, selectors(t, "https://example.com/authors/{id}"), nil, "")

	publishMercure(t, b, update{topics: []string{"https://example.com/books/1", "https://example.com/books/one"}, data: "one"})
	// Not canonical: only the URL pattern matches it, through the routing topic.
	publishMercure(t, b, update{topics: []string{"HTTPS://Example.COM:443/books/2"}, data: "two"})
	publishMercure(t, b, update{topics: []string{"https://example.com/authors/3"}, data: "three"})
	publishMercure(t, b, update{topics: []string{"https://example.com/books/4"}, data: "four"})

	tmpl.want(t, "template", "one", "four")
	pat.want(t, "urlpattern", "one", "two", "four")
	exact.want(t, "exact", "one")
	all.want(t, "*", "one", "two", "three", "four")
	every.want(t, "matched thrice", "one", "two", "four")
	other.want(t, "another template", "three")
}

func TestMercurePrivateUpdates(t *testing.T) {
	s, b := runShard(t, shard.Config{})
	sel := selectors(t, "https://example.com/books/{id}")
	granted := serveMercure(t, s, sel, selectors(t, "https://example.com/books/{id}"), "")
	// draft-07 §6.5: an alternate topic grants it too.
	alternate := serveMercure(t, s, sel, selectors(t, "urn:secret"), "")
	other := serveMercure(t, s, sel, selectors(t, "https://example.com/authors/{id}"), "")
	anonymous := serveMercure(t, s, sel, nil, "")
	// Sharing a grant set (by key) must not share an answer across updates.
	granted2 := serveMercure(t, s, sel, selectors(t, "https://example.com/books/{id}"), "")

	publishMercure(t, b, update{topics: []string{"https://example.com/books/1"}, data: "private", private: true})
	publishMercure(t, b, update{topics: []string{"https://example.com/books/2", "urn:secret"}, data: "private alternate", private: true})
	publishMercure(t, b, update{topics: []string{"https://example.com/books/3"}, data: "public"})

	granted.want(t, "granted", "private", "private alternate", "public")
	granted2.want(t, "granted, same grants", "private", "private alternate", "public")
	alternate.want(t, "granted an alternate topic", "private alternate", "public")
	other.want(t, "granted other topics", "public")
	anonymous.want(t, "anonymous", "public")
}

func TestMercureResume(t *testing.T) {
	s, b := runShard(t, shard.Config{})
	sel := selectors(t, "https://example.com/books/{id}", "urlpattern:https://example.com/authors/:id")
	grants := selectors(t, "https://example.com/books/{id}")
	first := publishMercure(t, b, update{topics: []string{"https://example.com/books/1"}, data: "one", id: "urn:pub:1"})
	publishMercure(t, b, update{topics: []string{"https://example.com/books/2"}, data: "two"})
	publishNative(t, b, "native", "@m/https://example.com/books/2") // on a carrier's glob
	publishMercure(t, b, update{topics: []string{"https://example.com/books/3/more"}, data: "carrier only"})
	publishMercure(t, b, update{topics: []string{"https://example.com/authors/4"}, data: "private, not granted", private: true})
	publishMercure(t, b, update{topics: []string{"https://example.com/books/5"}, data: "private", private: true})
	publishMercure(t, b, update{topics: []string{"HTTPS://EXAMPLE.com/authors/6"}, data: "routed"})
	last := publishMercure(t, b, update{topics: []string{"urn:elsewhere"}, data: "not selected"})

	tests := []struct {
		lastEventID, wantFrom string
		want                  []string
	}{
		// First, before the other cases' live events: all the history
		// holds, filtered as any replay is.
		{shard.Earliest, shard.Earliest, []string{"one", "two", "private", "routed"}},
		{"#" + first.String(), "#" + first.String(), []string{"two", "private", "routed"}},
		{"urn:pub:1", "urn:pub:1", []string{"two", "private", "routed"}},
		{"urn:pub:unknown", shard.Earliest, nil},
		{"#0-0", shard.Earliest, nil}, // before this broker's history: a reset
		// The stream does not select the update it resumes from: the
		// head cannot vouch for it (draft-08 §7), the replay is exact.
		{"#" + last.String(), shard.Earliest, nil},
		{"", "", nil},
	}
	for _, tc := range tests {
		st := serveMercure(t, s, sel, grants, tc.lastEventID)
		if st.head != tc.wantFrom {
			t.Errorf("resume from %q: head from %q, want %q", tc.lastEventID, st.head, tc.wantFrom)
		}
		publishMercure(t, b, update{topics: []string{"https://example.com/books/live"}, data: "live"})
		st.want(t, "resume from "+tc.lastEventID, append(tc.want, "live")...)
		st.conn.Close()
	}
}

func TestMercureCarriersAreReferenceCounted(t *testing.T) {
	s, _ := runShard(t, shard.Config{Heartbeat: 160 * time.Millisecond})
	tmpl := selectors(t, "https://example.com/books/{id}", "https://example.com/books/{id}/x")
	a := serveMercure(t, s, tmpl, nil, "")
	waitSubscribed(t, s, 1) // one carrier for both templates
	c := serveMercure(t, s, tmpl, nil, "")
	p := serveMercure(t, s, selectors(t, "urlpattern:https://example.com/books/:id"), nil, "")
	waitSubscribed(t, s, 2) // the same carrier, and the routing topic
	n := serveNative(t, s, broker.Selection{Patterns: []string{"@m/https://example.com/books/*"}})
	waitSubscribed(t, s, 2) // a native twin shares the carrier's subscription
	a.conn.Close()
	p.conn.Close()
	testenv.WaitFor(t, "two streams to leave", func() bool { return s.Stats().Clients == 2 })
	waitSubscribed(t, s, 1)
	c.conn.Close()
	testenv.WaitFor(t, "three streams to leave", func() bool { return s.Stats().Clients == 1 })
	waitSubscribed(t, s, 1) // still the native stream's
	n.conn.Close()
	testenv.WaitFor(t, "every stream to leave", func() bool { return s.Stats().Clients == 0 })
	waitSubscribed(t, s, 0)
}

// twoPartitions is the embedded broker claiming two partitions, as a
// partitioned Redis broker does.
type twoPartitions struct{ *membroker.Broker }

func (twoPartitions) Partitions() int { return 2 }

func TestMercureRefusedOnPartitionedBroker(t *testing.T) {
	b := membroker.New(membroker.Config{})
	defer b.Close()
	s, err := shard.New(shard.Config{}, twoPartitions{b})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	defer func() { s.Stop(); testenv.Recv(t, "Run to return", done) }()
	sel := selectors(t, "urn:a")
	err = s.Join(nil, shard.Stream{Selection: broker.Selection{Topics: sel.Mapped()}, Mercure: &shard.MercureStream{Selectors: sel}})
	if !errors.Is(err, shard.ErrMercurePartitioned) {
		t.Errorf("Join of a Mercure stream on two partitions = %v, want %v", err, shard.ErrMercurePartitioned)
	}
}

// onePerPage pages an embedded broker's replays one event per page, as the
// Redis pager does once an event is as large as a stream's share of a page.
type onePerPage struct{ *membroker.Broker }

func (p onePerPage) Replay(ctx context.Context, sel broker.Selection, last string) (broker.Replay, error) {
	r, err := p.Broker.Replay(ctx, sel, last)
	if err != nil || r.Reset != nil || len(r.Messages) <= 1 {
		return r, err
	}
	rest := r.Messages[1:]
	r.Messages = r.Messages[:1]
	r.Next = func(context.Context) ([]*broker.Message, error) {
		if len(rest) == 0 {
			return nil, nil
		}
		m := rest[:1]
		rest = rest[1:]
		return m, nil
	}
	return r, nil
}

// A resume reads from just before its event, to see it, and drops it: a
// first page that held only that event must not end the replay (an
// empty page does), or the rest of history is lost under an exact head.
func TestMercureResumeAcrossOneEventPages(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	s, err := shard.New(shard.Config{}, onePerPage{b})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	t.Cleanup(func() { s.Stop(); testenv.Recv(t, "Run to return after Stop", done) })
	sel := selectors(t, "https://example.com/a")
	first := publishMercure(t, b, update{topics: []string{"https://example.com/a"}, data: "one"})
	publishMercure(t, b, update{topics: []string{"https://example.com/a"}, data: "two"})
	publishMercure(t, b, update{topics: []string{"https://example.com/a"}, data: "three"})
	st := serveMercure(t, s, sel, nil, "#"+first.String())
	if st.head != "#"+first.String() {
		t.Errorf("head from %q, want the id resumed from", st.head)
	}
	publishMercure(t, b, update{topics: []string{"https://example.com/a"}, data: "live"})
	st.want(t, "the resumed stream", "two", "three", "live")
}
