package shard_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
)

// readLines reads r until it ends or a line has the prefix until, and
// returns the lines and whether the stream ended.
func readLines(t *testing.T, conn net.Conn, r *bufio.Reader, until string) (lines []string, ended bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF && line == "" {
			return lines, true
		}
		if err != nil {
			t.Fatalf("reading stream: %v (lines so far %q)", err, lines)
		}
		lines = append(lines, line)
		if until != "" && strings.HasPrefix(line, until) {
			return lines, false
		}
	}
}

// TestRetireEndsStreamsAfterWhatIsQueued: Retire(n) ends n streams, each
// after the events queued for it and its own goodbye frame, and leaves the
// others streaming.
func TestRetireEndsStreamsAfterWhatIsQueued(t *testing.T) {
	s, b := runShard(t, shard.Config{})
	type conn struct {
		net.Conn
		r *bufio.Reader
	}
	var conns []conn
	for range 3 {
		c, r := serve(t, s, broker.Selection{Topics: []string{"a"}})
		conns = append(conns, conn{c, r})
	}
	publish := func(data string) {
		t.Helper()
		if _, err := b.Publish(context.Background(), []broker.Publication{{Topics: []string{"a"}, Data: []byte(data)}}, broker.Idempotency{}); err != nil {
			t.Fatal(err)
		}
	}
	goodbyes := 0
	goodbye := func() []byte {
		goodbyes++ // on the shard loop only
		return fmt.Appendf(nil, "retry: %d\n\n", goodbyes)
	}

	publish("e1")
	s.Retire(2, goodbye)
	testenv.WaitFor(t, "two streams drained", func() bool { return s.Stats().Ended[shard.ReasonDrained] == 2 })
	publish("e2")
	var retired, open []conn
	seen := map[string]bool{}
	for _, c := range conns {
		lines, ended := readLines(t, c, c.r, "data: e2")
		got := strings.Join(lines, "")
		if !ended {
			open = append(open, c)
			if !strings.Contains(got, "data: e1\n") || strings.Contains(got, "retry:") {
				t.Errorf("stream left open received %q, want e1 then e2 and no retry", got)
			}
			continue
		}
		retired = append(retired, c)
		// The goodbye comes after e1 and ends the stream.
		i := strings.Index(got, "data: e1\n\n")
		if i < 0 || !strings.HasPrefix(got[i+len("data: e1\n\n"):], "retry: ") || !strings.HasSuffix(got, "\n\n") {
			t.Errorf("retired stream received %q, want e1, then its retry frame, then the end", got)
		}
		seen[got[strings.Index(got, "retry: "):]] = true
	}
	if len(retired) != 2 || len(open) != 1 {
		t.Fatalf("after Retire(2) of 3: %d streams ended, %d open; want 2 and 1", len(retired), len(open))
	}
	if len(seen) != 2 {
		t.Errorf("retired streams' goodbyes = %v, want one each, each its own", seen)
	}

	// Retiring more than are left ends the rest; the retired are not
	// counted twice.
	s.Retire(10, goodbye)
	if lines, ended := readLines(t, open[0], open[0].r, ""); !ended || lines[len(lines)-2] != "retry: 3\n" {
		t.Errorf("last stream after Retire(10) received %q, ended %v; want its goodbye \"retry: 3\" and the end", lines, ended)
	}
	testenv.WaitFor(t, "every stream gone", func() bool { return s.Stats().Clients == 0 })
	if st := s.Stats(); st.Ended[shard.ReasonDrained] != 3 || goodbyes != 3 {
		t.Errorf("after retiring all: drained %d with %d goodbyes, want 3 and 3 (stats %+v)", st.Ended[shard.ReasonDrained], goodbyes, st)
	}
}
