// Package hubtest has helpers for tests of the hub and its shards.
package hubtest

import (
	"net"
	"testing"
)

// TCPPair returns both ends of a real loopback TCP connection. The client
// end is closed when the test ends; the server end is for the code under
// test, which owns it.
func TCPPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}
