package frontdoor

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/sockopt"
)

// tcpPair returns the two ends of a loopback TCP connection; the client
// end gets a small receive buffer, so a client that does not read fills
// up soon.
func tcpPair(t *testing.T) (server *net.TCPConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: sockopt.RecvBuffer(16 << 10)}
	client, err = d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc.(*net.TCPConn), client
}

func TestSendBufferGrowsWhileThePeerReads(t *testing.T) {
	server, client := tcpPair(t)
	go io.Copy(io.Discard, client) //nolint:errcheck // ends when the test closes client
	c := streamConn(server, 32<<10, 256<<10).(*elasticConn)
	for _, want := range []int{32 << 10, 64 << 10, 128 << 10, 256 << 10, 256 << 10} {
		if c.size != want {
			t.Fatalf("send buffer %d, want %d", c.size, want)
		}
		if _, err := c.Write(make([]byte, 300<<10)); err != nil { // larger than the buffer
			t.Fatal(err)
		}
	}
	if _, err := c.Write(make([]byte, 1<<10)); err != nil || c.size != 256<<10 {
		t.Errorf("after a small write: size %d, err %v; want the cap and no error", c.size, err)
	}
}

func TestSendBufferStaysSmallForAPeerThatDoesNotRead(t *testing.T) {
	server, _ := tcpPair(t)
	c := streamConn(server, 32<<10, 1<<20).(*elasticConn)
	_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c.Write(make([]byte, 1<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that does not read: %v, want a timeout", err)
	}
	if c.size != 32<<10 {
		t.Errorf("send buffer grew to %d for a peer that does not read, want 32 KiB", c.size)
	}
}

func TestStreamConnFixedOrUnset(t *testing.T) {
	server, _ := tcpPair(t)
	for _, tt := range []struct{ size, max int }{{32 << 10, -1}, {32 << 10, 32 << 10}, {0, 1 << 20}} {
		if _, elastic := streamConn(server, tt.size, tt.max).(*elasticConn); elastic {
			t.Errorf("streamConn(size %d, max %d) is elastic, want the conn as it is", tt.size, tt.max)
		}
	}
}
