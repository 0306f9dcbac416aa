package hub

import (
	"testing"
	"time"
)

func TestDueBy(t *testing.T) {
	const w = time.Second
	tests := []struct {
		elapsed, window time.Duration
		total, want     int
	}{
		{0, w, 4, 0},
		{w/8 - 1, w, 4, 0}, // stream 1 of 4 is due at 1/8
		{w / 8, w, 4, 1},
		{3 * w / 8, w, 4, 2},
		{7*w/8 - 1, w, 4, 3},
		{7 * w / 8, w, 4, 4},
		{w / 2, w, 1, 1}, // a lone stream goes halfway
		{w/2 - 1, w, 1, 0},
		{w, w, 4, 4},
		{2 * w, w, 4, 4},
		{0, 0, 3, 3}, // no window: all at once
		{0, w, 0, 0},
		{w / 2, w, 100000, 50000},
		{time.Hour - 1, time.Hour, 1 << 20, 1 << 20},
	}
	for _, tt := range tests {
		if got := dueBy(tt.elapsed, tt.window, tt.total); got != tt.want {
			t.Errorf("dueBy(%v, %v, %d) = %d, want %d", tt.elapsed, tt.window, tt.total, got, tt.want)
		}
	}
}
