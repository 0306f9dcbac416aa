package mercure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/transport/auth"
)

const testPath = "/.well-known/mercure"

func TestEscapeVar(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com/{id}": "https%3A%2F%2Fexample.com%2F%7Bid%7D",
		"a%2Fb":                    "a%252Fb", // encoded once: the % is encoded, never decoded
		"AZaz09-._~":               "AZaz09-._~",
		"é ":                       "%C3%A9%20",
		"urn:uuid:1":               "urn%3Auuid%3A1",
	} {
		if got := escapeVar(in); got != want {
			t.Errorf("escapeVar(%q) = %q, want %q", in, got, want)
		}
		if back, err := url.PathUnescape(escapeVar(in)); err != nil || back != in {
			t.Errorf("unescaping escapeVar(%q) = %q, %v", in, back, err)
		}
	}
}

func TestParseAPIPath(t *testing.T) {
	base := testPath + "/subscriptions"
	for _, tt := range []struct {
		name, raw string
		want      APIPath
		ok        bool
	}{
		{"the collection", base, APIPath{Path: base, Prefix: base + "/"}, true},
		{"a draft-07 topic's collection", base + "/https%3A%2F%2Fa%2F%7Bid%7D",
			APIPath{Path: base + "/https%3A%2F%2Fa%2F%7Bid%7D", Prefix: base + "/https%3A%2F%2Fa%2F%7Bid%7D/", Generation: Draft07}, true},
		{"escapes made canonical", base + "/https:%2f%2fa%2F{id}",
			APIPath{Path: base + "/https%3A%2F%2Fa%2F%7Bid%7D", Prefix: base + "/https%3A%2F%2Fa%2F%7Bid%7D/", Generation: Draft07}, true},
		{"a draft-07 subscription", base + "/t/urn%3Ax", APIPath{Path: base + "/t/urn%3Ax", ID: base + "/t/urn%3Ax", Generation: Draft07}, true},
		{"a draft-08 matcher's collection (or a draft-07 subscription)", base + "/exact/t",
			APIPath{Path: base + "/exact/t", Prefix: base + "/exact/t/", ID: base + "/exact/t", Generation: Draft08}, true},
		{"a draft-08 subscription", base + "/urlpattern/p/s", APIPath{Path: base + "/urlpattern/p/s", ID: base + "/urlpattern/p/s", Generation: Draft08}, true},
		{"an unknown matcher type", base + "/regexp/p/s", APIPath{}, false},
		{"too many segments", base + "/exact/p/s/x", APIPath{}, false},
		{"an empty segment", base + "/t//s", APIPath{}, false},
		{"a trailing slash", base + "/", APIPath{}, false},
		{"a bad escape", base + "/%zz", APIPath{}, false},
		{"a control character", base + "/a%0Ab", APIPath{}, false},
		{"invalid UTF-8", base + "/%FF", APIPath{}, false},
		{"another path", testPath + "/subscriptionsx", APIPath{}, false},
		{"the hub itself", testPath, APIPath{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseAPIPath(testPath, tt.raw)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseAPIPath(%q) = %+v, %v; want %+v, %v", tt.raw, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParseAPIPath: no path panics, and what is accepted is canonical (it
// parses to itself) and under the subscriptions path.
func FuzzParseAPIPath(f *testing.F) {
	for _, s := range []string{"", "/a", "/a/b", "/exact/a/b", "/%zz", "/a%2Fb/%C3%A9", "//", "/exact/%2A/urn%3Ax"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		p, ok := ParseAPIPath(testPath, testPath+"/subscriptions"+rest)
		if !ok {
			return
		}
		if !strings.HasPrefix(p.Path, testPath+"/subscriptions") {
			t.Fatalf("path %q outside the API", p.Path)
		}
		again, ok := ParseAPIPath(testPath, p.Path)
		if !ok || again != p {
			t.Fatalf("canonical %q parses to %+v, %v; want %+v", p.Path, again, ok, p)
		}
	})
}

func TestSubscriptionRecord(t *testing.T) {
	payload := json.RawMessage(`{"active":true,"x":1}`)
	r := subscriptionRecord(testPath, Draft07, mercure.Selector{Kind: mercure.Template, Value: "https://a/{id}"}, "urn:x", payload)
	want := `{"@context":"https://mercure.rocks/","id":"/.well-known/mercure/subscriptions/https%3A%2F%2Fa%2F%7Bid%7D/urn%3Ax",` +
		`"type":"Subscription","topic":"https://a/{id}","subscriber":"urn:x","active":true,"payload":{"active":true,"x":1}}`
	if string(r.Doc) != want {
		t.Errorf("draft-07 document\n%s\nwant\n%s", r.Doc, want)
	}
	// endedDoc turns the document's own field, not the payload's.
	if got := string(endedDoc(r.Doc)); got != strings.Replace(want, `"active":true,"payload"`, `"active":false,"payload"`, 1) {
		t.Errorf("ended %s", got)
	}
	r = subscriptionRecord(testPath, Draft08, mercure.Selector{Kind: mercure.URLPattern, Value: "https://a/:id"}, "urn:x", nil)
	want = `{"@context":"https://mercure.rocks/","id":"/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fa%2F%3Aid/urn%3Ax",` +
		`"type":"Subscription","match_type":"urlpattern","match":"https://a/:id","subscriber":"urn:x","active":true}`
	if string(r.Doc) != want || r.ID != "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fa%2F%3Aid/urn%3Ax" {
		t.Errorf("draft-08 record %s %s\nwant %s", r.ID, r.Doc, want)
	}
	big := json.RawMessage(`"` + strings.Repeat("x", MaxPayload) + `"`)
	if p := subscriptionPayload(tokenGrants{gen: Draft07, claim07: Claim07{Payload: big}}, mercure.Selector{}); p != nil {
		t.Errorf("a payload over MaxPayload is kept (%d bytes)", len(p))
	}
}

func TestSubscriberID(t *testing.T) {
	a := subscriberID(auth.Claims{Issuer: "https://i", Subject: "bob"})
	if a != subscriberID(auth.Claims{Issuer: "https://i", Subject: "bob"}) || !strings.HasPrefix(a, "urn:ssehub:") {
		t.Errorf("subscriberID is not stable: %q", a)
	}
	for _, c := range []auth.Claims{{Issuer: "https://j", Subject: "bob"}, {Issuer: "https://ib", Subject: "ob"}, {Subject: "bob"}} {
		if subscriberID(c) == a {
			t.Errorf("%+v has the subscriber id of iss https://i sub bob", c)
		}
	}
	if x, y := subscriberID(auth.Claims{}), subscriberID(auth.Claims{}); x == y || !strings.HasPrefix(x, "urn:uuid:") {
		t.Errorf("anonymous ids %q %q, want distinct urn:uuid", x, y)
	}
}

// fakeTracker records what a registry writes.
type fakeTracker struct {
	writes int
	fail   error
}

func (f *fakeTracker) Write(_ context.Context, _ bool, _ []broker.MercureSubscription, _ []string) error {
	f.writes++
	return f.fail
}
func (f *fakeTracker) Reap(context.Context, int) ([]broker.MercureSubscription, error) {
	return nil, nil
}
func (f *fakeTracker) Close(context.Context) error { return nil }

// The registry's queues are bounded: opens beyond maxPendingOpens are not
// registered (and their ends ignored); events beyond maxQueuedEvents drop
// the oldest; ends of registered streams are never dropped.
func TestRegistryBounds(t *testing.T) {
	r := &registry{tracker: &fakeTracker{}, ttl: time.Second, log: slog.Default(), registered: true,
		live: map[string]*liveSub{}, toSet: map[string]struct{}{}, toDel: map[string]struct{}{}}
	stream := func(n, from int) *streamSubs {
		s := &streamSubs{}
		for i := range n {
			s.recs = append(s.recs, subscriptionRecord(testPath, Draft07, mercure.Selector{Value: fmt.Sprint(from + i)}, "urn:x", nil))
		}
		return s
	}
	big := stream(maxPendingOpens, 0)
	r.opened(big)
	over := stream(1, maxPendingOpens)
	r.opened(over)
	if got := r.stats().Dropped; got != 1 {
		t.Errorf("dropped %d after an open over the bound, want 1", got)
	}
	r.ended(over) // never registered: nothing to end
	r.take()
	if len(r.live) != maxPendingOpens || len(r.events) != maxQueuedEvents {
		t.Errorf("%d live, %d events; want %d, %d", len(r.live), len(r.events), maxPendingOpens, maxQueuedEvents)
	}
	r.ended(big)
	r.take()
	if len(r.live) != 0 || len(r.toDel) != maxPendingOpens || len(r.events) != maxQueuedEvents {
		t.Errorf("after the end: %d live, %d to delete, %d events", len(r.live), len(r.toDel), len(r.events))
	}
	if got := r.stats().Dropped; got != 1+maxQueuedEvents {
		t.Errorf("dropped %d, want 1 open and %d events", got, maxQueuedEvents)
	}
	// The queue kept the newest: the ends.
	var d struct{ Active bool }
	if err := json.Unmarshal(r.events[0].Data, &d); err != nil || d.Active {
		t.Errorf("oldest kept event %s, want an end", r.events[0].Data)
	}
	// A failed write keeps the changes for the next tick.
	r.tracker.(*fakeTracker).fail = errors.New("stalled")
	if r.write() || len(r.toDel) != maxPendingOpens {
		t.Errorf("a failed write cleared %d pending deletions", maxPendingOpens-len(r.toDel))
	}
	// More ends while the store stalls: past maxPendingDeletes the hub
	// registers anew, which rewrites its hash from live, instead of
	// keeping every id.
	more := stream(2, 2*maxPendingOpens)
	r.opened(more)
	r.take()
	r.ended(more)
	r.take()
	if len(r.toDel) != 0 || r.registered {
		t.Errorf("%d deletions past the bound, registered %v; want none, and a new registration", len(r.toDel), r.registered)
	}
	r.tracker.(*fakeTracker).fail = nil
	if !r.write() || len(r.toDel) != 0 || !r.registered {
		t.Errorf("the retried write left %d deletions, registered %v", len(r.toDel), r.registered)
	}
}

// An ended subscription of a hub not registered yet (or any more) leaves
// nothing to delete: registering rewrites the hash from live.
func TestRegistryEndsBeforeRegistering(t *testing.T) {
	r := &registry{tracker: &fakeTracker{fail: errors.New("stalled")}, ttl: time.Second, log: slog.Default(),
		live: map[string]*liveSub{}, toSet: map[string]struct{}{}, toDel: map[string]struct{}{}}
	s := &streamSubs{recs: []broker.MercureSubscription{subscriptionRecord(testPath, Draft07, mercure.Selector{Value: "a"}, "urn:x", nil)}}
	r.opened(s)
	r.take()
	r.ended(s)
	r.take()
	if len(r.toDel) != 0 || len(r.toSet) != 0 || len(r.live) != 0 {
		t.Errorf("%d to delete, %d to set, %d live; want none", len(r.toDel), len(r.toSet), len(r.live))
	}
}
