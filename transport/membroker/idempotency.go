package membroker

import (
	"cmp"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
)

// idemRecords remembers the events published under an idempotency key,
// as the Redis broker's records do: "<key>:<index in the batch>" to the
// digest of the request and the event's id. Guarded by the broker's mu.
type idemRecords struct {
	max   int
	byKey map[string]idemRecord
	// order holds the records in the order they were added. They are
	// dropped from its front once expired, or once there are more than
	// max. A record with a long TTL behind one with a short TTL is
	// dropped late, which only keeps it longer.
	order []orderEntry
	added uint64 // records ever added, numbering them
}

type idemRecord struct {
	digest  string
	id      eventid.ID
	expires time.Time
	seq     uint64
}

// orderEntry is one record's place in idemRecords.order. A key that is
// added again once its record expired gets a new entry; seq tells the
// old one, which drops nothing.
type orderEntry struct {
	key string
	seq uint64
}

func newIdemRecords(max int) idemRecords {
	return idemRecords{max: max, byKey: make(map[string]idemRecord)}
}

func recordKey(key string, i int) string { return key + ":" + strconv.Itoa(i) }

// matches reports whether the batch published under idem.Key, if any, had
// idem.Digest, judged by its first event's record as on Redis.
func (r *idemRecords) matches(idem broker.Idempotency, now time.Time) bool {
	rec, ok := r.byKey[recordKey(idem.Key, 0)]
	return !ok || !now.Before(rec.expires) || rec.digest == idem.Digest
}

// lookup returns the id event i of a publish under idem got, if it was
// published and is still remembered.
func (r *idemRecords) lookup(idem broker.Idempotency, i int, now time.Time) (eventid.ID, bool) {
	if idem.Key == "" {
		return eventid.ID{}, false
	}
	rec, ok := r.byKey[recordKey(idem.Key, i)]
	return rec.id, ok && now.Before(rec.expires)
}

// add remembers that event i of a publish under idem got id.
func (r *idemRecords) add(idem broker.Idempotency, i int, id eventid.ID, now time.Time) {
	if idem.Key == "" {
		return
	}
	k := recordKey(idem.Key, i)
	ttl := cmp.Or(idem.TTL, broker.DefaultIdempotencyTTL)
	r.added++
	r.byKey[k] = idemRecord{digest: idem.Digest, id: id, expires: now.Add(ttl), seq: r.added}
	r.order = append(r.order, orderEntry{k, r.added})
	for len(r.byKey) > r.max && len(r.order) > 0 {
		r.drop()
	}
}

// expire drops the records that have expired, oldest first.
func (r *idemRecords) expire(now time.Time) {
	for len(r.order) > 0 {
		e := r.order[0]
		if rec, ok := r.byKey[e.key]; ok && rec.seq == e.seq && now.Before(rec.expires) {
			return
		}
		r.drop()
	}
}

// drop forgets the oldest record.
func (r *idemRecords) drop() {
	e := r.order[0]
	if rec, ok := r.byKey[e.key]; ok && rec.seq == e.seq {
		delete(r.byKey, e.key)
	}
	r.order[0] = orderEntry{}
	r.order = r.order[1:]
	if len(r.order) == 0 {
		r.order = nil // let go of the array append kept growing
	}
}
