package frontdoor

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/hubtest"

	"github.com/ssehub/ssehub/internal/testenv"
)

// lingeringPair returns both ends of a loopback TCP connection, the
// accepted one as a lingerConn told to linger for timeout.
func lingeringPair(t *testing.T, timeout time.Duration) (server *lingerConn, client net.Conn) {
	t.Helper()
	client, accepted := hubtest.TCPPair(t)
	server = &lingerConn{Conn: accepted, timeout: timeout}
	server.linger.Store(true)
	return server, client
}

// closeInBackground closes c on another goroutine, returning a channel that
// is closed when Close has returned.
func closeInBackground(c net.Conn) <-chan struct{} {
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		c.Close()
	}()
	return closed
}

// A lingering close reads until the client closes, but no longer than the
// timeout, nor more than maxDiscard bytes: a client cannot hold it.
func TestLingeringCloseIsBounded(t *testing.T) {
	t.Run("client closes", func(t *testing.T) {
		server, client := lingeringPair(t, time.Hour)
		if _, err := client.Write(make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		closed := closeInBackground(server)
		client.SetReadDeadline(time.Now().Add(testenv.Timeout))
		if n, err := io.Copy(io.Discard, client); err != nil || n != 0 {
			t.Fatalf("client read %d bytes, %v; want EOF at once: the hub has nothing more to say", n, err)
		}
		client.Close()
		testenv.Recv(t, "Close to return once the client closes", closed)
	})
	t.Run("client stalls", func(t *testing.T) {
		server, _ := lingeringPair(t, 100*time.Millisecond)
		start := time.Now()
		closed := closeInBackground(server)
		testenv.Recv(t, "Close to return after the timeout", closed)
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("Close returned after %v, want it to wait up to the timeout of 100ms for the client", d)
		}
	})
	t.Run("client floods", func(t *testing.T) {
		server, client := lingeringPair(t, time.Hour)
		wrote := make(chan int64)
		go func() {
			var n int64
			buf := make([]byte, 1<<20)
			for {
				m, err := client.Write(buf)
				n += int64(m)
				if err != nil {
					wrote <- n
					return
				}
			}
		}()
		closed := closeInBackground(server)
		testenv.Recv(t, "Close to return after discarding its limit", closed)
		n := testenv.Recv(t, "the client's writes to fail once the hub closes", wrote)
		if n < maxDiscard {
			t.Errorf("client wrote %d bytes before the hub closed, want at least maxDiscard (%d)", n, maxDiscard)
		}
	})
}

// Streams write to the socket itself, whose descriptor the shard's direct
// writes need, from under both fasthttp's hijack wrapper and lingerConn.
func TestUnwrapConnReachesTheSocket(t *testing.T) {
	server, _ := lingeringPair(t, time.Hour)
	server.linger.Store(false)
	if c := unwrapConn(hijacked{server}); c != server.Conn {
		t.Errorf("unwrapConn(hijack wrapper of a lingerConn) = %T, want the %T under both", c, server.Conn)
	}
}

// hijacked stands for fasthttp's wrapper of a hijacked connection.
type hijacked struct{ net.Conn }

func (h hijacked) UnsafeConn() net.Conn { return h.Conn }
