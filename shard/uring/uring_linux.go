package uring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// System call numbers and constants from linux/io_uring.h, the same on
// amd64 and arm64.
const (
	sysSetup    = 425
	sysEnter    = 426
	sysRegister = 427

	setupSubmitAll   = 1 << 7 // keep submitting past a failed entry
	setupCoopTaskrun = 1 << 8 // no interrupting the task to run completions

	featSingleMmap = 1 << 0

	enterGetEvents = 1 << 0

	registerFiles       = 2
	registerFilesUpdate = 6

	sqeFixedFile = 1 << 0 // the entry's fd is a slot of the registered files

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	opWrite = 23
	opSend  = 26

	msgDontWait = 0x40
	msgNoSignal = 0x4000
)

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

type sqRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqRingOffsets
	cqOff                                                                  cqRingOffsets
}

// Ring is one io_uring. It is not safe for concurrent use: one goroutine
// queues sends and submits them at a time (a shard loop).
type Ring struct {
	fd       int
	entries  uint32
	ringMem  []byte // SQ ring, and the CQ ring with featSingleMmap
	cqMem    []byte // CQ ring without featSingleMmap
	sqesMem  []byte
	sqHead   *uint32 // written by the kernel
	sqTail   *uint32
	sqMask   uint32
	sqes     []sqe
	cqHead   *uint32
	cqTail   *uint32 // written by the kernel
	cqMask   uint32
	cqes     []cqe
	queued   uint32       // sends queued since the last Submit
	done     []Completion // Submit's result, reused
	keepBufs [][]byte     // the queued sends' buffers, alive until reaped

	// files says, by descriptor, what Register learnt of it: beyond its
	// end, or at zero, nothing (a plain write to the descriptor).
	files []registered
	// slots is the size of the kernel's table of registered files; free
	// lists its empty slots below next, and those from next on have never
	// been used.
	slots, next int32
	free        []int32
}

// registered is what the ring knows of a descriptor: whether it is a
// socket, and the slot it has in the registered files, if any.
type registered struct {
	slot   int32 // the slot plus one; 0: none
	socket bool
}

// New sets up a ring for batches of up to entries sends (a power of two).
func New(entries uint32) (*Ring, error) {
	r, err := newRing(entries, setupSubmitAll|setupCoopTaskrun)
	if errors.Is(err, syscall.EINVAL) {
		// Before Linux 5.19 a flag it does not know fails the set-up.
		// Neither is needed: Submit resubmits what a failed entry left
		// behind, and completions are reaped right after submitting.
		r, err = newRing(entries, 0)
	}
	return r, err
}

func newRing(entries, flags uint32) (*Ring, error) {
	p := params{flags: flags}
	fd, _, errno := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd), entries: p.sqEntries}
	if err := r.mmap(&p); err != nil {
		r.Close()
		return nil, err
	}
	r.done = make([]Completion, 0, p.sqEntries)
	r.keepBufs = make([][]byte, 0, p.sqEntries)
	r.registerTable()
	return r, nil
}

// maxSlots bounds the table of registered files: the kernel keeps 8 bytes
// per slot, for every shard's ring, and refuses more slots than the
// open-file limit. 16,384 slots is 128 KiB a ring, and more than a shard
// holds streams at this project's sizes (a shard per half core); sends to
// descriptors past a full table go without a slot, for a little more CPU.
const maxSlots = 1 << 14

// registerTable registers an empty table of registered files, as large as
// the kernel takes up to the open-file limit. Without one (a kernel
// before 5.5, or a tight limit) Register only tells sockets apart.
func (r *Ring) registerTable() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	for n := int32(min(lim.Cur, maxSlots)); n >= 64; n /= 2 {
		empty := make([]int32, n)
		for i := range empty {
			empty[i] = -1
		}
		_, _, errno := syscall.Syscall6(sysRegister, uintptr(r.fd), registerFiles,
			uintptr(unsafe.Pointer(&empty[0])), uintptr(n), 0, 0)
		if errno == 0 {
			r.slots = n
			return
		}
	}
}

// Register tells the ring about fd, before sends to it: it takes a slot
// in the ring's registered files if one is free, and sends to a socket
// become sends (IORING_OP_SEND) rather than writes, which skip the file
// notification a write makes. Both save CPU on every send; neither is
// needed for sending to fd, so an error leaves fd written to as before.
// Call Unregister before closing fd: a registered file stays open while
// the ring holds it.
func (r *Ring) Register(fd int) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("io_uring register: %w", err)
	}
	if fd >= len(r.files) {
		r.files = append(r.files, make([]registered, fd+1-len(r.files))...)
	}
	f := registered{socket: st.Mode&syscall.S_IFMT == syscall.S_IFSOCK}
	slot, ok := r.takeSlot()
	if ok {
		if err := r.updateSlot(slot, int32(fd)); err != nil {
			r.free = append(r.free, slot)
			r.files[fd] = f
			return err
		}
		f.slot = slot + 1
	}
	r.files[fd] = f
	return nil
}

// Unregister forgets fd, giving back its slot. An error means the ring
// may still hold the file open: close the ring.
func (r *Ring) Unregister(fd int) error {
	if fd >= len(r.files) {
		return nil
	}
	f := r.files[fd]
	r.files[fd] = registered{}
	if f.slot == 0 {
		return nil
	}
	if err := r.updateSlot(f.slot-1, -1); err != nil {
		return err
	}
	r.free = append(r.free, f.slot-1)
	return nil
}

func (r *Ring) takeSlot() (int32, bool) {
	if n := len(r.free); n > 0 {
		slot := r.free[n-1]
		r.free = r.free[:n-1]
		return slot, true
	}
	if r.next < r.slots {
		r.next++
		return r.next - 1, true
	}
	return 0, false
}

