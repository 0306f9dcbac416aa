package report

import (
	"testing"
	"time"
)

func TestFmtDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{850 * time.Nanosecond, "850ns"},
		{1900 * time.Nanosecond, "1.9µs"},
		{340 * time.Microsecond, "340µs"},
		{999_999 * time.Nanosecond, "1ms"},
		{1200 * time.Microsecond, "1.2ms"},
		{12_345 * time.Microsecond, "12.3ms"},
		{999_700 * time.Microsecond, "1s"},
		{12_500 * time.Millisecond, "12.5s"},
		{125 * time.Second, "2m5s"},
		{-3 * time.Millisecond, "-3ms"},
	}
	for _, tc := range tests {
		if got := fmtDuration(tc.d); got != tc.want {
			t.Errorf("fmtDuration(%d) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestFmtBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{2428, "2.37 KiB"},
		{1023 << 10, "1 MiB"}, // 1023 KiB reads better as 1 MiB than 1020 KiB
		{31_500 << 10, "30.8 MiB"},
		{3 << 30, "3 GiB"},
	}
	for _, tc := range tests {
		if got := fmtBytes(tc.n); got != tc.want {
			t.Errorf("fmtBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestFmtCountRateSI(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{fmtCount(0), "0"},
		{fmtCount(999), "999"},
		{fmtCount(1000), "1,000"},
		{fmtCount(100_000), "100,000"},
		{fmtCount(-1_234_567), "-1,234,567"},
		{fmtRate(0), "0"},
		{fmtRate(2.46), "2.5"},
		{fmtRate(12_345.6), "12,346"},
		{fmtSI(800), "800"},
		{fmtSI(1500), "1.5k"},
		{fmtSI(20_000), "20k"},
		{fmtSI(1_250_000), "1.25M"},
		{fmtSI(0.25), "0.25"},
		{fmtSeconds(0.5), "0.5s"},
		{fmtSeconds(20), "20s"},
		{fmtSeconds(1500), "1,500s"},
		{fmtElapsed(42 * time.Second), "42s"},
		{fmtElapsed(185 * time.Second), "3m05s"},
		{fmtElapsed(3725 * time.Second), "1h02m05s"},
	}
	for i, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("case %d = %q, want %q", i, tc.got, tc.want)
		}
	}
}
