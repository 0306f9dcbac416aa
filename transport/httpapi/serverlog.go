package httpapi

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// fasthttpLogEvery rate-limits fasthttp's log lines: any client can make
// fasthttp log, one line per malformed request, so unlimited they would
// let it fill the disk.
const fasthttpLogEvery = 10 * time.Second

// fasthttpLogger is the fasthttp.Server's Logger. fasthttp logs the errors
// it meets serving a connection, and the error of a request it could not
// parse quotes the request: its URI, a header line, or the whole read
// buffer with every Authorization header, cookie and token in it (8 KiB a
// request). So only arguments that cannot hold request bytes are formatted
// (see redactArg), into fasthttp's own constant format strings, and at most
// one line goes out per fasthttpLogEvery, with the count of those held back.
type fasthttpLogger struct {
	log   *slog.Logger
	limit *logLimiter
}

func newFasthttpLogger(log *slog.Logger) *fasthttpLogger {
	return &fasthttpLogger{log: log, limit: &logLimiter{every: fasthttpLogEvery, now: time.Now}}
}

// Printf implements fasthttp.Logger.
func (l *fasthttpLogger) Printf(format string, args ...any) {
	ok, suppressed := l.limit.allow()
	if !ok {
		return
	}
	safe := make([]any, len(args))
	for i, a := range args {
		safe[i] = redactArg(a)
	}
	attrs := []any{"component", "fasthttp"}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	l.log.Warn(fmt.Sprintf(format, safe...), attrs...)
}

// redacted replaces what a log line leaves out.
const redacted = "[redacted]"

// redactArg returns a if its type cannot hold request bytes (addresses,
// numbers), err's text cut by redactError, or else redacted: strings, such
// as the request fasthttp passes to its per-request logger, are dropped
// whole.
func redactArg(a any) any {
	switch a := a.(type) {
	case net.Addr, net.IP, bool, int, int64, uint64, float64, time.Duration:
		return a
	case error:
		return redactError(a)
	default:
		return redacted
	}
}

// redactError returns err's text up to its first quote. fasthttp quotes
// (%q) every piece of a request it puts in an error, after fixed text that
// names the failure ("invalid request uri %q", "contents: %q"), so what
// precedes the first quote says what went wrong with none of the request
// in it. FuzzRedactError holds fasthttp's parser to that.
func redactError(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "\"'`"); i >= 0 {
		return msg[:i] + redacted
	}
	return msg
}

// logLimiter lets one log line through per interval and counts the lines
// it holds back. Safe for concurrent use: fasthttp logs from the goroutine
// of each connection.
type logLimiter struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	next       time.Time // when the next line may go out
	suppressed int       // lines held back since the last one out
}

// allow reports whether a line may go out now and, if it may, how many
// were held back since the previous one.
func (l *logLimiter) allow() (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	l.next = now.Add(l.every)
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
