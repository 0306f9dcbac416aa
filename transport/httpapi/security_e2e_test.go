package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/sse"
)

// sendRaw writes req on a fresh TCP connection, which it closes when the
// test ends, and returns the connection to read the answer from.
func sendRaw(t *testing.T, th *testHub, req string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	return conn
}

// rawRequest writes req on a fresh TCP connection and reads one response.
func rawRequest(t *testing.T, th *testHub, req string) (int, string) {
	t.Helper()
	conn := sendRaw(t, th, req)
	defer conn.Close()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	return statusAndCode(resp)
}

func TestInjectionInEventNameIsRejected(t *testing.T) {
	th := startHub(t, hubOptions{})
	for _, name := range []string{`a\rb`, `a\nb`, `a\u0000b`, `x\r\ndata: forged`, `\n`} {
		body := `{"topic":"news","event":"` + name + `","data":"x"}`
		if status, code := publishAs(t, th, "", body); status != http.StatusBadRequest || code != httpapi.CodeInvalidEvent {
			t.Errorf("publish %s = %d %q, want 400 %q", body, status, code, httpapi.CodeInvalidEvent)
		}
	}
}

func TestInjectionInPublishTopicIsRejected(t *testing.T) {
	th := startHub(t, hubOptions{})
	for _, tp := range []string{`a\rb`, `a\nb`, `a\u0000b`, `a b`, `news\r\nid: 1`, ` news`} {
		for _, body := range []string{
			`{"topic":"` + tp + `","data":"x"}`,
			`{"topics":["ok","` + tp + `"],"data":"x"}`,
		} {
			if status, code := publishAs(t, th, "", body); status != http.StatusBadRequest || code != httpapi.CodeInvalidTopic {
				t.Errorf("publish %s = %d %q, want 400 %q", body, status, code, httpapi.CodeInvalidTopic)
			}
		}
	}
}

func TestInjectionInSubscribeTopicIsRejected(t *testing.T) {
	th := startHub(t, hubOptions{})
	for _, q := range []string{"topic=a%0D%0Aid:%201", "topic=a%0Ab", "topic=a%0Db", "topic=a%00b", "topic=a%20b", "topic=ok&topic=a%0D%0A"} {
		s := th.subscribe(t, q)
		if status, code := errorCode(t, s); status != http.StatusBadRequest || code != httpapi.CodeInvalidTopic {
			t.Errorf("subscribe %s = %d %q, want 400 %q", q, status, code, httpapi.CodeInvalidTopic)
		}
	}
}

func TestInjectionInLastEventIDIsEncoded(t *testing.T) {
	th := startHub(t, hubOptions{})
	th.publish(t, `{"topic":"news","data":"e0"}`)
	const lastID = "1-0\r\ndata: x"
	s := th.subscribe(t, "topic=news&lastEventId=1-0%0D%0Adata:%20x")
	if s.resp.StatusCode != http.StatusOK {
		status, code := errorCode(t, s)
		t.Fatalf("resume status = %d %q, want 200", status, code)
	}
	// Read the raw bytes after the head up to the end of the reset event.
	var raw []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if i := bytes.Index(raw, []byte("event: "+transport.ResetEvent)); i >= 0 && bytes.Contains(raw[i:], []byte("\n\n")) {
			break
		}
		s.conn.SetReadDeadline(deadline)
		n, err := s.resp.Body.Read(buf)
		raw = append(raw, buf[:n]...)
		if err != nil {
			t.Fatalf("reading stream: %v (got %q)", err, raw)
		}
	}
	if bytes.ContainsAny(raw, "\r\x00") {
		t.Errorf("stream body contains raw CR or NUL: %q", raw)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "data: x") || line == "data:x" {
			t.Errorf("injected line %q on the wire: %q", line, raw)
		}
	}
	r := sse.NewReader(bytes.NewReader(raw))
	e, err := r.Next()
	if err != nil {
		t.Fatalf("parsing %q: %v", raw, err)
	}
	if e.Type != transport.ResetEvent {
		t.Fatalf("first event = %+v, want %s", e, transport.ResetEvent)
	}
	var data struct{ Reason, LastEventID string }
	if err := json.Unmarshal([]byte(e.Data), &data); err != nil {
		t.Fatalf("reset data %q: %v", e.Data, err)
	}
	if data.LastEventID != lastID {
		t.Errorf("reset lastEventId = %q, want %q", data.LastEventID, lastID)
	}
	if data.Reason != transport.ResetUnknownID {
		t.Errorf("reset reason = %q, want %s", data.Reason, transport.ResetUnknownID)
	}
}

