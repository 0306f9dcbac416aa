package report

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// This file turns figures into the short text every output shares: three
// significant digits and a unit a reader does not have to convert.

// fmtDuration renders d with three significant digits in the largest unit
// that keeps it at least 1: "340µs", "1.2ms", "12.5s". Zero is "0".
func fmtDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d < 0 {
		return "-" + fmtDuration(-d)
	}
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	units := []struct {
		name string
		size time.Duration
	}{{"s", time.Second}, {"ms", time.Millisecond}, {"µs", time.Microsecond}}
	for i, u := range units {
		if d < u.size {
			continue
		}
		v := sig3(float64(d) / float64(u.size))
		// 999.7ms rounds to "1000": say "1s" instead.
		if v == "1000" && i > 0 {
			return "1" + units[i-1].name
		}
		return v + u.name
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// fmtBytes renders n in B, KiB, MiB or GiB with three significant digits:
// "512 B", "2.37 KiB", "31.5 MiB".
func fmtBytes(n int64) string {
	if n < 0 {
		return "-" + fmtBytes(-n)
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n)/1024, "KiB"
	for _, next := range []string{"MiB", "GiB", "TiB"} {
		// Move up while the figure would print as 1000 or more.
		if v < 999.5 {
			break
		}
		v, unit = v/1024, next
	}
	return sig3(v) + " " + unit
}

// fmtCount renders n with thousands separators: "100,000".
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtRate renders a per-second rate: whole numbers with separators, one
// decimal below 10 so that slow rates do not read as zero.
func fmtRate(v float64) string {
	if v < 10 && v > -10 {
		return trimZeros(strconv.FormatFloat(v, 'f', 1, 64))
	}
	return fmtCount(int64(math.Round(v)))
}

// fmtSI renders an axis value compactly: "800", "1.5k", "20k", "1.25M".
func fmtSI(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return sig3(v/1e9) + "G"
	case a >= 1e6:
		return sig3(v/1e6) + "M"
	case a >= 1e3:
		return sig3(v/1e3) + "k"
	}
	return sig3(v)
}

// sig3 formats v with three significant digits (fewer if they are trailing
// zeros): 1.2, 12.5, 340.
func sig3(v float64) string {
	a := math.Abs(v)
	prec := 2
	switch {
	case a >= 99.95:
		prec = 0
	case a >= 9.995:
		prec = 1
	}
	return trimZeros(strconv.FormatFloat(v, 'f', prec, 64))
}

// trimZeros drops trailing fractional zeros and a bare decimal point.
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// fmtElapsed renders a run offset as "42s", "3m05s" or "1h02m05s".
func fmtElapsed(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + "m" + pad2(s%60) + "s"
	}
	return strconv.FormatInt(s/3600, 10) + "h" + pad2(s/60%60) + "m" + pad2(s%60) + "s"
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}
