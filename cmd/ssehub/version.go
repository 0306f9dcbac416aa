package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionLine is what `ssehub version` prints: the module's version and
// the commit it was built from, as the Go toolchain recorded them, and
// the Go version.
func versionLine() string {
	version, commit := "(devel)", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		version = info.Main.Version
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	return fmt.Sprintf("ssehub %s (commit %s, %s)", version, commit, runtime.Version())
}
