package main

import "github.com/ssehub/ssehub/internal/version"

// versionLine is what `ssehub version` and --version print: the version,
// the commit it was built from and the Go version (internal/version).
func versionLine() string { return "ssehub " + version.String() }
