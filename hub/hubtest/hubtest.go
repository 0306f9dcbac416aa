// Package hubtest has helpers for tests of the hub and its shards.
package hubtest

import (
	"net"
	"testing"
	"time"
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

// WaitTimeout is how long WaitFor waits: far longer than anything a test
// waits for takes, even on a loaded machine, and far shorter than the go
// test timeout, so that a regression fails with what it was waiting for
// instead of hanging.
const WaitTimeout = 5 * time.Second

// WaitFor polls cond until it holds, and fails the test, saying it was
// waiting for what, if that takes longer than WaitTimeout. Call it from the
// test's goroutine.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(WaitTimeout); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", WaitTimeout, what)
		}
	}
}

// Closed returns a condition for WaitFor that holds once ch is closed.
func Closed(ch <-chan struct{}) func() bool {
	return func() bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
}
