package shard

import "sync/atomic"

// writeOwner says who may write to a client's conn and use what its
// writer owns: the queue's receiving end, skipThrough and partial. The
// states and the transitions between them are tabled in the package
// documentation (doc.go); each transition is a method of writeState.
//
// Only acquire races with another goroutine (a flusher letting go while
// the loop wakes it); every other transition is made by the owner, the
// only one that may leave its state. Those compare and swap all the same,
// which costs no more than an atomic store, so that a broken rule panics
// at once rather than letting two writers interleave frames.
//
// Each transition is one atomic operation, and acquire reads what the
// last release wrote, so the new owner's accesses to the fields above come
// after the old owner's, with no lock; after a handOff, the go statement
// that starts the flusher orders them.
type writeOwner uint32

// The write states; see writeOwner.
const (
	writeIdle writeOwner = iota
	writeLoop
	writeFlusher
	writeDead
)

var writeOwnerNames = [...]string{
	writeIdle:    "idle",
	writeLoop:    "loop",
	writeFlusher: "flusher",
	writeDead:    "dead",
}

// String returns the state's name, for panics.
func (o writeOwner) String() string {
	if int(o) < len(writeOwnerNames) {
		return writeOwnerNames[o]
	}
	return "invalid"
}

// writeState is a client's writeOwner, changed only by the transitions in
// writeOwner's table. The zero value is idle.
type writeState struct{ v atomic.Uint32 }

// owner returns the current owner. Anyone may look; only the owner's own
// view stays true until it acts.
func (w *writeState) owner() writeOwner { return writeOwner(w.v.Load()) }

// dead reports whether no one will write to the client again: it is
// waiting for the loop to remove it for the reason its writer gave.
func (w *writeState) dead() bool { return w.owner() == writeDead }

// acquire makes by (the loop or a flusher) the owner if no one is, and
// reports whether it did.
func (w *writeState) acquire(by writeOwner) bool {
	// Loading first spares the CAS's exclusive cache-line access in the
	// common case of a busy flusher.
	return w.v.Load() == uint32(writeIdle) && w.v.CompareAndSwap(uint32(writeIdle), uint32(by))
}

// handOff passes ownership from the loop to the flusher it is about to
// start.
func (w *writeState) handOff() { w.move(writeLoop, writeFlusher) }

// release lets go of the client: by was its owner.
func (w *writeState) release(by writeOwner) { w.move(by, writeIdle) }

// kill marks the client dead: by was its owner.
func (w *writeState) kill(by writeOwner) { w.move(by, writeDead) }

// move changes the state from from, which must be the current owner, to to.
func (w *writeState) move(from, to writeOwner) {
	if !w.v.CompareAndSwap(uint32(from), uint32(to)) {
		badMove(w.owner(), from, to)
	}
}

// badMove panics for a transition the table does not allow. It is apart
// from move so that move stays small enough to inline.
//
//go:noinline
func badMove(now, from, to writeOwner) {
	panic("shard: write state " + now.String() + ", not " + from.String() + ", on the move to " + to.String())
}
