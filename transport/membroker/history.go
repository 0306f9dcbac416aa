package membroker

import (
	"slices"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
)

// DefaultHistoryBudget is how many bytes of events the embedded broker
// keeps for resume in all when Config.HistoryBudget is zero.
const DefaultHistoryBudget = 256 << 20

// entryOverhead is what an event costs the budget beyond its frame and
// topic names: the message, its entry and the slice slots that hold it.
const entryOverhead = 160

// history is the embedded broker's retained events, kept twice over:
// by topic, for resumes that name their topics, and all of them in one
// log in id order. The log is what the total budget drops from, oldest
// first, and what a resume by pattern walks from its resume point, so
// that its cost follows the events published since then rather than the
// number of topics ever used.
//
// Guarded by Broker.mu, except for the arrays of log that snapshot hands
// out: they are never written below the length they had then (appends
// write past it, and compaction copies the live entries to a new array),
// so a replay reads a snapshot without the lock while publishing goes on.
type history struct {
	perTopic int           // events kept per topic
	ttl      time.Duration // how long an event is kept
	budget   int           // bytes the retained events may take in all

	topics map[string]*topicHistory
	// log holds every retained event, oldest first, and also events no
	// topic holds any more (dead ones) until the next compaction.
	log []*entry

	liveBytes, liveCount   int // entries some topic holds
	wasteBytes, wasteCount int // dead entries still referenced by log's array
	// dropped is the newest id the budget dropped: a resume by pattern
	// from before it may have lost events of a topic it cannot see any
	// more.
	dropped eventid.ID
	// swept is the newest trim mark of a topic record sweep deleted: a
	// resume by pattern that read a snapshot before the sweep cannot see
	// that topic's mark any more, so it goes by this one.
	swept     eventid.ID
	drops     uint64 // events the budget dropped
	lastSweep time.Time

	// publisherIDs maps the id a Mercure publisher chose to the newest
	// retained event that has it (broker.PublisherIDs); an entry goes
	// when its event does, so it is bounded as history is.
	publisherIDs map[string]*entry
}

// entry is one retained event, shared by the log and the histories of its
// topics.
type entry struct {
	msg  *broker.Message // read without the lock by replays of a snapshot
	cost int             // bytes counted against the budget
	// holders counts the topic histories that hold the entry; at zero it is
	// dead (kept only by the log's array until compaction).
	holders int
}

// topicHistory is one topic's retained events, oldest first.
type topicHistory struct {
	entries []*entry
	// since is the first id recorded. The topic may have had events before
	// it whose record was swept after they aged out.
	since eventid.ID
	// trimmed is the newest id dropped by retention: a resume from before it
	// has lost events.
	trimmed eventid.ID
}

func newHistory(perTopic int, ttl time.Duration, budget int) history {
	return history{perTopic: perTopic, ttl: ttl, budget: budget, topics: make(map[string]*topicHistory),
		publisherIDs: make(map[string]*entry)}
}

// retain appends m to the log and to the history of each of its topics,
// then applies retention: per topic, by age, and the total budget.
func (h *history) retain(m *broker.Message, now time.Time) {
	e := &entry{msg: m, cost: entryOverhead + len(m.Frame)}
	for _, t := range m.Topics {
		e.cost += len(t)
	}
	h.log = append(h.log, e)
	if pid := publisherID(m); pid != "" {
		h.publisherIDs[pid] = e
		e.cost += len(pid) + entryOverhead/2 // the map's entry
	}
	h.liveBytes += e.cost
	h.liveCount++
	for _, t := range m.Topics {
		th := h.topics[t]
		if th == nil {
			th = &topicHistory{since: m.ID}
			h.topics[t] = th
		}
		th.entries = append(th.entries, e)
		e.holders++
	}
	// Trimmed only once every topic holds e: a trim that let go of e
	// (--history-size 0 keeps nothing) must find it held by all of them,
	// or it would die once per topic.
	for _, t := range m.Topics {
		h.trim(h.topics[t], now)
	}
	h.enforceBudget()
	h.tidyLog()
}

// trim applies the per-topic count and the TTL to th.
func (h *history) trim(th *topicHistory, now time.Time) {
	cut := max(len(th.entries)-h.perTopic, 0)
	horizon := uint64(now.Add(-h.ttl).UnixMilli())
	for cut < len(th.entries) && th.entries[cut].msg.ID.Time < horizon {
		cut++
	}
	if cut == 0 {
		return
	}
	th.trimmed = th.entries[cut-1].msg.ID
	for _, e := range th.entries[:cut] {
		h.release(e)
	}
	clear(th.entries[:cut])
	th.entries = th.entries[cut:]
	if cap(th.entries) > 2*h.perTopic+16 {
		th.entries = slices.Clone(th.entries) // let go of the array append kept growing
	}
}

