package frontdoor

import (
	"math"
	"sync"
	"time"
)

// RateLimiter is a token bucket per credential: each may publish rate
// events per second on average, in bursts of up to burst events. Safe for
// concurrent use; its buckets are guarded by mu.
type RateLimiter struct {
	rate, burst float64 // rate zero means unlimited
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxIdleBuckets bounds memory: past it, buckets that have refilled are
// dropped (a full bucket is the same as no bucket).
const maxIdleBuckets = 10000

// NewRateLimiter returns a limiter of perSecond events per second per
// credential, in bursts of twice that; zero means unlimited. now is the
// clock (time.Now but in tests).
func NewRateLimiter(perSecond int, now func() time.Time) *RateLimiter {
	return &RateLimiter{rate: float64(perSecond), burst: 2 * float64(perSecond), now: now, buckets: make(map[string]*bucket)}
}

// Rate returns the events per second each credential may publish on
// average, or 0 when the rate is unlimited.
func (l *RateLimiter) Rate() int { return int(l.rate) }

// Burst returns the most events one Take can ever spend, or 0 when the
// rate is unlimited.
func (l *RateLimiter) Burst() int { return int(l.burst) }

// Take spends n events for key. When the bucket lacks them it spends
// nothing and says how long until it would have them. n must be at most
// Burst: a bucket never holds more, so a larger n is refused forever.
func (l *RateLimiter) Take(key string, n int) (ok bool, retryAfter time.Duration) {
	if l.rate == 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxIdleBuckets {
			l.dropFull(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < float64(n) {
		missing := float64(n) - b.tokens
		return false, time.Duration(math.Ceil(missing/l.rate*1000)) * time.Millisecond
	}
	b.tokens -= float64(n)
	return true, 0
}

// dropFull forgets the buckets that have refilled by now.
func (l *RateLimiter) dropFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
