package mercure_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/apitest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/membroker"
	"github.com/ssehub/ssehub/transport/mercure"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

const subsPath = "/.well-known/mercure/subscriptions"

// subsHub is a hub serving the door with active subscriptions on.
type subsHub struct {
	url  string // the hub's URL (its door's path)
	base string // scheme and authority
	door *mercure.Door
}

// serveSubsDoor serves a door with active subscriptions on b (which must
// be a broker.MercureSubscriptionStore) and anonymous subscribers; the
// door is closed before the hub shuts down.
func serveSubsDoor(t *testing.T, b broker.Broker, ttl time.Duration) subsHub {
	t.Helper()
	d := startDoor(t, b, doorOptions{door: mercure.Config{Anonymous: true,
		Subscriptions: b.(broker.MercureSubscriptionStore), SubscriptionsTTL: ttl}})
	return subsHub{url: d.url, base: strings.TrimSuffix(d.url, d.path), door: d.door}
}

// subDoc is a subscription's JSON-LD document, both generations' fields.
type subDoc struct {
	Context     string          `json:"@context"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Topic       *string         `json:"topic"`
	MatchType   *string         `json:"match_type"`
	Match       *string         `json:"match"`
	Subscriber  string          `json:"subscriber"`
	Active      *bool           `json:"active"`
	Payload     json.RawMessage `json:"payload"`
	LastEventID string          `json:"lastEventID"`
	LastEvent08 string          `json:"last_event_id"`
}

// collection is a collection's document.
type collection struct {
	Context       string   `json:"@context"`
	ID            string   `json:"id"`
	Type          string   `json:"type"`
	LastEventID   string   `json:"lastEventID"`
	LastEvent08   string   `json:"last_event_id"`
	Subscriptions []subDoc `json:"subscriptions"`
}

// subEvent reads events until one about a subscription of subscriber,
// and returns it and its event id; it fails after about three seconds.
func subEvent(t *testing.T, s subscriber, subscriberID string) (subDoc, string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		s.conn.SetReadDeadline(deadline)
		ev, err := s.r.Next()
		if err != nil {
			t.Fatalf("waiting for a subscription event of %s: %v", subscriberID, err)
		}
		var d subDoc
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
			t.Fatalf("event data %q is not JSON: %v", ev.Data, err)
		}
		if d.Subscriber == subscriberID || subscriberID == "" {
			return d, ev.ID
		}
	}
	t.Fatalf("no subscription event of %s within 3s", subscriberID)
	return subDoc{}, ""
}

// apiGet reads path (raw, as sent) from the hub at base with the bearer
// token tok ("" for none).
func apiGet(t *testing.T, base, path, tok string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path // sent as it is, escapes and all
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// watcherToken may follow every subscription event of both generations
// and read the whole API.
func watcherToken(t *testing.T) string {
	return signed(t, jwt.MapClaims{"sub": "watcher", "mercure": map[string]any{"subscribe": []string{
		subsPath, subsPath + "/{topic}", subsPath + "/{topic}/{subscriber}", subsPath + "/{type}/{match}/{subscriber}"}}})
}

// bobToken is a subscriber with a subject, an issuer and a payload.
func bobToken(t *testing.T) string {
	return signed(t, jwt.MapClaims{"sub": "bob", "iss": "https://issuer.example",
		"mercure": map[string]any{"subscribe": []string{"https://example.com/books/{id}"}, "payload": map[string]any{"name": "Bob"}}})
}

func sameSubscriber(t *testing.T, d subDoc, want string) {
	t.Helper()
	if d.Subscriber != want {
		t.Errorf("subscriber = %q, want %q", d.Subscriber, want)
	}
}

// TestDraft07Subscriptions checks draft-07 §8.1 (Subscription Events) and
// §8.2 (Subscription API) against a real hub over sockets, on the
// embedded broker.
func TestDraft07Subscriptions(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	h := serveSubsDoor(t, b, 0)
	watcher := watcherToken(t)
	events := "topic=" + url.QueryEscape(subsPath+"/{topic}/{subscriber}")
	w := subscribe(t, h.url, events, "Authorization: Bearer "+watcher)
	own, _ := subEvent(t, w, "")
	anon := subscribe(t, h.url, events)
	anonEv, _ := subEvent(t, w, "")

	books, odd := "https://example.com/books/{id}", "a b%2F/é"
	bob := subscribe(t, h.url, "topic="+url.QueryEscape(books)+"&topic="+url.QueryEscape(odd), "Authorization: Bearer "+bobToken(t))
	first, _ := subEvent(t, w, "")
	second, secondID := subEvent(t, w, first.Subscriber)
	created := map[string]subDoc{*first.Topic: first, *second.Topic: second}
	bobID := first.Subscriber

	t.Run("§8.1_Subscription_Events", func(t *testing.T) {
		for _, c := range []struct {
			name, topic, id string
		}{
			{"template selector, topic percent-encoded once", books,
				subsPath + "/https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D/" + strings.ReplaceAll(bobID, ":", "%3A")},
			{"a % in a selector is encoded, not decoded", odd, subsPath + "/a%20b%252F%2F%C3%A9/" + strings.ReplaceAll(bobID, ":", "%3A")},
		} {
			t.Run(c.name, func(t *testing.T) {
				d, ok := created[c.topic]
				if !ok {
					t.Fatalf("no creation event for %q; got %v", c.topic, created)
				}
				if d.ID != c.id {
					t.Errorf("id = %q, want %q", d.ID, c.id)
				}
				if d.Context != "https://mercure.rocks/" || d.Type != "Subscription" || d.Active == nil || !*d.Active {
					t.Errorf("@context %q type %q active %v, want https://mercure.rocks/, Subscription, true", d.Context, d.Type, d.Active)
				}
				if string(d.Payload) != `{"name":"Bob"}` {
					t.Errorf("payload = %s, want the token's mercure.payload", d.Payload)
				}
				if d.MatchType != nil || d.Match != nil {
					t.Errorf("a draft-07 subscription has match fields: %+v", d)
				}
			})
		}
		t.Run("subscriber id derived from iss and sub, the same for every selector", func(t *testing.T) {
			if !strings.HasPrefix(bobID, "urn:ssehub:") || strings.Contains(bobID, "bob") {
				t.Errorf("subscriber = %q, want urn:ssehub: and a hash, not the subject", bobID)
			}
			sameSubscriber(t, second, bobID)
		})
		t.Run("an anonymous stream's subscriber is a random urn:uuid", func(t *testing.T) {
			if !strings.HasPrefix(anonEv.Subscriber, "urn:uuid:") || len(anonEv.Subscriber) != len("urn:uuid:")+36 || anonEv.Payload != nil {
				t.Errorf("anonymous subscription event %+v", anonEv)
			}
		})
		t.Run("the watcher's own subscription is announced too", func(t *testing.T) {
			if own.Topic == nil || *own.Topic != subsPath+"/{topic}/{subscriber}" || !strings.HasPrefix(own.Subscriber, "urn:ssehub:") {
				t.Errorf("own event %+v", own)
			}
		})
		t.Run("only the hub publishes them: 403 for a publisher, even with *", func(t *testing.T) {
			publisher := http.Header{"Authorization": {"Bearer " + token(t, map[string]any{"publish": []string{"*"}})}}
			for _, topic := range []string{created[books].ID, "https://elsewhere.example" + subsPath + "/x/y", "/a/.." + subsPath} {
				if got := post(t, h.url, publisher, url.Values{"topic": {topic}, "data": {`{"active":false}`}}); got.status != 403 {
					t.Errorf("publishing to %s = %d %q, want 403", topic, got.status, got.body)
				}
			}
		})
		t.Run("private: a subscriber without a matching grant gets none", func(t *testing.T) {
			anon.nothing(t, "the anonymous stream on the events' template")
		})
	})

	t.Run("§8.2_Subscription_API", func(t *testing.T) {
		t.Run("collection", func(t *testing.T) {
			status, header, body := apiGet(t, h.base, subsPath, watcher)
			if status != 200 || header.Get("Content-Type") != "application/ld+json" {
				t.Fatalf("GET %s = %d %s %s", subsPath, status, header.Get("Content-Type"), body)
			}
			var c collection
			if err := json.Unmarshal(body, &c); err != nil {
				t.Fatal(err)
			}
			if c.Context != "https://mercure.rocks/" || c.ID != subsPath || c.Type != "Subscriptions" {
				t.Errorf("collection fields: %+v", c)
			}
			if c.LastEventID != secondID || c.LastEvent08 != secondID {
				t.Errorf("lastEventID = %q (last_event_id %q), want the last event's id %q", c.LastEventID, c.LastEvent08, secondID)
			}
			if len(c.Subscriptions) != 4 {
				t.Errorf("%d subscriptions, want the watcher's, the anonymous stream's and Bob's two: %s", len(c.Subscriptions), body)
			}
		})
		t.Run("filtered by topic", func(t *testing.T) {
			path := subsPath + "/" + url.PathEscape(url.QueryEscape(books)) // any valid encoding
			status, _, body := apiGet(t, h.base, subsPath+"/https%3a%2F%2Fexample.com%2Fbooks%2F%7bid%7D", watcher)
			var c collection
			if err := json.Unmarshal(body, &c); status != 200 || err != nil {
				t.Fatalf("GET filtered = %d %s (%v)", status, body, err)
			}
			if len(c.Subscriptions) != 1 || c.Subscriptions[0].ID != created[books].ID || c.ID != subsPath+"/https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D" {
				t.Errorf("filtered collection %s, want Bob's books subscription (%s)", body, path)
			}
		})
		t.Run("single subscription", func(t *testing.T) {
			status, header, body := apiGet(t, h.base, created[books].ID, watcher)
			var d subDoc
			if err := json.Unmarshal(body, &d); status != 200 || err != nil || header.Get("Content-Type") != "application/ld+json" {
				t.Fatalf("GET single = %d %s (%v)", status, body, err)
			}
			if d.ID != created[books].ID || d.Type != "Subscription" || d.LastEventID != secondID || string(d.Payload) != `{"name":"Bob"}` {
				t.Errorf("single = %s", body)
			}
		})
		t.Run("404 for an unknown subscription", func(t *testing.T) {
			if status, _, _ := apiGet(t, h.base, subsPath+"/nothing/urn%3Anobody", watcher); status != 404 {
				t.Errorf("unknown = %d, want 404", status)
			}
			if status, _, _ := apiGet(t, h.base, subsPath+"/a/b/c/d", watcher); status != 404 {
				t.Errorf("too deep = %d, want 404", status)
			}
		})
		t.Run("401 without a token, 403 without a grant", func(t *testing.T) {
			status, header, _ := apiGet(t, h.base, subsPath, "")
			if status != 401 || header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("no token = %d %q, want 401 Bearer", status, header.Get("WWW-Authenticate"))
			}
			status, header, _ = apiGet(t, h.base, subsPath, bobToken(t))
			if status != 403 || !strings.Contains(header.Get("WWW-Authenticate"), "insufficient_scope") {
				t.Errorf("no grant = %d %q, want 403 insufficient_scope", status, header.Get("WWW-Authenticate"))
			}
			narrow := signed(t, jwt.MapClaims{"mercure": map[string]any{"subscribe": []string{subsPath + "/{topic}"}}})
			if status, _, _ := apiGet(t, h.base, subsPath, narrow); status != 403 {
				t.Errorf("a grant for the filtered collections only, on the whole = %d, want 403", status)
			}
			if status, _, _ := apiGet(t, h.base, subsPath+"/x", narrow); status != 200 {
				t.Errorf("a grant for the filtered collections, on one = %d, want 200", status)
			}
		})
	})

	t.Run("§8.1_Subscription_Events/end", func(t *testing.T) {
		bob.conn.Close()
		ended := map[string]bool{}
		var lastID string
		for range 2 {
			d, id := subEvent(t, w, bobID)
			if d.Active == nil || *d.Active {
				t.Errorf("end event active = %v, want false", d.Active)
			}
			ended[d.ID], lastID = true, id
		}
		if !ended[created[books].ID] || !ended[created[odd].ID] {
			t.Errorf("ended %v, want both of Bob's subscriptions", ended)
		}
		if status, _, _ := apiGet(t, h.base, created[books].ID, watcher); status != 404 {
			t.Errorf("an ended subscription = %d, want 404", status)
		}
		// §8.2: resuming from lastEventID misses nothing after it.
		_, _, body := apiGet(t, h.base, subsPath, watcher)
		var c collection
		_ = json.Unmarshal(body, &c)
		if st := h.door.SubscriptionStats(); st.Active != 2 || st.Events != 6 || st.Dropped != 0 {
			t.Errorf("stats %+v, want 2 active (the watcher's and the anonymous stream's), 6 events (4 created, 2 ended), none dropped", st)
		}
		if c.LastEventID != lastID || len(c.Subscriptions) != 2 {
			t.Errorf("after the end: lastEventID %q (want %q), %d subscriptions (want the watcher's and the anonymous stream's)", c.LastEventID, lastID, len(c.Subscriptions))
		}
	})

	t.Run("§8.2_Subscription_API/resume from lastEventID", func(t *testing.T) {
		// The listing taken while Bob was subscribed said secondID: a
		// stream from it gets what changed since, Bob's two ends, from
		// history, then what comes live.
		r := subscribe(t, h.url, events+"&lastEventID="+url.QueryEscape(secondID), "Authorization: Bearer "+watcher)
		if got := r.resp.Header.Get("Mercure-Last-Event-ID"); got != secondID {
			t.Errorf("Mercure-Last-Event-ID = %q, want %q", got, secondID)
		}
		for range 2 {
			if d, _ := subEvent(t, r, ""); d.Subscriber != bobID || d.Active == nil || *d.Active {
				t.Errorf("resumed from the listing's lastEventID: %+v, want one of Bob's ends", d)
			}
		}
		// The resumed stream shares the watcher's subscription (same
		// subject, same selector): no event for it; Carol's comes.
		subscribe(t, h.url, "topic=x", "Authorization: Bearer "+signed(t, jwt.MapClaims{"sub": "carol"}))
		if d, _ := subEvent(t, r, ""); d.Topic == nil || *d.Topic != "x" {
			t.Errorf("then %+v, want Carol's subscription", d)
		}
	})
}

// TestDraft08Subscriptions checks draft-08 §8.1 (Subscription Events) and
// §8.2 (Subscription API) with match_type paths and hub-made subscriber
// ids, on the embedded broker.
func TestDraft08Subscriptions(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	h := serveSubsDoor(t, b, 0)
	watcher := watcherToken(t)
	w := subscribe(t, h.url, "match=*", "Authorization: Bearer "+watcher)
	own, _ := subEvent(t, w, "")
	exact, pattern := "https://example.com/books/1", "https://example.com/books/:id"
	bob := subscribe(t, h.url, "match="+url.QueryEscape(exact)+"&match_urlpattern="+url.QueryEscape(pattern)+"&match="+url.QueryEscape(exact),
		"Authorization: Bearer "+bobToken(t))
	first, _ := subEvent(t, w, "")
	second, lastID := subEvent(t, w, first.Subscriber)
	bobID := first.Subscriber
	enc := strings.ReplaceAll(bobID, ":", "%3A")
	byType := map[string]subDoc{}
	for _, d := range []subDoc{first, second} {
		if d.MatchType != nil {
			byType[*d.MatchType] = d
		}
	}

	t.Run("§8.1_Subscription_Events", func(t *testing.T) {
		for _, c := range []struct{ name, matchType, match, id string }{
			{"exact", "exact", exact, subsPath + "/exact/https%3A%2F%2Fexample.com%2Fbooks%2F1/" + enc},
			{"urlpattern", "urlpattern", pattern, subsPath + "/urlpattern/https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid/" + enc},
		} {
			t.Run(c.name, func(t *testing.T) {
				d, ok := byType[c.matchType]
				if !ok {
					t.Fatalf("no event with match_type %s: %+v %+v", c.matchType, first, second)
				}
				if d.ID != c.id || d.Match == nil || *d.Match != c.match || d.Topic != nil {
					t.Errorf("event %+v, want id %s, match %s and no topic", d, c.id, c.match)
				}
				if d.Type != "Subscription" || d.Context != "https://mercure.rocks/" || d.Active == nil || !*d.Active {
					t.Errorf("event fields %+v", d)
				}
			})
		}
		t.Run("a repeated matcher is one subscription", func(t *testing.T) {
			w.nothing(t, "the watcher, after Bob's two subscriptions")
		})
		t.Run("hub-made subscriber id", func(t *testing.T) {
			if !strings.HasPrefix(bobID, "urn:ssehub:") || second.Subscriber != bobID {
				t.Errorf("subscribers %q %q", bobID, second.Subscriber)
			}
			if own.MatchType == nil || *own.MatchType != "exact" || own.Match == nil || *own.Match != "*" {
				t.Errorf("the watcher's own match=* subscription: %+v", own)
			}
		})
	})

	t.Run("§8.2_Subscription_API", func(t *testing.T) {
		t.Run("collection of a matcher", func(t *testing.T) {
			path := subsPath + "/urlpattern/https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid"
			status, header, body := apiGet(t, h.base, path, watcher)
			var c collection
			if err := json.Unmarshal(body, &c); status != 200 || err != nil || header.Get("Content-Type") != "application/ld+json" {
				t.Fatalf("GET %s = %d %s", path, status, body)
			}
			if c.ID != path || c.Type != "Subscriptions" || c.LastEvent08 != lastID || len(c.Subscriptions) != 1 || c.Subscriptions[0].ID != byType["urlpattern"].ID {
				t.Errorf("collection %s, want Bob's urlpattern subscription and last_event_id %s", body, lastID)
			}
		})
		t.Run("single subscription", func(t *testing.T) {
			status, _, body := apiGet(t, h.base, byType["exact"].ID, watcher)
			var d subDoc
			if err := json.Unmarshal(body, &d); status != 200 || err != nil {
				t.Fatalf("GET single = %d %s", status, body)
			}
			if d.ID != byType["exact"].ID || d.LastEvent08 != lastID || *d.MatchType != "exact" {
				t.Errorf("single %s", body)
			}
		})
		t.Run("404 for an unknown subscription", func(t *testing.T) {
			if status, _, _ := apiGet(t, h.base, subsPath+"/exact/nothing/urn%3Anobody", watcher); status != 404 {
				t.Errorf("unknown = %d, want 404", status)
			}
			if status, _, _ := apiGet(t, h.base, subsPath+"/regexp/a/b", watcher); status != 404 {
				t.Errorf("unknown matcher type = %d, want 404", status)
			}
		})
		t.Run("401 and 403", func(t *testing.T) {
			if status, _, _ := apiGet(t, h.base, byType["exact"].ID, "not a token"); status != 401 {
				t.Errorf("bad token = %d, want 401", status)
			}
			if status, _, _ := apiGet(t, h.base, byType["exact"].ID, bobToken(t)); status != 403 {
				t.Errorf("no grant = %d, want 403", status)
			}
		})
	})

	t.Run("§8.1_Subscription_Events/end", func(t *testing.T) {
		bob.conn.Close()
		for range 2 {
			if d, _ := subEvent(t, w, bobID); d.Active == nil || *d.Active || d.MatchType == nil {
				t.Errorf("end event %+v, want active false", d)
			}
		}
	})
}

// TestMercureSubscriptionsFleet: on a two-hub Redis fleet, a subscription
// on hub A is announced to a subscriber on hub B and listed by B's API; a
// hub that closes ends its subscriptions at once, with events; one cut off
// from Redis (as a killed one is) is reaped by B within the TTL, with
// events.
func TestMercureSubscriptionsFleet(t *testing.T) {
	srv := redistest.Start(t)
	newBroker := func() (broker.Broker, *redis.Client) {
		c := srv.Client(t)
		b, err := redisbroker.New(context.Background(), redisbroker.Config{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b, c
	}
	const ttl = time.Second
	ba, _ := newBroker()
	bb, _ := newBroker()
	a, hb := serveSubsDoor(t, ba, ttl), serveSubsDoor(t, bb, ttl)
	watcher := watcherToken(t)
	events := "topic=" + url.QueryEscape(subsPath+"/{topic}/{subscriber}")
	w := subscribe(t, hb.url, events, "Authorization: Bearer "+watcher)
	subEvent(t, w, "") // its own

	bob := subscribe(t, a.url, "topic=https://example.com/books/1", "Authorization: Bearer "+bobToken(t))
	created, _ := subEvent(t, w, "")
	if created.Topic == nil || *created.Topic != "https://example.com/books/1" || !*created.Active {
		t.Fatalf("hub B's subscriber got %+v, want Bob's subscription on hub A", created)
	}
	if status, _, body := apiGet(t, hb.base, created.ID, watcher); status != 200 {
		t.Errorf("hub B's API on hub A's subscription = %d %s", status, body)
	}
	_ = bob

	t.Run("a hub that closes ends its subscriptions at once", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.door.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if status, _, _ := apiGet(t, hb.base, created.ID, watcher); status != 404 {
			t.Errorf("after hub A closed, its subscription = %d, want 404", status)
		}
		if d, _ := subEvent(t, w, created.Subscriber); d.ID != created.ID || *d.Active {
			t.Errorf("after hub A closed: %+v, want the end of Bob's subscription", d)
		}
	})

	t.Run("a hub cut off from Redis is reaped within the TTL", func(t *testing.T) {
		bc, cutOff := newBroker()
		c := serveSubsDoor(t, bc, ttl)
		subscribe(t, c.url, "topic=https://example.com/books/2", "Authorization: Bearer "+bobToken(t))
		d, _ := subEvent(t, w, "")
		if d.Topic == nil || *d.Topic != "https://example.com/books/2" {
			t.Fatalf("got %+v, want Bob's subscription on hub C", d)
		}
		cutOff.Close()
		start := time.Now()
		ended, _ := subEvent(t, w, d.Subscriber)
		if ended.ID != d.ID || *ended.Active {
			t.Errorf("got %+v, want the end of Bob's subscription on hub C", ended)
		}
		if took := time.Since(start); took > ttl+time.Second {
			t.Errorf("ended after %v, want within the TTL %v and a second", took, ttl)
		}
		if status, _, _ := apiGet(t, hb.base, d.ID, watcher); status != 404 {
			t.Errorf("a reaped subscription = %d, want 404", status)
		}
	})
}

// TestMercureSubscriptionsRedisStalls: while Redis stalls, streams open
// and end as ever; the registry's writes and publishes fail and are
// retried at the next ticks, so once Redis answers the subscriber of the
// events gets what happened meanwhile.
func TestMercureSubscriptionsRedisStalls(t *testing.T) {
	b, srv, _ := apitest.StallableRedis(t, 200*time.Millisecond, 8)
	h := serveSubsDoor(t, b, 3*time.Second)
	watcher := watcherToken(t)
	w := subscribe(t, h.url, "topic="+url.QueryEscape(subsPath+"/{topic}/{subscriber}"), "Authorization: Bearer "+watcher)
	subEvent(t, w, "") // its own
	bob := subscribe(t, h.url, "topic=https://example.com/books/1", "Authorization: Bearer "+bobToken(t))
	created, _ := subEvent(t, w, "")

	resume := srv.Pause(t)
	start := time.Now()
	bob.conn.Close()
	// A stream on a topic the hub already follows opens without Redis.
	again := subscribe(t, h.url, "topic="+url.QueryEscape(subsPath+"/{topic}/{subscriber}"), "Authorization: Bearer "+watcher)
	if again.resp.StatusCode != 200 || time.Since(start) > 2*time.Second {
		t.Errorf("a stream opened while Redis stalls: %d after %v", again.resp.StatusCode, time.Since(start))
	}
	time.Sleep(1600 * time.Millisecond) // longer than an exchange's timeout (TTL/3): ticks fail
	resume()
	if h.door.SubscriptionStats().Errors == 0 {
		t.Error("no failed exchange counted while Redis stalled")
	}
	ended, _ := subEvent(t, w, created.Subscriber)
	if ended.ID != created.ID || *ended.Active {
		t.Errorf("after the stall: %+v, want the end of Bob's subscription", ended)
	}
}

// TestDraft08SubscriptionEventsByRelativePattern: a draft-08 subscriber
// follows the subscription events with a relative URL pattern (draft-08
// §4.2: resolved against the hub's URL, as the events' relative topics
// are; §8.1).
func TestDraft08SubscriptionEventsByRelativePattern(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	h := serveSubsDoor(t, b, 0)
	w := subscribe(t, h.url, "match_urlpattern="+url.QueryEscape(subsPath+"/urlpattern/:match/:subscriber"), "Authorization: Bearer "+watcherToken(t))
	if w.resp.StatusCode != http.StatusOK {
		t.Fatalf("the watcher's stream: %d", w.resp.StatusCode)
	}
	subscribe(t, h.url, "match="+url.QueryEscape("https://example.com/books/1"), "Authorization: Bearer "+bobToken(t))
	subscribe(t, h.url, "match_urlpattern="+url.QueryEscape("https://example.com/books/:id"), "Authorization: Bearer "+bobToken(t))
	own, _ := subEvent(t, w, "") // its pattern matches its own subscription's topic too
	if own.Match == nil || *own.Match != subsPath+"/urlpattern/:match/:subscriber" {
		t.Errorf("the watcher's first event %+v, want its own subscription's", own)
	}
	d, _ := subEvent(t, w, "")
	if d.MatchType == nil || *d.MatchType != "urlpattern" || d.Match == nil || *d.Match != "https://example.com/books/:id" {
		t.Errorf("the watcher got %+v, want only the urlpattern subscription's event", d)
	}
	w.nothing(t, "the watcher, after the urlpattern subscription (the exact one is not under its pattern)")
}

// TestSubscriptionsAPITokens: the subscriptions API takes the tokens the
// door takes, with their rules (draft-07 §8.2, draft-08 §8.2): a draft-08
// token whose subscribe details cover the path reads it; on a hub of
// draft-08 tokens only, a draft-07 token is refused.
func TestSubscriptionsAPITokens(t *testing.T) {
	b := membroker.New(membroker.Config{})
	t.Cleanup(func() { b.Close() })
	d := startDoor(t, b, doorOptions{door: mercure.Config{Anonymous: true, Resource: testResource, Protocol: mercure.Draft08,
		Subscriptions: broker.MercureSubscriptionStore(b)}})
	base := strings.TrimSuffix(d.url, d.path)
	for _, tt := range []struct {
		name   string
		token  string
		status int
	}{
		{"a draft-08 token granting the path", accessToken(t, []any{grant([]string{"subscribe"}, urlpattern("/.well-known/mercure/subscriptions{/*}?"))}), 200},
		{"a draft-08 token granting other paths", accessToken(t, []any{grant([]string{"subscribe"}, exact("/elsewhere"))}), 403},
		{"a draft-08 token for another hub", accessToken(t, []any{grant([]string{"subscribe"}, exact("*"))},
			func(c jwt.MapClaims, _ map[string]any) { c["aud"] = "https://other.example/.well-known/mercure" }), 401},
		{"a draft-07 token on a hub of draft-08 tokens", watcherToken(t), 401},
	} {
		if status, _, body := apiGet(t, base, subsPath, tt.token); status != tt.status {
			t.Errorf("%s: %d %.80s, want %d", tt.name, status, body, tt.status)
		}
	}
}