// release records that one topic let go of e.
func (h *history) release(e *entry) {
	if e.holders--; e.holders > 0 {
		return
	}
	h.liveBytes -= e.cost
	h.liveCount--
	if pid := publisherID(e.msg); pid != "" && h.publisherIDs[pid] == e {
		delete(h.publisherIDs, pid)
	}
	h.wasteBytes += e.cost
	h.wasteCount++
}

// enforceBudget drops the oldest events from every topic that holds
// them until the live ones fit the budget. The newest event always
// stays, however large: it is what the publisher just got an id for.
func (h *history) enforceBudget() {
	for h.liveBytes > h.budget && len(h.log) > 1 {
		e := h.log[0]
		h.log = h.log[1:] // not cleared: a snapshot may still read it
		if e.holders == 0 {
			continue
		}
		// Every topic that still holds e has it first: whatever it held
		// before e is older and was dropped already.
		for _, t := range e.msg.Topics {
			th := h.topics[t]
			for th != nil && len(th.entries) > 0 && th.entries[0] == e {
				th.entries[0] = nil
				th.entries = th.entries[1:]
				th.trimmed = e.msg.ID
				h.release(e)
			}
		}
		h.dropped = e.msg.ID
		h.drops++
	}
}

// tidyLog takes dead entries off the front of the log, and copies the
// live ones to a new array once the dead ones would otherwise hold on to
// more than a quarter as many bytes, or as many entries, as the live ones
// (plus a little slack, so small histories are not copied again and again).
func (h *history) tidyLog() {
	for len(h.log) > 0 && h.log[0].holders == 0 {
		h.log = h.log[1:]
	}
	if h.wasteBytes <= h.liveBytes/4+1<<20 && h.wasteCount <= h.liveCount+1024 {
		return
	}
	live := make([]*entry, 0, h.liveCount+h.liveCount/4+16)
	for _, e := range h.log {
		if e.holders > 0 {
			live = append(live, e)
		}
	}
	h.log = live
	h.wasteBytes, h.wasteCount = 0, 0
}

// sweep applies the TTL to every topic and drops topics whose every event
// has aged out, at most a few times per TTL. Replay does not need their
// trim marks: a resume point recent enough to be within the TTL is newer
// than everything such a topic ever held, and an older one is answered
// with a reset anyway.
func (h *history) sweep(now time.Time) {
	if now.Sub(h.lastSweep) < h.ttl/8 {
		return
	}
	h.lastSweep = now
	horizon := uint64(now.Add(-h.ttl).UnixMilli())
	for t, th := range h.topics {
		h.trim(th, now)
		if len(th.entries) == 0 && th.trimmed.Time < horizon {
			delete(h.topics, t)
			if h.swept.Less(th.trimmed) {
				h.swept = th.trimmed
			}
		}
	}
	h.tidyLog()
}

// after appends to msgs the events of th after the resume point, and
// reports false if retention dropped some of them. mayHaveSwept says the
// resume point is older than the TTL, so events may have gone with a
// swept record too.
func (th *topicHistory) after(msgs []*broker.Message, after eventid.ID, mayHaveSwept bool) ([]*broker.Message, bool) {
	if after.Less(th.trimmed) || (mayHaveSwept && after.Less(th.since)) {
		return msgs, false
	}
	i, _ := slices.BinarySearchFunc(th.entries, after, func(e *entry, id eventid.ID) int {
		return e.msg.ID.Compare(id)
	})
	for _, e := range th.entries[i:] {
		if e.msg.ID != after {
			msgs = append(msgs, e.msg)
		}
	}
	return msgs, true
}

// snapshot returns the log's entries after the resume point, to be read
// without the lock (see history). It may include dead entries; the events
// they carry were published after the resume point all the same.
func (h *history) snapshot(after eventid.ID) []*entry {
	i, _ := slices.BinarySearchFunc(h.log, after, func(e *entry, id eventid.ID) int {
		return e.msg.ID.Compare(id)
	})
	if i < len(h.log) && h.log[i].msg.ID == after {
		i++
	}
	return h.log[i:len(h.log):len(h.log)]
}

// publisherID is the id m's Mercure publisher chose, or "".
func publisherID(m *broker.Message) string {
	if m.Mercure == nil {
		return ""
	}
	return m.Mercure.ID
}
