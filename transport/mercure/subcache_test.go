package mercure

import (
	"fmt"
	"sync"
	"testing"
)

// TestSubscriptionCache: the streams of one query share its parse, while
// a resume point or a token in the request keeps it out of the cache,
// and a refused query is refused every time.
func TestSubscriptionCache(t *testing.T) {
	var c subscriptionCache
	parse := func(query, lastEventID string, cacheable bool) Subscription {
		t.Helper()
		sub, shared, err := c.parse([]byte(query), []byte(lastEventID), SubscribeOptions{}, cacheable)
		if err != nil {
			t.Fatalf("parse(%q, %q): %v", query, lastEventID, err)
		}
		if shared != nil && (shared.Selectors != sub.Selectors || shared.Grants != nil || shared.Head != (resumeHead{})) {
			t.Errorf("parse(%q, %q): the shared anonymous stream is %+v", query, lastEventID, shared)
		}
		return sub
	}
	const q = "topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D"
	first := parse(q, "", true)
	if again := parse(q, "", true); again.Selectors != first.Selectors {
		t.Errorf("a query parsed again, want its cached parse")
	}
	if resumed := parse(q, "urn:1", true); resumed.Selectors == first.Selectors || resumed.LastEventID != "urn:1" {
		t.Errorf("a resume got the cached parse or lost its id: %+v", resumed)
	}
	if fresh := parse(q, "", true); fresh.Selectors != first.Selectors || fresh.LastEventID != "" {
		t.Errorf("after a resume, the query's parse is %+v, want the cached one without an id", fresh)
	}
	for _, tt := range []struct {
		name, query string
		cacheable   bool
	}{
		{"a resume point in the query", q + "&lastEventID=urn:1", true},
		{"a token", q + "&authorization=x", false},
	} {
		a, b := parse(tt.query, "", tt.cacheable), parse(tt.query, "", tt.cacheable)
		if a.Selectors == b.Selectors {
			t.Errorf("%s: the parse was cached", tt.name)
		}
	}
	for range 2 {
		if _, _, err := c.parse([]byte("topic=a&match=b"), nil, SubscribeOptions{}, true); err == nil {
			t.Fatalf("a refused query was answered")
		}
	}
	for i := range maxCachedSubscriptions + 1 {
		parse(fmt.Sprintf("topic=urn:%d", i), "", true)
	}
	if n := len(c.subs); n > maxCachedSubscriptions {
		t.Errorf("the cache holds %d queries, want at most %d", n, maxCachedSubscriptions)
	}
}

// TestSubscriptionCacheConcurrent is for the race detector.
func TestSubscriptionCacheConcurrent(t *testing.T) {
	var c subscriptionCache
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				q := fmt.Sprintf("topic=urn:%d", (g*7+i)%50)
				if sub, _, err := c.parse([]byte(q), nil, SubscribeOptions{}, true); err != nil || len(sub.Selectors.Exact()) != 1 {
					t.Errorf("parse(%q) = %+v, %v", q, sub, err)
				}
			}
		})
	}
	wg.Wait()
}
