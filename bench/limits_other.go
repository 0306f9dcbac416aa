//go:build !unix

package bench

import "math"

// RaiseFileLimit returns math.MaxUint64: systems without RLIMIT_NOFILE,
// such as Windows, set no such limit to raise.
func RaiseFileLimit() (uint64, error) { return math.MaxUint64, nil }
