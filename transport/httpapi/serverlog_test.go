package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// readHeaderErr parses raw as a request head with fasthttp and returns its
// error: the kind fasthttp's server logs, with request bytes quoted in.
func readHeaderErr(raw string) error {
	var h fasthttp.RequestHeader
	return h.Read(bufio.NewReader(strings.NewReader(raw)))
}

func TestRedactError(t *testing.T) {
	const creds = "Authorization: Bearer SECRET-TOKEN-123\r\nCookie: ssehub_token=SECRET-COOKIE-456\r\n"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nul in the query", readHeaderErr("GET /events?token=SECRET-Q\x00 HTTP/1.1\r\nHost: h\r\n" + creds + "\r\n"),
			"error when reading request headers: invalid request uri [redacted]"},
		{"no host", readHeaderErr("GET /events HTTP/1.1\r\n" + creds + "\r\n"),
			"error when reading request headers: missing required host header in request: buffer size=104, contents: [redacted]"},
		{"no colon", readHeaderErr("GET /events HTTP/1.1\r\nHost: h\r\nNoColon\r\n" + creds + "\r\n"),
			"error when reading request headers: malformed mime header: missing colon: [redacted]"},
		{"no method", readHeaderErr("GARBAGE\r\n" + creds + "\r\n"),
			"error when reading request headers: cannot find http request method in [redacted]"},
		{"network", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded},
			"read tcp: i/o timeout"},
		{"backquoted", errors.New("bad `SECRET`"), "bad [redacted]"},
		{"single-quoted", errors.New("bad 'S'"), "bad [redacted]"},
		{"quoted first", errors.New(`"SECRET" is bad`), "[redacted]"},
	} {
		if got := redactError(tc.err); got != tc.want {
			t.Errorf("%s: redactError(%q) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

// logRecords decodes the lines of a JSON slog handler.
func logRecords(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestFasthttpLoggerFormatsOnlySafeArguments(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 51234}
	for _, tc := range []struct {
		format string
		args   []any
		want   string
	}{
		// The line fasthttp writes for a request it could not parse.
		{"error when serving connection %q<->%q: %v",
			[]any{local, remote, errors.New(`invalid request uri "/events?token=SECRET"`)},
			`error when serving connection "127.0.0.1:8080"<->"10.0.0.7:51234": invalid request uri [redacted]`},
		// fasthttp's per-request logger passes the request line as a string.
		{"%.3f %s - %s", []any{0.25, "GET /events?token=SECRET", "cannot open SECRET"},
			"0.250 [redacted] - [redacted]"},
		{"The number of connections from %s exceeds MaxConnsPerIP=%d", []any{net.IPv4(10, 0, 0, 7), 3},
			"The number of connections from 10.0.0.7 exceeds MaxConnsPerIP=3"},
		{"body %q", []any{[]byte("SECRET")}, `body "[redacted]"`},
		{"timeout after %v: %v", []any{time.Second, nil}, "timeout after 1s: [redacted]"},
	} {
		var out strings.Builder
		l := &fasthttpLogger{log: slog.New(slog.NewJSONHandler(&out, nil)), limit: &logLimiter{now: time.Now}}
		l.Printf(tc.format, tc.args...)
		recs := logRecords(t, out.String())
		if len(recs) != 1 || recs[0]["msg"] != tc.want || recs[0]["component"] != "fasthttp" || recs[0]["level"] != "WARN" {
			t.Errorf("Printf(%q, %v) logged %q, want one WARN line with msg %q, component=fasthttp", tc.format, tc.args, out.String(), tc.want)
		}
	}
}

func TestFasthttpLoggerRateLimits(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	var out strings.Builder
	l := &fasthttpLogger{log: slog.New(slog.NewJSONHandler(&out, nil)),
		limit: &logLimiter{every: 10 * time.Second, now: func() time.Time { return clock }}}
	for range 100 {
		l.Printf("error when serving connection: %v", errors.New("bad request"))
		clock = clock.Add(time.Second)
	}
	// Lines at 0s, 10s, ..., 90s: ten, each after the nine held back.
	recs := logRecords(t, out.String())
	if len(recs) != 10 {
		t.Fatalf("100 lines over 100s, one allowed per 10s, logged %d lines, want 10:\n%s", len(recs), out.String())
	}
	if _, ok := recs[0]["suppressed"]; ok {
		t.Errorf("first line = %v, want no suppressed count", recs[0])
	}
	for _, rec := range recs[1:] {
		if rec["suppressed"] != 9.0 {
			t.Errorf("line %v, want suppressed=9", rec)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	l := &logLimiter{every: 10 * time.Second, now: func() time.Time { return clock }}
	for _, step := range []struct {
		after      time.Duration // since the previous step
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{0, false, 0},
		{9 * time.Second, false, 0},
		{999 * time.Millisecond, false, 0},
		{time.Millisecond, true, 3}, // 10s after the first line
		{time.Hour, true, 0},        // nothing held back meanwhile
		{time.Nanosecond, false, 0},
		{10 * time.Second, true, 1},
	} {
		clock = clock.Add(step.after)
		if ok, n := l.allow(); ok != step.ok || n != step.suppressed {
			t.Errorf("allow() %v after the previous call = %v, %d; want %v, %d", step.after, ok, n, step.ok, step.suppressed)
		}
	}
}

// The canary fuzzed requests carry: no log line may contain it.
const canary = "SECRETxCANARYx42"

// FuzzRedactError puts the canary anywhere in a request (its method, URI,
// version, a header name or value, a line of its own), has fasthttp parse
// it, without SecureErrorLogMessage, the worst case, and logs the error as
// fasthttp's server does.
func FuzzRedactError(f *testing.F) {
	f.Add("GET /events?token=", " HTTP/1.1\r\nHost: h\r\n\r\n")
	f.Add("GET /events?token=\x00", " HTTP/1.1\r\nHost: h\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nAuthorization: Bearer ", "\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: h\r\nCookie: ssehub_token=", "\r\nX\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: h\r\n", "\r\n\r\n")
	f.Add("", " / HTTP/1.1\r\nHost: h\r\n\r\n")
	f.Add("GET / ", "\r\nHost: h\r\n\r\n")
	f.Add("GET /\"", "\" HTTP/1.1\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ", "\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ", "\r\n\r\n")
	f.Fuzz(func(t *testing.T, head, tail string) {
		err := readHeaderErr(head + canary + tail)
		if err == nil {
			return
		}
		var out strings.Builder
		l := &fasthttpLogger{log: slog.New(slog.NewTextHandler(&out, nil)), limit: &logLimiter{now: time.Now}}
		l.Printf("error when serving connection %q<->%q: %v", &net.TCPAddr{}, &net.TCPAddr{}, err)
		if strings.Contains(out.String(), canary) {
			t.Fatalf("request %q: error %q logged as %q", head+canary+tail, err, out.String())
		}
	})
}
