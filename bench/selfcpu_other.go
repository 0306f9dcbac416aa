//go:build !unix

package bench

import "time"

// selfCPU returns the CPU time this process has used. Systems without
// getrusage, such as Windows, fall back to GeneratorCPU, which fails
// there: RunUnits needs a redis-server, which they do not run.
func selfCPU() (time.Duration, error) { return GeneratorCPU() }
