package shard

// heartbeatBuckets spreads heartbeats: clients are dealt round-robin into
// buckets and one bucket is visited per tick, Heartbeat /
// heartbeatBuckets, so a shard does not write to all of its idle clients
// at once. See heartbeat for the clients that had events.
const heartbeatBuckets = 16

// neverWritten is a new client's lastWrite: its first heartbeat comes at
// its bucket's first visit, so that clients that joined together (a
// reconnect storm) do not get their heartbeats together.
const neverWritten = -heartbeatBuckets

// heartbeat visits the next bucket: it writes a comment to the clients that had nothing written
// for more than half an interval, except those it moves half an interval
// ahead.
//
// A client visited once per interval that got a heartbeat at every visit
// would get one it does not need whenever it had an event since the last
// (a stream with an event a second got one every 15 s: 6% of the writes
// of a 100k-stream broadcast). Skipping the heartbeat without moving the
// client could leave it silent for up to two intervals, past proxies'
// idle timeouts set just above the interval. So a client written to in
// the last half interval moves to the bucket visited half an interval
// later, before its interval is up, and gets none now; one written to
// longer ago gets its heartbeat now, early, as it would be late by the
// next visit. A stream with an event at least every half interval thus
// gets no heartbeats, an idle one one per interval, and the heartbeats of
// streams that had an event together (a broadcast) are spread over half
// an interval instead of coming all at once an interval later.
func (s *Shard) heartbeat() {
	s.tick++
	f := s.beginFanOut()
	defer f.end()
	for c := range s.buckets[s.tick%heartbeatBuckets] {
		if c.writer.dead() {
			continue // removed once the loop takes its writer's leave; see offer
		}
		if c.pending > 0 {
			continue // its head is not written yet
		}
		if len(c.queue) > 0 || c.overflow != nil {
			// What is queued will be written; a heartbeat adds nothing,
			// and a stuck peer's write times out (WriteTimeout).
			c.lastWrite = s.tick
			continue
		}
		if s.tick-c.lastWrite <= heartbeatBuckets/2 {
			s.moveBucket(c, (c.bucket+heartbeatBuckets/2)%heartbeatBuckets)
			continue
		}
		c.lastWrite = s.tick
		if !f.writeNow(c, heartbeat) && s.enqueue(c, heartbeat) {
			s.wake(c)
		}
	}
}

// moveBucket moves c to bucket b of the heartbeat buckets.
func (s *Shard) moveBucket(c *client, b int) {
	delete(s.buckets[c.bucket], c)
	c.bucket = b
	s.buckets[b][c] = struct{}{}
}
