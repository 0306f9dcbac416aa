package frontdoor

import (
	"net"
)

// DefaultMaxSendBuffer is how far a stream's kernel send buffer may grow
// when Config.MaxSendBuffer is zero.
const DefaultMaxSendBuffer = 1 << 20

// elasticConn is a stream's TCP connection whose kernel send buffer
// starts small and grows while its peer keeps up.
//
// A small buffer bounds the kernel memory a client that never reads can
// pin, and lets the hub notice it soon. But it also caps what a healthy
// client can receive: on loopback, whose 64 KiB segments are accounted
// at more than their size, a 32 KiB buffer (64 KiB once Linux doubles
// it) held one segment at a time, each waiting for a delayed ack, and a
// stream took 1 MB events at 1.6 MB/s; across a network it caps a stream
// at the buffer per round trip. So each write larger than the buffer that
// completes, which only a peer that reads can make happen, doubles the
// buffer, up to max. A client that stops reading from the start keeps the
// small one; one that read fast and then stopped pins at most max (twice
// that in Linux's accounting) until it is evicted.
//
// Only the flusher's writes come through here: the shard loop writes a
// frame the socket takes at once straight to its descriptor, and such a
// write never needed a larger buffer. Linux caps what SO_SNDBUF may ask
// for at net.core.wmem_max (208 KiB on many kernels; 4 MiB on the machine
// of BENCHMARKS.md): above it, the buffer stays at that cap.
//
// Write is called by one writer at a time (the stream's flusher, see
// shard), which owns size.
type elasticConn struct {
	*net.TCPConn
	size, max int
}

// streamConn returns conn with its send buffer set to size bytes, growing
// to max as elasticConn describes, if conn is TCP and size positive;
// otherwise conn as it is. A failure to set the buffer leaves the kernel's
// autotuning, which works, only with less memory bounded.
func streamConn(conn net.Conn, size, max int) net.Conn {
	tc, ok := conn.(*net.TCPConn)
	if !ok || size <= 0 || tc.SetWriteBuffer(size) != nil {
		return conn
	}
	if max <= size {
		return conn
	}
	return &elasticConn{TCPConn: tc, size: size, max: max}
}

// Write writes p, then grows the send buffer if p was larger than it.
func (c *elasticConn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	if err == nil && len(p) > c.size && c.size < c.max {
		c.size = min(2*c.size, c.max)
		_ = c.SetWriteBuffer(c.size)
	}
	return n, err
}