func TestOversizedRequestsAreRefused(t *testing.T) {
	t.Run("body", func(t *testing.T) {
		th := startHub(t, hubOptions{server: httpapi.Config{MaxBodyBytes: 4096}})
		body := `{"topic":"news","data":"` + strings.Repeat("x", 5000) + `"}`
		if status, code := publishAs(t, th, "", body); status != http.StatusRequestEntityTooLarge || code != httpapi.CodeTooLarge {
			t.Errorf("publish of %d bytes = %d %q, want 413 %q", len(body), status, code, httpapi.CodeTooLarge)
		}
		// Just under the limit still works.
		th.publish(t, `{"topic":"news","data":"`+strings.Repeat("x", 4000)+`"}`)
	})
	t.Run("data", func(t *testing.T) {
		th := startHub(t, hubOptions{server: httpapi.Config{Publish: httpapi.PublishLimits{MaxDataBytes: 100}}})
		body := `{"topic":"news","data":"` + strings.Repeat("x", 101) + `"}`
		if status, code := publishAs(t, th, "", body); status != http.StatusRequestEntityTooLarge || code != httpapi.CodeTooLarge {
			t.Errorf("publish of 101 data bytes = %d %q, want 413 %q", status, code, httpapi.CodeTooLarge)
		}
		th.publish(t, `{"topic":"news","data":"`+strings.Repeat("x", 100)+`"}`)
	})
	t.Run("batch", func(t *testing.T) {
		th := startHub(t, hubOptions{server: httpapi.Config{Publish: httpapi.PublishLimits{MaxBatch: 2}}})
		body := `[{"topic":"a","data":"1"},{"topic":"a","data":"2"},{"topic":"a","data":"3"}]`
		if status, code := publishAs(t, th, "", body); status != http.StatusRequestEntityTooLarge || code != httpapi.CodeTooLarge {
			t.Errorf("batch of 3 = %d %q, want 413 %q", status, code, httpapi.CodeTooLarge)
		}
		if ids := th.publish(t, `[{"topic":"a","data":"1"},{"topic":"a","data":"2"}]`); len(ids) != 2 {
			t.Errorf("batch of 2 ids = %v", ids)
		}
	})
	t.Run("headers", func(t *testing.T) {
		th := startHub(t, hubOptions{server: httpapi.Config{MaxHeaderBytes: 2048}})
		req := "GET /events?topic=news HTTP/1.1\r\nHost: ssehub\r\nAccept: text/event-stream\r\n" +
			"X-Big: " + strings.Repeat("a", 4096) + "\r\n\r\n"
		if status, code := rawRequest(t, th, req); status != http.StatusRequestHeaderFieldsTooLarge || code != httpapi.CodeHeadersTooLarge {
			t.Errorf("4 KiB header = %d %q, want 431 %q", status, code, httpapi.CodeHeadersTooLarge)
		}
		// Small headers are still served.
		s := th.subscribe(t, "topic=news")
		if s.resp.StatusCode != http.StatusOK {
			t.Fatalf("subscribe = %d, want 200", s.resp.StatusCode)
		}
	})
}

// The error answering a 900 KB form field name quotes 64 bytes of it, not
// all of it.
func TestErrorResponseQuotesAtMost64BytesOfInput(t *testing.T) {
	th := startHub(t, hubOptions{})
	name := strings.Repeat("k", 900<<10)
	resp, err := http.Post(th.url+"/publish", "application/x-www-form-urlencoded", strings.NewReader("topic=a&data=x&"+name+"=1"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), httpapi.CodeUnknownField) {
		t.Errorf("form with a 900 KB field name = %d %.200s, want 400 %s", resp.StatusCode, body, httpapi.CodeUnknownField)
	}
	if len(body) > 512 {
		t.Errorf("form with a 900 KB field name: error body of %d bytes (%.200s...), want at most 512", len(body), body)
	}
}

// A client that sends its whole request before it reads the answer, as
// Python's urllib does, gets the 413 or 431 rather than a reset connection.
func TestOversizedRequestIsAnsweredToClientsThatSendItAll(t *testing.T) {
	th := startHub(t, hubOptions{})
	const size = 20 << 20
	filler := bytes.Repeat([]byte("x"), size)
	for _, tt := range []struct {
		name   string
		req    []byte
		status int
		code   string
	}{
		{"body", slices.Concat([]byte("POST /publish HTTP/1.1\r\nHost: ssehub\r\nContent-Type: application/json\r\n"+
			"Content-Length: "+strconv.Itoa(size)+"\r\n\r\n"), filler),
			http.StatusRequestEntityTooLarge, httpapi.CodeTooLarge},
		{"headers", slices.Concat([]byte("GET /events?topic=news HTTP/1.1\r\nHost: ssehub\r\nX-Big: "), filler, []byte("\r\n\r\n")),
			http.StatusRequestHeaderFieldsTooLarge, httpapi.CodeHeadersTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", th.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(testenv.Timeout))
			if _, err := conn.Write(tt.req); err != nil {
				t.Fatalf("writing a %d MiB request before reading the answer: %v, want it all taken", len(tt.req)>>20, err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("reading the answer to a %d MiB request: %v", len(tt.req)>>20, err)
			}
			defer resp.Body.Close()
			if status, code := statusAndCode(resp); status != tt.status || code != tt.code {
				t.Errorf("%d MiB request = %d %q, want %d %q", len(tt.req)>>20, status, code, tt.status, tt.code)
			}
		})
	}
}

