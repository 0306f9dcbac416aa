package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// errNoVmRSS is returned for a status file without a VmRSS line, which is
// what /proc shows for a zombie (exited, not yet reaped) process.
var errNoVmRSS = errors.New("bench: no VmRSS in /proc status")

// processRSS returns the resident set size of process pid in bytes, from
// /proc/PID/status; pid 0 means this process.
func processRSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read rss pid=%d: %w", pid, err)
	}
	rss, err := parseVmRSS(b)
	if err != nil {
		return 0, fmt.Errorf("read rss pid=%d: %w", pid, err)
	}
	return rss, nil
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
