package frontdoor

import (
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// maxDiscard bounds what the hub reads and throws away of a request it
// refused as too large, after answering it. It is well above the bodies
// sent by mistake (a file, an oversized batch), which thus get their answer;
// a client sending more has its connection reset.
const maxDiscard = 64 << 20

// LingerListener returns ln with its connections able to close gracefully
// after answering a request too large to read (see [LingerOnClose]). The
// server of every front door serves on one: [Door.Stream] finds the socket
// under its connections.
func LingerListener(ln net.Listener, timeout time.Duration) net.Listener {
	return lingerListener{Listener: ln, timeout: timeout}
}

// lingerListener wraps a server's listener so that its connections can
// close gracefully after answering a request too large to read (see
// lingerConn).
type lingerListener struct {
	net.Listener
	timeout time.Duration // the read timeout, for the rest of the request
}

// Accept implements net.Listener.
func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, timeout: l.timeout}, nil
}

// lingerConn is a connection that can be told to read out the rest of a
// refused request before it closes.
//
// fasthttp answers a request over a size limit (413, 431) and closes the
// connection without reading the rest of it. A TCP socket closed with
// unread bytes in its receive buffer, or that receives more, is reset (RFC
// 1122 section 4.2.2.13), and a client that sends its whole request before
// it reads the answer, as Python's urllib and many SDKs do, then sees
// "connection reset" on its write instead of the 413.
type lingerConn struct {
	net.Conn
	timeout time.Duration
	linger  atomic.Bool // set by the request's goroutine, read by Close
}

// Close implements net.Conn. After LingerOnClose it first ends the
// connection's sending half, so the client sees the end of the answer, then
// reads and discards what the client sends until it closes, for at most
// timeout and maxDiscard bytes, so the close is a FIN rather than a reset.
// fasthttp calls Close on the connection's own goroutine, which this holds
// meanwhile, as reading the request would have.
func (c *lingerConn) Close() error {
	if c.linger.Load() {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		_, _ = io.CopyN(io.Discard, c.Conn, maxDiscard)
	}
	return c.Conn.Close()
}

// LingerOnClose makes ctx's connection, if it came from a
// [LingerListener], read out the rest of the request when it closes, after
// the answer: for a request refused as too large (413, 431), so that a
// client that sends it whole before reading sees the answer rather than a
// reset.
func LingerOnClose(ctx *fasthttp.RequestCtx) {
	if c, ok := ctx.Conn().(*lingerConn); ok {
		c.linger.Store(true)
	}
}
