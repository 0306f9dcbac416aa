package uring

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestRing returns a ring, or skips where the kernel refuses io_uring:
// the shard falls back to write(2) there, and its tests cover that.
func newTestRing(t testing.TB, entries uint32) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		t.Skipf("no io_uring here: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// tcpPair returns the two ends of a loopback TCP connection and the
// sending end's descriptor.
func tcpPair(t testing.TB) (send *net.TCPConn, fd int, recv net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	send = s.(*net.TCPConn)
	raw, err := send.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.Control(func(f uintptr) { fd = int(f) })
	return send, fd, c
}

func TestSendReachesEverySocket(t *testing.T) {
	testSendReachesEverySocket(t, newTestRing(t, 8), false)
}

// TestSendReachesEveryRegisteredSocket: sends to sockets in the registered
// files, by slot, and the ones that found the table full, by descriptor.
func TestSendReachesEveryRegisteredSocket(t *testing.T) {
	r := newTestRing(t, 8)
	if r.slots == 0 {
		t.Skip("no registered files here")
	}
	r.slots = 12 // the table is larger: the last sockets find this one full
	testSendReachesEverySocket(t, r, true)
	if r.next != 12 {
		t.Errorf("%d slots used, want 12", r.next)
	}
}

// TestSendWithoutOptionalFlags: the ring New falls back to on kernels
// older than 5.19 works the same.
func TestSendWithoutOptionalFlags(t *testing.T) {
	r, err := newRing(8, 0)
	if err != nil {
		t.Skipf("no io_uring here: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	testSendReachesEverySocket(t, r, true)
}

func testSendReachesEverySocket(t *testing.T, r *Ring, register bool) {
	frame := []byte("id: 1\ndata: hello\n\n")
	const n = 20 // more than one batch
	var recvs []net.Conn
	fds := make([]int, n)
	for i := range fds {
		_, fd, recv := tcpPair(t)
		fds[i] = fd
		recvs = append(recvs, recv)
		if register {
			registerTest(t, r, fd)
		}
	}
	sent := make(map[uint64]int32)
	for i, fd := range fds {
		if !r.Send(fd, frame, uint64(i)) {
			submitInto(t, r, sent)
			if !r.Send(fd, frame, uint64(i)) {
				t.Fatal("Send refused an empty batch")
			}
		}
	}
	submitInto(t, r, sent)
	if len(sent) != n {
		t.Fatalf("%d completions, want %d", len(sent), n)
	}
	for tag, res := range sent {
		if res != int32(len(frame)) {
			t.Errorf("tag %d: res %d, want %d", tag, res, len(frame))
		}
	}
	for i, c := range recvs {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(frame))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(frame) {
			t.Errorf("socket %d got %q, %v", i, got, err)
		}
	}
}

// registerTest registers fd with r until the test ends.
func registerTest(t testing.TB, r *Ring, fd int) {
	t.Helper()
	if err := r.Register(fd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Unregister(fd); err != nil {
			t.Error(err)
		}
	})
}

// TestRegisteredFileStaysOpenUntilUnregistered: closing a registered
// socket's descriptor leaves the socket to the ring, and Unregister
// releases it, so the peer sees the end then. A slot freed that way is
// used again.
func TestRegisteredFileStaysOpenUntilUnregistered(t *testing.T) {
	r := newTestRing(t, 4)
	if r.slots == 0 {
		t.Skip("no registered files here")
	}
	send, fd, recv := tcpPair(t)
	if err := r.Register(fd); err != nil {
		t.Fatal(err)
	}
	slot := r.files[fd].slot
	send.Close()
	buf := make([]byte, 1)
	_ = recv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := recv.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from the peer of a closed but registered socket: %v, want a timeout", err)
	}
	if err := r.Unregister(fd); err != nil {
		t.Fatal(err)
	}
	_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := recv.Read(buf); err != io.EOF {
		t.Fatalf("read after Unregister: %v, want EOF", err)
	}
	_, fd2, _ := tcpPair(t)
	registerTest(t, r, fd2)
	if got := r.files[fd2].slot; got != slot {
		t.Errorf("next socket got slot %d, want the freed %d", got-1, slot-1)
	}
}

