package bench

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// redisCounters are the cumulative figures of Redis's INFO that RunUnits
// reads; a measurement is the difference of two readings.
type redisCounters struct {
	// CPU is used_cpu_user + used_cpu_sys: the whole redis-server
	// process's, its background threads included. Redis reads it with
	// getrusage, to the microsecond, where /proc/PID/stat counts 10 ms
	// ticks.
	CPU time.Duration
	// NetOutput is total_net_output_bytes: every byte Redis has written
	// to its clients.
	NetOutput int64
}

// redisInfoFields are the INFO fields redisCounters is read from.
var redisInfoFields = []string{"used_cpu_user", "used_cpu_sys", "total_net_output_bytes"}

// parseRedisInfo reads redisCounters from the text of INFO cpu stats:
// "key:value" lines, CRLF-terminated, in blocks headed "# Section". Every
// field must be there, since a reading without one would measure nothing.
func parseRedisInfo(info string) (redisCounters, error) {
	var c redisCounters
	seen := make(map[string]bool, len(redisInfoFields))
	for line := range strings.Lines(info) {
		key, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok {
			continue // a section header or a blank line
		}
		var err error
		switch key {
		case "used_cpu_user", "used_cpu_sys":
			var d time.Duration
			d, err = parseInfoSeconds(value)
			c.CPU += d
		case "total_net_output_bytes":
			c.NetOutput, err = strconv.ParseInt(value, 10, 64)
			if err == nil && c.NetOutput < 0 {
				err = errors.New("negative")
			}
		default:
			continue
		}
		if err != nil {
			return redisCounters{}, fmt.Errorf("bench: redis INFO %s=%q: %w", key, value, err)
		}
		seen[key] = true
	}
	for _, name := range redisInfoFields {
		if !seen[name] {
			return redisCounters{}, fmt.Errorf("bench: redis INFO has no %s", name)
		}
	}
	return c, nil
}

// parseInfoSeconds parses a CPU time as INFO prints it: seconds with
// six decimals, such as "12.345678".
func parseInfoSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		return 0, err
	case f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > float64(math.MaxInt64/int64(time.Second)):
		return 0, errors.New("out of range")
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

// redisVersion returns redis_version from the text of INFO server, or ""
// if it is not there.
func redisVersion(info string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "redis_version:"); ok {
			return v
		}
	}
	return ""
}
