package httpapi

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	l := newRateLimiter(10, func() time.Time { return clock }) // 10/s, bursts of 20
	if ok, _ := l.take("a", 20); !ok {
		t.Fatal("a full burst was refused")
	}
	ok, retry := l.take("a", 5)
	if ok || retry != 500*time.Millisecond {
		t.Errorf("take beyond the burst = %v, retry %v; want refused, retry 500ms", ok, retry)
	}
	if ok, _ := l.take("b", 1); !ok {
		t.Errorf("another credential was limited by a's use")
	}
	clock = clock.Add(500 * time.Millisecond) // refills 5
	if ok, _ := l.take("a", 5); !ok {
		t.Errorf("refilled events were refused")
	}
	if ok, _ := l.take("a", 1); ok {
		t.Errorf("an event beyond the refill was allowed")
	}
	if ok, _ := newRateLimiter(0, time.Now).take("a", 1e6); !ok {
		t.Errorf("rate 0 must mean unlimited")
	}
}

func TestRateLimiterForgetsRefilledBuckets(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	l := newRateLimiter(1, func() time.Time { return clock })
	for i := range maxIdleBuckets {
		l.take(string(rune('a'+i%26))+string(rune(i)), 1)
	}
	clock = clock.Add(time.Hour)
	l.take("new", 1)
	if n := len(l.buckets); n != 1 {
		t.Errorf("buckets after every other refilled = %d, want 1", n)
	}
}
