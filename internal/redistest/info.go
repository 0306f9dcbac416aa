package redistest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	infoTimeout   = 5 * time.Second // one INFO request of CommandStats or CPU
	maxCPUSeconds = 1e9             // 31 years: more is garbage, and would overflow a Duration sum
)

// CommandStat is one command's totals from INFO commandstats, since the
// server started or since CONFIG RESETSTAT.
type CommandStat struct {
	Calls int64         // calls: how many times it ran
	Time  time.Duration // usec: the time spent running it, in total
}

// CommandStats returns s's INFO commandstats, keyed by command name as
// Redis reports it: lower case, with a subcommand after "|", as in "get"
// and "client|setname". A command that never ran is absent.
func CommandStats(t testing.TB, s *Server) map[string]CommandStat {
	t.Helper()
	stats, err := parseCommandStats(info(t, s, "commandstats"))
	if err != nil {
		t.Fatalf("redistest: %s: %v", s.Addr(), err)
	}
	return stats
}

// CPU returns the CPU time s's process has used: used_cpu_user +
// used_cpu_sys of INFO cpu, its background threads included, to the
// microsecond.
func CPU(t testing.TB, s *Server) time.Duration {
	t.Helper()
	cpu, err := parseCPU(info(t, s, "cpu"))
	if err != nil {
		t.Fatalf("redistest: %s: %v", s.Addr(), err)
	}
	return cpu
}

// info returns the text of s's INFO section.
func info(t testing.TB, s *Server, section string) string {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), infoTimeout)
	defer cancel()
	text, err := rc.Info(ctx, section).Result()
	if err != nil {
		t.Fatalf("redistest: %s INFO %s: %v", s.Addr(), section, err)
	}
	return text
}

// infoFields returns the "key:value" lines of INFO's text, which come in
// blocks headed "# Section", CRLF-terminated.
func infoFields(info string) map[string]string {
	fields := map[string]string{}
	for line := range strings.Lines(info) {
		if key, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":"); ok && !strings.HasPrefix(key, "#") {
			fields[key] = value
		}
	}
	return fields
}

// parseCommandStats reads INFO commandstats, whose lines read
// "cmdstat_get:calls=2,usec=15,usec_per_call=7.50,rejected_calls=0,failed_calls=0".
func parseCommandStats(info string) (map[string]CommandStat, error) {
	stats := map[string]CommandStat{}
	for key, value := range infoFields(info) {
		name, ok := strings.CutPrefix(key, "cmdstat_")
		if !ok {
			continue
		}
		var st CommandStat
		var seenCalls, seenUsec bool
		for field := range strings.SplitSeq(value, ",") {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "calls", "usec":
				n, err := strconv.ParseInt(v, 10, 64)
				if err == nil && n < 0 {
					err = errors.New("negative")
				}
				if err != nil {
					return nil, fmt.Errorf("INFO commandstats %s %s=%q: %w", key, k, v, err)
				}
				if k == "calls" {
					st.Calls, seenCalls = n, true
				} else {
					st.Time, seenUsec = time.Duration(n)*time.Microsecond, true
				}
			}
		}
		if !seenCalls || !seenUsec {
			return nil, fmt.Errorf("INFO commandstats %s=%q: want calls and usec", key, value)
		}
		stats[name] = st
	}
	return stats, nil
}

// parseCPU reads used_cpu_user + used_cpu_sys from INFO cpu; each is
// seconds with six decimals, such as "12.345678".
func parseCPU(info string) (time.Duration, error) {
	fields := infoFields(info)
	var cpu time.Duration
	for _, key := range []string{"used_cpu_user", "used_cpu_sys"} {
		value, ok := fields[key]
		if !ok {
			return 0, fmt.Errorf("INFO cpu has no %s", key)
		}
		secs, err := strconv.ParseFloat(value, 64)
		if err == nil && !(secs >= 0 && secs <= maxCPUSeconds) { // NaN fails both
			err = errors.New("out of range")
		}
		if err != nil {
			return 0, fmt.Errorf("INFO cpu %s=%q: %w", key, value, err)
		}
		cpu += time.Duration(math.Round(secs*1e6)) * time.Microsecond
	}
	return cpu, nil
}
