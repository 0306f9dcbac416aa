// Package version says which build of ssehub is running: the version and
// commit that `make release` and the Dockerfile stamp into the binary, or,
// in a binary built without them (go install, go build, go run), what the
// Go toolchain recorded in it (the module version, the VCS revision).
//
// Stamping is done by the linker:
//
//	go build -ldflags "-X github.com/ssehub/ssehub/internal/version.Version=v1.2.0 \
//	  -X github.com/ssehub/ssehub/internal/version.Commit=$(git rev-parse HEAD)" ./cmd/ssehub
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is the release version, as `git describe --tags --always --dirty`
// prints it ("v1.2.0", "v1.2.0-3-g0123abc-dirty"). Set at build time with
// -ldflags -X; empty when it was not, and Get then falls back to the
// module version the toolchain recorded.
var Version string

// Commit is the full VCS revision the binary was built from. Set at build
// time with -ldflags -X, since builds without the repository's .git (a
// container build) record none; empty when it was not, and Get then falls
// back to the revision the toolchain recorded.
var Commit string

// Devel is Info.Version for a build whose version is not known: neither
// stamped nor recorded (go run, go build -buildvcs=false, go test).
const Devel = "devel"

// Info describes a build of ssehub.
type Info struct {
	// Version is Version when stamped, else the main module's version from
	// the build info ("v1.2.0" after go install ...@v1.2.0, a
	// pseudo-version for a build in a repository), else Devel.
	Version string
	// Commit is Commit when stamped, else the build info's vcs.revision;
	// empty when neither is known.
	Commit string
	// Modified reports that the build info's vcs.modified is true: the
	// binary was built from a working tree with uncommitted changes. (A
	// stamped Version says so itself, with its -dirty suffix.)
	Modified bool
	// GoVersion is the Go toolchain that built the binary ("go1.26.0").
	GoVersion string
	// Platform is the binary's GOOS/GOARCH ("linux/amd64").
	Platform string
}

// Get returns this binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(Version, Commit, bi)
}

// get returns the Info of a binary stamped with version and commit (empty
// if not) whose build info is bi (nil if it has none).
func get(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:   version,
		Commit:    commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		// "(devel)" is what the toolchain records when it knows no version.
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = Devel
	}
	return info
}

// String returns the Info on one line, as `ssehub version` prints it after
// the program's name: the version, then in parentheses the commit (its
// first 12 hex digits), "modified" if it applies, the Go version and the
// platform:
//
//	v1.2.0 (commit 0123456789ab, go1.26.0, linux/amd64)
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	b.WriteString(" (")
	if i.Commit != "" {
		b.WriteString("commit ")
		b.WriteString(shortCommit(i.Commit))
		b.WriteString(", ")
	}
	if i.Modified {
		b.WriteString("modified, ")
	}
	b.WriteString(i.GoVersion)
	b.WriteString(", ")
	b.WriteString(i.Platform)
	b.WriteString(")")
	return b.String()
}

// String returns Get().String(): this binary's version on one line.
func String() string {
	return Get().String()
}

// shortCommit cuts a revision to 12 hex digits, as Go's pseudo-versions do:
// enough to name a commit, short enough to read.
func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
