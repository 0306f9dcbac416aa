package httpapi_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/transport/httpapi"
)

// BenchmarkLargeEvents streams 1 MB events to one client over loopback
// with the send buffer fixed at --send-buffer's default, elastic (the
// default: starting there and growing to --send-buffer-max) and left to
// the kernel's autotuning. Compare them in one run:
//
//	go test -run XXX -bench LargeEvents -benchtime 30x -count 6 ./transport/httpapi
func BenchmarkLargeEvents(b *testing.B) {
	for _, tt := range []struct {
		name      string
		size, max int
	}{
		{"fixed-32KiB", 32 << 10, -1},
		{"elastic-32KiB-1MiB", 32 << 10, 1 << 20},
		{"autotuned", 0, 0},
	} {
		b.Run(tt.name, func(b *testing.B) {
			th := startHub(b, hubOptions{server: httpapi.Config{
				SendBuffer: tt.size, MaxSendBuffer: tt.max, PublishRate: -1, MaxBodyBytes: 2 << 20,
				Publish: httpapi.PublishLimits{MaxDataBytes: 1 << 20},
			}})
			conn := openRawStream(b, th.addr, "big")
			body := fmt.Sprintf(`{"topic":"big","data":%q}`, strings.Repeat("x", 1<<20))
			buf := make([]byte, 256<<10)
			b.SetBytes(1 << 20)
			for b.Loop() {
				if _, err := th.tryPublish(body); err != nil {
					b.Fatal(err)
				}
				readFrame(b, conn, buf, 1<<20)
			}
		})
	}
}

// openRawStream opens a stream on topic over a plain TCP connection and
// reads its head.
func openRawStream(t testing.TB, addr, topic string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /events?topic=%s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", topic)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	head := make([]byte, 4096)
	if _, err := conn.Read(head); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readFrame reads from conn until an event of at least size bytes has
// ended (its blank line).
func readFrame(t testing.TB, conn net.Conn, buf []byte, size int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := 0
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		got += n
		if got >= size && bytes.HasSuffix(buf[:n], []byte("\n\n")) {
			return
		}
	}
}
