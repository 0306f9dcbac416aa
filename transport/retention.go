package transport

import "time"

// The history a broker keeps when its configuration leaves it zero.
const (
	DefaultHistorySize = 1000
	DefaultHistoryTTL  = time.Hour
)

// Retention returns the history a broker keeps for the configured size
// and TTL: a zero size means DefaultHistorySize and a negative one none; a
// TTL of zero or less means DefaultHistoryTTL.
func Retention(size int, ttl time.Duration) (int, time.Duration) {
	if size == 0 {
		size = DefaultHistorySize
	}
	if ttl <= 0 {
		ttl = DefaultHistoryTTL
	}
	return max(size, 0), ttl
}
