// Package ssetest opens SSE streams for tests the way EventSource does,
// on a raw TCP connection, so that a test sees the server's bytes as they
// arrive (net/http's client would buffer and hide them).
package ssetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// HeadTimeout bounds how long Open waits for the response head.
const HeadTimeout = 5 * time.Second

// Open dials addr with d (nil for a plain net.Dialer), sends GET
// /events?query with the extra header lines ("Last-Event-ID: 1-0"), and
// returns the connection and the response once its head has arrived: a
// 200 stream is subscribed by then. Dialling and the head each get
// HeadTimeout. The response body reads the stream; the connection keeps
// the head's read deadline, which the caller moves as it reads, and is
// closed when the test ends.
func Open(t testing.TB, d *net.Dialer, addr, query string, headers ...string) (net.Conn, *http.Response) {
	t.Helper()
	return OpenPath(t, d, addr, "/events?"+query, headers...)
}

// OpenPath is Open for a stream at target, a path with its query (another
// front door's, such as /.well-known/mercure?topic=a).
func OpenPath(t testing.TB, d *net.Dialer, addr, target string, headers ...string) (net.Conn, *http.Response) {
	t.Helper()
	conn, resp, err := TryOpenPath(d, addr, target, headers...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, resp
}

// TryOpenPath is OpenPath for goroutines other than the test's (a storm of
// reconnections), and for a test that expects the stream to fail: it
// returns the error instead of ending the test, and the caller closes the
// connection.
func TryOpenPath(d *net.Dialer, addr, target string, headers ...string) (net.Conn, *http.Response, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), HeadTimeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", target, err)
	}
	req := "GET " + target + " HTTP/1.1\r\nHost: ssehub\r\nAccept: text/event-stream\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	conn.SetDeadline(time.Now().Add(HeadTimeout))
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("GET %s: %w", target, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("GET %s: %w", target, err)
	}
	conn.SetWriteDeadline(time.Time{}) // only the read deadline stays
	return conn, resp, nil
}
