// Package shard is the hub's actor: one goroutine that owns a share of the
// connections, their topic index and the shard's broker subscriptions, and
// fans each message out to its clients' queues without ever blocking.
//
// # Goroutines
//
// The shard loop (Run) owns the index and every client's bookkeeping: it
// joins, dispatches, heartbeats and removes. A client has no goroutine of
// its own: the loop writes to it directly when the socket takes the frame
// at once, and otherwise queues to it and starts a flusher, a goroutine
// that writes what is queued and exits when the queue is empty.
//
// # Departed peers
//
// On Linux the loop also keeps its clients' sockets in an epoll set of its
// own and looks at it every 250 ms without waiting (peerwatch.go): a
// client whose peer closed or reset the connection ends as
// ReasonPeerClosed, and frees its slot at once instead of at the second
// heartbeat write after the close; one whose peer sends bytes after its
// request ends as ReasonPeerSentData, before they fill the receive buffer.
// Elsewhere the failed write remains the only sign.
//
// # The write path
//
// Who may write to a client's conn is the client's write state:
//
//	state    meaning
//	idle     no one writes; the next writer takes the client by CAS
//	loop     the shard loop writes (writeNow, writeQueuedNow, a ring send)
//	flusher  a flusher goroutine writes
//	dead     the stream is over for writing: a write failed, or the
//	         goodbye of a retired stream was written; no one writes again
//
//	transition       performed by                              method
//	idle → loop      the loop, for a direct write              acquire (CAS)
//	idle → flusher   the loop as it starts a flusher (wake),   acquire (CAS)
//	                 or a flusher that finds more queued
//	                 after letting go
//	loop → flusher   the loop, when the socket would block:    handOff
//	                 a new flusher writes the rest
//	loop → idle      the loop, when its write is done          release
//	flusher → idle   the flusher, when the queue is empty      release
//	loop → dead      the loop, on a failed write (or a ring    kill
//	                 that failed with the send); it removes
//	                 the client at once
//	flusher → dead   the flusher, as the stream ends; it       kill
//	                 sends the loop a leave with the reason
//
// A dead client is neither written nor queued to, nor evicted as slow:
// the loop removes it for the reason its writer gave. See writeOwner for
// the details.
//
// # Overload
//
// A full queue used to evict its client at once. Under a publisher flood
// every queue fills within a second, and every stream was evicted as slow:
// the hub was short of time, not the clients. So a shard tells the two
// apart by comparing each client with the rest of its shard:
//
//	state   the loop                        a full queue
//	open    dispatches from its inbox       evicts its client (slow), or
//	                                        holds the message and pauses
//	paused  leaves its inbox alone          is not met: no event is queued
//
// A client is behind while its queue is at least half full. The intake
// pauses when more than one in eight of the shard's clients are behind,
// and opens again when at most one in sixteen are. While it is paused the
// broker waits to deliver, and the hub's gate holds publishes back
// (OnCongestion), so an event the hub accepted is never dropped for want
// of room. A client that is behind while the others are not fills its
// queue and is evicted as before: it is the slow one.
//
// A client whose queue is full while few others are behind is evicted only
// if its socket is full too (its peer reads nothing) and it has been behind
// for StallTimeout; with a socket that would take more, its flusher has not
// had a CPU, and a client only just behind may have a reader that missed
// one: the message waits in the client's overflow slot while the shard
// pauses.
//
// A client that stops reading must not hold up the rest. If the shard is
// still paused after StallTimeout, every client that is behind, has taken
// nothing from its queue since the clock started and whose socket is full
// is evicted as slow; one that took nothing for two stall timeouts in a row
// is evicted whatever its socket (its flusher is stuck elsewhere, such as in
// a slow replay).
//
// With io_uring (package uring), the loop's direct writes are sends queued
// in a ring, which must be submitted before the loop does anything else.
// The loop writes directly only within a fanOut, whose end submits; see
// fanOut for why.
package shard