// TestRegisteredPipeIsWrittenTo: Register tells sockets from other files;
// a send to a pipe stays a write, which a socket send would fail.
func TestRegisteredPipeIsWrittenTo(t *testing.T) {
	r := newTestRing(t, 4)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	fd := int(pw.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	registerTest(t, r, fd)
	if r.files[fd].socket {
		t.Fatal("a pipe registered as a socket")
	}
	r.Send(fd, []byte("data: x\n\n"), 1)
	done, err := r.Submit()
	if err != nil || len(done) != 1 || done[0].Res != 9 {
		t.Fatalf("Submit = %+v, %v; want 9 bytes written", done, err)
	}
}

func submitInto(t *testing.T, r *Ring, into map[uint64]int32) {
	t.Helper()
	done, err := r.Submit()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range done {
		if _, dup := into[c.Tag]; dup {
			t.Errorf("tag %d completed twice", c.Tag)
		}
		into[c.Tag] = c.Res
	}
}

func TestSendRefusesAFullBatch(t *testing.T) {
	r := newTestRing(t, 2)
	_, fd, _ := tcpPair(t)
	for i := range r.Cap() {
		if !r.Send(fd, []byte("x"), uint64(i)) {
			t.Fatalf("send %d refused below Cap %d", i, r.Cap())
		}
	}
	if r.Send(fd, []byte("x"), 99) {
		t.Fatal("Send accepted more than Cap")
	}
	done, err := r.Submit()
	if err != nil || len(done) != r.Cap() {
		t.Fatalf("Submit = %d completions, %v; want %d", len(done), err, r.Cap())
	}
}

// A socket whose peer does not read fills up: its send completes short or
// with EAGAIN, at once, never waiting in the kernel.
func TestSendOnAFullSocketDoesNotBlock(t *testing.T) {
	r := newTestRing(t, 4)
	send, fd, _ := tcpPair(t)
	_ = send.SetWriteBuffer(4 << 10)
	big := make([]byte, 1<<20)
	start := time.Now()
	var short bool
	for i := 0; i < 64 && !short; i++ {
		r.Send(fd, big, 1)
		done, err := r.Submit()
		if err != nil {
			t.Fatal(err)
		}
		c := done[0]
		switch {
		case errors.Is(c.Err(), syscall.EAGAIN), c.Res >= 0 && c.Res < int32(len(big)):
			short = true
		case c.Err() != nil:
			t.Fatalf("send: %v", c.Err())
		}
	}
	if !short {
		t.Fatal("64 MiB went into an unread socket: sends are not bounded by the buffer")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("filling the socket took %v: a send waited", d)
	}
}

func TestSendToAClosedPeerFails(t *testing.T) {
	r := newTestRing(t, 4)
	_, fd, recv := tcpPair(t)
	recv.(*net.TCPConn).SetLinger(0)
	recv.Close() // a reset: the next sends fail
	time.Sleep(50 * time.Millisecond)
	var err error
	for range 3 {
		r.Send(fd, []byte("data: x\n\n"), 7)
		done, serr := r.Submit()
		if serr != nil {
			t.Fatal(serr)
		}
		if err = done[0].Err(); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("send to a reset peer: %v, want ECONNRESET or EPIPE", err)
	}
}

func TestSendAndSubmitDoNotAllocate(t *testing.T) {
	t.Run("descriptor", func(t *testing.T) { testSendAndSubmitDoNotAllocate(t, false) })
	t.Run("registered", func(t *testing.T) { testSendAndSubmitDoNotAllocate(t, true) })
}

func testSendAndSubmitDoNotAllocate(t *testing.T, register bool) {
	r := newTestRing(t, 64)
	_, fd, recv := tcpPair(t)
	go io.Copy(io.Discard, recv)
	if register {
		registerTest(t, r, fd)
	}
	frame := []byte("data: x\n\n")
	allocs := testing.AllocsPerRun(200, func() {
		for i := range 16 {
			r.Send(fd, frame, uint64(i))
		}
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
}

// BenchmarkSend compares a batch of sends through the ring with the same
// writes one system call each, to sockets read by another goroutine.
func BenchmarkSend(b *testing.B) {
	const sockets = 256
	fds := make([]int, sockets)
	for i := range fds {
		_, fd, recv := tcpPair(b)
		fds[i] = fd
		go io.Copy(io.Discard, recv)
	}
	frame := []byte("id: 1795776917861-0\ndata: a small event of about a hundred bytes, like most notifications\n\n")
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, fd := range fds {
				if _, err := syscall.Write(fd, frame); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sockets), "ns/send")
	})
	b.Run("uring", func(b *testing.B) { benchmarkRing(b, fds, frame, false) })
	b.Run("uring-registered", func(b *testing.B) { benchmarkRing(b, fds, frame, true) })
}

func benchmarkRing(b *testing.B, fds []int, frame []byte, register bool) {
	sockets := len(fds)
	r := newTestRing(b, uint32(sockets))
	if register {
		for _, fd := range fds {
			registerTest(b, r, fd)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, fd := range fds {
			r.Send(fd, frame, uint64(i))
		}
		if _, err := r.Submit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sockets), "ns/send")
}
