package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/internal/redistest"
)

// mercureNodeDir holds the Node.js publisher and subscriber, written as
// Mercure's docs show them, and their pinned packages (make deps installs
// them with npm ci).
const mercureNodeDir = "testdata/mercure-node"

// TestMercureNode runs a Mercure subscriber (the npm eventsource package)
// and publisher (a form POST with a JWT, on fetch), unchanged from how
// Mercure's docs write them, against a two-hub fleet on Redis: the
// subscriber on the first hub gets every update the publisher sends
// through the second, once, in order, with the publisher's ids.
func TestMercureNode(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v (install Node.js; make deps installs the test's packages)", err)
	}
	// The import resolves from the test directory's node_modules.
	check := exec.Command(node, "--input-type=module", "-e", "await import('eventsource')")
	check.Dir = mercureNodeDir
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("the eventsource package is not installed in %s (run make deps): %v\n%s", mercureNodeDir, err, out)
	}
	client := newHTTPClient(t)
	srv := redistest.Start(t)
	hubs := startFleet(t, client, 2, "--redis-url", srv.URL(), "--mercure", "--mercure-anonymous",
		"--mercure-publisher-jwt-secret", mercureSecret)
	const updates = 20
	topic := "https://example.com/books/1"

	sub := exec.Command(node, "subscriber.mjs", "http://"+hubs[0].addr+"/.well-known/mercure", "https://example.com/books/{id}", strconv.Itoa(updates))
	sub.Dir = mercureNodeDir
	out, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sub.Stderr = &stderr
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Process.Kill(); _ = sub.Wait() })
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "open" {
		t.Fatalf("the subscriber did not open its stream: %q; stderr: %s", lines.Text(), stderr.String())
	}

	pub := exec.Command(node, "publisher.mjs", "http://"+hubs[1].addr+"/.well-known/mercure",
		mercureToken(t, map[string]any{"publish": []string{topic}}), topic, strconv.Itoa(updates))
	pub.Dir = mercureNodeDir
	answered, err := pub.CombinedOutput()
	if err != nil {
		t.Fatalf("the publisher: %v\n%s", err, answered)
	}
	var want []string
	for i := 1; i <= updates; i++ {
		want = append(want, "urn:node:"+strconv.Itoa(i))
	}
	if got := strings.Fields(string(answered)); !slices.Equal(got, want) {
		t.Errorf("the hub answered ids %q, want %q", got, want)
	}

	var got []string
	for len(got) < updates && lines.Scan() {
		var ev struct{ ID, Data string }
		if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
			t.Fatalf("subscriber line %q: %v", lines.Text(), err)
		}
		if wantData := `{"n":` + strconv.Itoa(len(got)+1) + `}`; ev.Data != wantData {
			t.Errorf("update %d has data %q, want %q", len(got)+1, ev.Data, wantData)
		}
		got = append(got, ev.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the subscriber got ids %q, want %q; stderr: %s", got, want, stderr.String())
	}
	if err := sub.Wait(); err != nil {
		t.Errorf("the subscriber exited with %v; stderr: %s", err, stderr.String())
	}
}
