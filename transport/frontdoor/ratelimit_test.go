package frontdoor

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	l := NewRateLimiter(10, func() time.Time { return clock }) // 10/s, bursts of 20
	if ok, _ := l.Take("a", 20); !ok {
		t.Fatal("a full burst was refused")
	}
	ok, retry := l.Take("a", 5)
	if ok || retry != 500*time.Millisecond {
		t.Errorf("take beyond the burst = %v, retry %v; want refused, retry 500ms", ok, retry)
	}
	if ok, _ := l.Take("b", 1); !ok {
		t.Errorf("another credential was limited by a's use")
	}
	clock = clock.Add(500 * time.Millisecond) // refills 5
	if ok, _ := l.Take("a", 5); !ok {
		t.Errorf("refilled events were refused")
	}
	if ok, _ := l.Take("a", 1); ok {
		t.Errorf("an event beyond the refill was allowed")
	}
	if ok, _ := NewRateLimiter(0, time.Now).Take("a", 1e6); !ok {
		t.Errorf("rate 0 must mean unlimited")
	}
}

func TestRateLimiterForgetsRefilledBuckets(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	l := NewRateLimiter(1, func() time.Time { return clock })
	for i := range maxIdleBuckets {
		l.Take(string(rune('a'+i%26))+string(rune(i)), 1)
	}
	clock = clock.Add(time.Hour)
	l.Take("new", 1)
	if n := len(l.buckets); n != 1 {
		t.Errorf("buckets after every other refilled = %d, want 1", n)
	}
}
