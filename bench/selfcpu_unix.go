//go:build unix

package bench

import (
	"fmt"
	"syscall"
	"time"
)

// selfCPU returns the CPU time (user + system, all threads) this process
// has used, from getrusage: to the microsecond, where /proc/self/stat
// (GeneratorCPU) counts 10 ms ticks, too coarse for RunUnits's short
// measurements.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage self: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
