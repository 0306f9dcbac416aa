package shard

import (
	"container/heap"
	"time"
)

// expiryHeap holds the shard's streams that have an expiry (Stream.Expires),
// soonest first, so that a tick finds the ones due by looking at the top:
// a stream ends when its token expires (Mercure draft-07 §6.5 "at that
// time", draft-08 §6.6 "no later than"), not at its next heartbeat visit,
// which may be a whole interval later. Owned by the shard loop; each
// client knows its place (client.expiry), so a removed one leaves at once.
type expiryHeap []*client

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].expiry, h[j].expiry = int32(i)+1, int32(j)+1
}

// Push and Pop are for container/heap only.
func (h *expiryHeap) Push(x any) {
	c := x.(*client)
	*h = append(*h, c)
	c.expiry = int32(len(*h))
}

func (h *expiryHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.expiry = 0
	return c
}

// watchExpiry puts a joining client with an expiry in the heap.
func (s *Shard) watchExpiry(c *client) {
	if !c.expires.IsZero() {
		heap.Push(&s.expiring, c)
	}
}

// unwatchExpiry takes a removed client out of the heap.
func (s *Shard) unwatchExpiry(c *client) {
	if c.expiry > 0 {
		heap.Remove(&s.expiring, int(c.expiry)-1)
	}
}

// expire ends the streams whose credentials expire before the next tick
// (within tick of now): never later than their expiry, at most one tick
// (Heartbeat/16, under a second by default) before it.
func (s *Shard) expire(now time.Time, tick time.Duration) {
	horizon := now.Add(tick)
	for len(s.expiring) > 0 && !s.expiring[0].expires.After(horizon) {
		s.remove(s.expiring[0], ReasonTokenExpired) // unwatchExpiry pops it
	}
}