// updateSlot puts fd in slot of the registered files; -1 empties it.
func (r *Ring) updateSlot(slot, fd int32) error {
	update := struct { // struct io_uring_files_update on a 64-bit kernel
		offset, _ uint32
		fds       unsafe.Pointer // *int32
	}{offset: uint32(slot), fds: unsafe.Pointer(&fd)}
	_, _, errno := syscall.Syscall6(sysRegister, uintptr(r.fd), registerFilesUpdate,
		uintptr(unsafe.Pointer(&update)), 1, 0, 0)
	if errno != 0 {
		return fmt.Errorf("io_uring register: %w", errno)
	}
	return nil
}

func (r *Ring) mmap(p *params) error {
	sqSize := p.sqOff.array + p.sqEntries*4
	cqSize := p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{}))
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.ringMem, err = mapRing(r.fd, offSQRing, sqSize); err != nil {
		return err
	}
	cqMem := r.ringMem
	if !single {
		if r.cqMem, err = mapRing(r.fd, offCQRing, cqSize); err != nil {
			return err
		}
		cqMem = r.cqMem
	}
	if r.sqesMem, err = mapRing(r.fd, offSQEs, p.sqEntries*uint32(unsafe.Sizeof(sqe{}))); err != nil {
		return err
	}
	sq := unsafe.Pointer(&r.ringMem[0])
	r.sqHead = (*uint32)(unsafe.Add(sq, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(sq, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.sqOff.ringMask))
	// The index array maps ring slots to entries; one to one, set once.
	array := unsafe.Slice((*uint32)(unsafe.Add(sq, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqesMem[0])), p.sqEntries)
	cq := unsafe.Pointer(&cqMem[0])
	r.cqHead = (*uint32)(unsafe.Add(cq, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(cq, p.cqOff.cqes)), p.cqEntries)
	return nil
}

func mapRing(fd int, offset int64, size uint32) ([]byte, error) {
	b, err := syscall.Mmap(fd, offset, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	return b, nil
}

// Close releases the ring. Sends queued and not submitted are dropped.
func (r *Ring) Close() error {
	for _, m := range [][]byte{r.sqesMem, r.cqMem, r.ringMem} {
		if m != nil {
			_ = syscall.Munmap(m)
		}
	}
	r.sqesMem, r.cqMem, r.ringMem = nil, nil, nil
	return syscall.Close(r.fd)
}

// Cap is how many sends one batch holds.
func (r *Ring) Cap() int { return int(r.entries) }

// Send queues a write of p to fd, reported with tag by the next Submit.
// fd must be in non-blocking mode (O_NONBLOCK, as the Go runtime's
// sockets are): a full socket then completes with -EAGAIN, or with what
// it took, at once, instead of waiting in the kernel. It reports false,
// queueing nothing, when the batch is full: Submit first. p must not
// change until then.
func (r *Ring) Send(fd int, p []byte, tag uint64) bool {
	if r.queued == r.entries || len(p) == 0 {
		return false
	}
	tail := *r.sqTail // only this goroutine writes it
	e := &r.sqes[tail&r.sqMask]
	*e = sqe{
		// A write, as write(2) would make, to a descriptor Register has
		// not seen: a send fails on anything but a socket. As with
		// write(2), a closed peer is -EPIPE; the Go runtime ignores the
		// SIGPIPE that comes with it.
		opcode:   opWrite,
		fd:       int32(fd),
		off:      ^uint64(0), // the file position: none for sockets and pipes
		addr:     uint64(uintptr(unsafe.Pointer(&p[0]))),
		len:      uint32(len(p)),
		userData: tag,
	}
	if fd < len(r.files) {
		f := r.files[fd]
		if f.socket {
			e.opcode, e.off, e.msgFlags = opSend, 0, msgDontWait|msgNoSignal
		}
		if f.slot != 0 {
			e.flags, e.fd = sqeFixedFile, f.slot-1
		}
	}
	atomic.StoreUint32(r.sqTail, tail+1) // publishes the entry to the kernel
	r.queued++
	r.keepBufs = append(r.keepBufs, p)
	return true
}

// Submit submits the queued sends, waits for all of them, and returns
// their completions, in no particular order. The slice is valid until the
// next Submit. An error means the ring itself failed: the sends it
// reports nothing for may or may not have happened, and the ring must be
// closed.
func (r *Ring) Submit() ([]Completion, error) {
	r.done = r.done[:0]
	want := r.queued
	for uint32(len(r.done)) < want {
		unsubmitted := *r.sqTail - atomic.LoadUint32(r.sqHead)
		_, _, errno := syscall.Syscall6(sysEnter, uintptr(r.fd), uintptr(unsubmitted),
			uintptr(want-uint32(len(r.done))), enterGetEvents, 0, 0)
		switch errno {
		case 0, syscall.EINTR:
			// Interrupted (the Go runtime preempts with signals): what was
			// submitted and completed is read off the rings below.
		case syscall.EAGAIN, syscall.EBUSY:
			runtime.Gosched() // short of kernel memory, or completions to reap
		default:
			r.reset()
			return r.done, fmt.Errorf("io_uring_enter: %w", errno)
		}
		r.reap()
	}
	r.reset()
	return r.done, nil
}

// reap moves the completions the kernel posted into done.
func (r *Ring) reap() {
	head := *r.cqHead // only this goroutine writes it
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		r.done = append(r.done, Completion{Tag: c.userData, Res: c.res})
	}
	atomic.StoreUint32(r.cqHead, head) // frees the slots for the kernel
}

func (r *Ring) reset() {
	r.queued = 0
	clear(r.keepBufs)
	r.keepBufs = r.keepBufs[:0]
}
