package version

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const rev = "0123456789abcdef0123456789abcdef01234567"

func TestGet(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	vcs := func(revision, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: revision},
			{Key: "vcs.modified", Value: modified},
		}
	}
	tests := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		{
			name:    "stamped wins over build info",
			version: "v1.2.0-3-gfedcba9-dirty", commit: "fedcba9876543210fedcba9876543210fedcba98",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.1.0"}, Settings: vcs(rev, "false")},
			want: Info{Version: "v1.2.0-3-gfedcba9-dirty", Commit: "fedcba9876543210fedcba9876543210fedcba98", GoVersion: "go1.26.0", Platform: platform},
		},
		{
			name:    "stamped, no build info (container build without .git)",
			version: "v1.2.0", commit: rev,
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: "v1.2.0", Commit: rev, GoVersion: "go1.26.0", Platform: platform},
		},
		{
			name: "go install module@v1.2.0",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.2.0"}},
			want: Info{Version: "v1.2.0", GoVersion: "go1.26.1", Platform: platform},
		},
		{
			name: "go build in a modified working tree",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.1-0.20261202174300-0123456789ab+dirty"}, Settings: vcs(rev, "true")},
			want: Info{Version: "v1.2.1-0.20261202174300-0123456789ab+dirty", Commit: rev, Modified: true, GoVersion: "go1.26.0", Platform: platform},
		},
		{
			name: "go run: nothing known",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: Devel, GoVersion: "go1.26.0", Platform: platform},
		},
		{
			name: "no build info",
			want: Info{Version: Devel, GoVersion: runtime.Version(), Platform: platform},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(tt.version, tt.commit, tt.bi)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("get(%q, %q, ...) mismatch (-want +got):\n%s", tt.version, tt.commit, diff)
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{Version: "v1.2.0", Commit: rev, GoVersion: "go1.26.0", Platform: "linux/amd64"},
			"v1.2.0 (commit 0123456789ab, go1.26.0, linux/amd64)"},
		{Info{Version: "v1.2.0-3-g0123abc", Commit: "0123abc", Modified: true, GoVersion: "go1.26.0", Platform: "darwin/arm64"},
			"v1.2.0-3-g0123abc (commit 0123abc, modified, go1.26.0, darwin/arm64)"},
		{Info{Version: Devel, GoVersion: "go1.26.0", Platform: "windows/amd64"},
			"devel (go1.26.0, windows/amd64)"},
	}
	for _, tt := range tests {
		if got := tt.info.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.info, got, tt.want)
		}
	}
}

// TestStampedBinary builds a program that prints String() with the -X
// flags `make release` passes and runs it: the variables must stay
// stampable (a const, or a renamed package, would make -X a silent no-op).
func TestStampedBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "printversion")
	const pkg = "github.com/ssehub/ssehub/internal/version"
	build := exec.Command(gotool, "build", "-trimpath", "-o", bin,
		"-ldflags", "-s -w -X "+pkg+".Version=v9.9.9-stamptest -X "+pkg+".Commit="+rev,
		"./testdata/printversion")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", build, err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	got := strings.TrimSpace(string(out))
	want := "v9.9.9-stamptest (commit 0123456789ab, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	// runtime.Version() of the test and of the built program agree: both
	// come from the same toolchain.
	if got != want {
		t.Errorf("stamped printversion printed %q, want %q", got, want)
	}
}