func TestTooManyTopicsOnAStream(t *testing.T) {
	th := startHub(t, hubOptions{server: httpapi.Config{MaxTopics: 2}})
	s := th.subscribe(t, "topic=a&topic=b&topic=c")
	if status, code := errorCode(t, s); status != http.StatusBadRequest || code != httpapi.CodeTooManyTopics {
		t.Errorf("three topics = %d %q, want 400 %q", status, code, httpapi.CodeTooManyTopics)
	}
	s = th.subscribe(t, "topic=a&topic=b*")
	if s.resp.StatusCode != http.StatusOK {
		t.Errorf("two topics = %d, want 200", s.resp.StatusCode)
	}
}

func TestSlowlorisConnectionIsClosed(t *testing.T) {
	th := startHub(t, hubOptions{server: httpapi.Config{ReadTimeout: 300 * time.Millisecond}})
	conn, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /events?topic=ne"); err != nil {
		t.Fatal(err)
	}

	// Meanwhile a normal stream works.
	s := th.subscribe(t, "topic=news")
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe = %d, want 200", s.resp.StatusCode)
	}
	th.publish(t, `{"topic":"news","data":"alive"}`)
	s.expectData("alive")

	conn.SetReadDeadline(start.Add(2 * time.Second))
	got, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v (read %q)", elapsed, got)
	}
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 408") {
		t.Errorf("slow request answered %q, want EOF or 408", got)
	}
	t.Logf("slow connection closed after %v (err %v, %d bytes)", elapsed, err, len(got))

	// The stream is unaffected by the slow client being dropped.
	th.publish(t, `{"topic":"news","data":"still"}`)
	s.expectData("still")
}

func TestMalformedRequestsLogNoCredentials(t *testing.T) {
	const creds = "Authorization: Bearer SECRET-TOKEN-123\r\n" +
		"Cookie: theme=dark; ssehub_token=SECRET-COOKIE-456\r\n" +
		"X-Api-Key: SECRET-KEY-789\r\n"
	const target = "/events?topic=news&token=SECRET-QUERY-000"
	// Nothing a request carries may reach the log: not its credentials,
	// nor its request line or header names.
	forbidden := []string{"SECRET", "Bearer", "Authorization", "Cookie", "ssehub_token", "X-Api-Key", "/events", "topic=news"}
	// fasthttpLogEvery: one line per 10 s.
	const logEvery = 10 * time.Second
	for _, tc := range []struct {
		name, req string
		kind      string // what the log line says went wrong
	}{
		{"nul in the query", "GET " + target + "%00\x00 HTTP/1.1\r\nHost: ssehub\r\n" + creds + "\r\n", "invalid request uri"},
		{"no host", "GET " + target + " HTTP/1.1\r\n" + creds + "\r\n", "missing required host header"},
		// A client that left out the colon of its credential's header.
		{"no colon", "GET " + target + " HTTP/1.1\r\nHost: ssehub\r\nAuthorization Bearer SECRET-TOKEN-123\r\n" + creds + "\r\n", "missing colon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log testenv.Buffer
			th := startHub(t, hubOptions{server: httpapi.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))}})
			start := time.Now()
			var firstClient string
			for i := range 100 {
				client, resp := sendUntilClosed(t, th, tc.req)
				if !strings.HasPrefix(resp, "HTTP/1.1 400 ") {
					t.Fatalf("request %d answered %q, want 400", i, resp)
				}
				if i == 0 {
					firstClient = client
				}
			}
			elapsed := time.Since(start)
			got := log.String()
			first, _, _ := strings.Cut(got, "\n")
			var leaked []string
			for _, s := range forbidden {
				if strings.Contains(got, s) {
					leaked = append(leaked, s)
				}
			}
			if leaked != nil {
				t.Errorf("log contains %q; its first line: %s", leaked, first)
			}
			// The first line goes out: it names the client and the error.
			if !strings.Contains(got, firstClient) || !strings.Contains(got, tc.kind) || !strings.Contains(got, "component=fasthttp") {
				t.Errorf("log's first line = %s, want a fasthttp line naming the client %s and %q", first, firstClient, tc.kind)
			}
			if lines, most := strings.Count(got, "\n"), 1+int(elapsed/logEvery); lines > most {
				t.Errorf("100 malformed requests in %v logged %d lines, want at most %d", elapsed, lines, most)
			}
		})
	}
}

// sendUntilClosed writes req on a fresh TCP connection and reads until the
// server closes it, which fasthttp does only after logging the request's
// error. It returns the client's address and what the server answered.
func sendUntilClosed(t *testing.T, th *testHub, req string) (client, resp string) {
	t.Helper()
	conn := sendRaw(t, th, req)
	defer conn.Close()
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading until closed: %v (got %q)", err, got)
	}
	return conn.LocalAddr().String(), string(got)
}
