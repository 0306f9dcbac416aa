package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// errNoVmRSS is returned for a status file without a VmRSS line, which is
// what /proc shows for a zombie (exited, not yet reaped) process.
var errNoVmRSS = errors.New("bench: no VmRSS in /proc status")

// processRSS returns the resident set size of process pid in bytes, from
// /proc/PID/status; pid 0 means this process.
func processRSS(pid int) (int64, error) {
	return readProc(pid, "status", "rss", parseVmRSS)
}

// readProc reads /proc/PID/file, or /proc/self/file for pid 0, and returns
// what parse makes of it. what names the figure in errors.
func readProc[T any](pid int, file, what string, parse func([]byte) (T, error)) (T, error) {
	path := "/proc/self/" + file
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/" + file
	}
	var v T
	b, err := os.ReadFile(path)
	if err == nil {
		v, err = parse(b)
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("read %s pid=%d: %w", what, pid, err)
	}
	return v, nil
}

// GeneratorRSS returns this (the load generator's) process's resident set
// size in bytes.
func GeneratorRSS() (int64, error) { return processRSS(0) }

// parseVmRSS extracts VmRSS in bytes from the contents of a /proc/PID/status
// file, where it reads "VmRSS:\t   12345 kB" (proc(5); the kernel always
// prints kB, meaning KiB).
func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("bench: malformed VmRSS line %q", sc.Text())
		}
		kib, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kib < 0 {
			return 0, fmt.Errorf("bench: malformed VmRSS line %q", sc.Text())
		}
		return kib << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errNoVmRSS
}

// countSockets returns how many of process pid's descriptors are sockets.
func countSockets(pid int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("count sockets pid=%d: %w", pid, err)
	}
	n := 0
	for _, e := range entries {
		// Descriptors may close between ReadDir and Readlink: skip them.
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n, nil
}

// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ,
// sysconf(_SC_CLK_TCK)): 100 per second on every Linux architecture Go
// supports, fixed in the kernel's user ABI.
const clockTicks = 100

// processCPU returns the CPU time (user + system, all threads) process pid
// has used, from /proc/PID/stat; pid 0 means this process.
func processCPU(pid int) (time.Duration, error) {
	return readProc(pid, "stat", "cpu", parseStatCPU)
}

// GeneratorCPU returns the CPU time this (the load generator's) process has
// used.
func GeneratorCPU() (time.Duration, error) { return processCPU(0) }

// parseStatCPU returns utime + stime from the contents of a /proc/PID/stat
// file (proc(5): fields 14 and 15, in clock ticks). The command name, field
// 2, is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed /proc stat %.40q", stat)
	}
	fields := strings.Fields(string(stat[i+1:])) // from field 3, state
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("bench: /proc stat has %d fields, want at least 15", len(fields)+2)
	}
	var ticks uint64
	for _, f := range []string{fields[utime], fields[stime]} {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: malformed /proc stat cpu field %q", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / clockTicks), nil
}
