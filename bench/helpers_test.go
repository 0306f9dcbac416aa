package bench

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// parseCase is one input of a table test for a /proc parser.
type parseCase[T comparable] struct {
	name    string
	in      string
	want    T
	wantErr bool
}

// testParse runs parse, named name in failure messages, on each case.
func testParse[T comparable](t *testing.T, name string, parse func([]byte) (T, error), tests []parseCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("%s(%q) = %v, %v; want %v, error %t", name, tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// startE2E begins an end-to-end test that runs real processes: it skips t
// where they cannot run (not Linux, or -short, saying why with skip) and
// returns a context that bounds the test.
//
// It registers the goroutine-leak check before anything else, so that,
// cleanups running last-registered first, the check comes after every hub
// and Redis the test started (startHubs, startRedis) has been stopped.
func startE2E(t *testing.T, skip string) context.Context {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc and Linux sockets")
	}
	if testing.Short() {
		t.Skip(skip)
	}
	t.Cleanup(func() { goleak.VerifyNone(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startHubs builds the hub from this tree and starts count of them with
// args, their logs going to log (nil discards them). They are stopped when
// t ends, and a hub that does not stop cleanly fails t.
func startHubs(ctx context.Context, t *testing.T, count int, log io.Writer, args ...string) []*HubProcess {
	t.Helper()
	bin, err := BuildHub(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var hubs []*HubProcess
	for range count {
		hub, err := StartHub(ctx, HubOptions{Binary: bin, Args: args, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, hub)
		t.Cleanup(func() {
			// Not ctx, which may have run out when the test failed on a
			// timeout. Stop is idempotent: a test may stop a hub itself.
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := hub.Stop(sctx); err != nil {
				t.Errorf("hub.Stop: %v", err)
			}
		})
	}
	return hubs
}

// startRedis starts a private redis-server for t, or ends the test when
// there is none: fatally under CI, as a skip elsewhere (STYLE.md rule 15).
// It is stopped when t ends; start it before the hubs that use it, so that
// it outlives them.
func startRedis(ctx context.Context, t *testing.T) *RedisProcess {
	t.Helper()
	r, err := StartRedis(ctx)
	if errors.Is(err, ErrNoRedis) {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// syncWriter serializes writes to w and reads of it, for the hub log that
// exec's copying goroutine writes.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}
