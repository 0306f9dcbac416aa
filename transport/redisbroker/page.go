package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/transport"
)

// DefaultReplayPageBytes is Config.ReplayPageBytes when it is zero. Why
// not 1 MiB: the hub's RSS rose by 12 MiB over a resume of 250 MB with it
// and by 7-9 MiB with this (TestResumeOverLargeHistoryKeepsHubMemoryBounded);
// the garbage a page leaves, go-redis's copies of each entry, sets the
// size of the Go heap.
const DefaultReplayPageBytes = 512 << 10

// ErrHistoryTrimmed is returned by a replay's Next when retention dropped
// events of a stream while the replay was reading it: the replay cannot go
// on without a gap. The client resumes from the last event it got, and
// that resume tells it to reset.
var ErrHistoryTrimmed = errors.New("redis broker: history trimmed during the replay")

// maxPageCount bounds the COUNT of one stream's read in a page. COUNT is
// sized from the largest entry seen so far (entrySize), so that a page
// reads about its budget; an entry larger than any seen before can make a
// read exceed its share, by at most this many entries, once: the next
// read is sized by it. It also keeps the reads of tiny events short.
//
// Why not a script that stops at a byte budget, which would bound a page
// exactly: one was tried, and it took Redis several times as long per
// resume as these reads (BenchmarkRedisResume_8Topics32KB), copying every
// entry into Lua and out again. Redis is the fleet's one shared core.
const maxPageCount = 256

// entrySize is what an entry costs the hub, about: its values (the data
// above all), and its id and SSE framing.
func entrySize(x redis.XMessage) int {
	n := 64
	for _, v := range x.Values {
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	return n
}

// pager reads a replay's events in pages: a k-way merge of the candidate
// streams, each read a share of the page budget at a time with XRANGE
// COUNT. It is owned by whoever calls Next, one call at a time
// (broker.Replay).
type pager struct {
	b   *Broker
	sel broker.Selection
	// last is the newest id handed out of each partition (or the resume
	// point there).
	last eventid.Cursor
	// cursor, for a resume on a partitioned broker, is the stream's
	// cursor once it has the events handed out: each message carries it.
	// Nil otherwise.
	cursor eventid.Cursor
	// perStream: sel is one stream's, which takes one copy of an event
	// published in several partitions (Selection.Takes). A gap fill's sel
	// is the union of a shard's streams, each of which may need another
	// copy: the shard chooses per stream.
	perStream bool
	// switched is when the fleet switched from the single slot to
	// partitions (Redis ms), if it did: see pager.precedes.
	switched uint64
	largest  int             // the largest entrySize seen; sizes COUNT
	streams  []*streamCursor // those not finished; nil when the replay is
}

// streamCursor is where a pager stands in one stream.
type streamCursor struct {
	key  string
	part int // the partition it is in
	// legacy: a topic's stream of the single-slot layout, read for a
	// resume from a single-slot id although the topic is in another
	// partition now (readReplayAt); its events were never copies.
	legacy bool
	head   string     // read nothing newer: it comes live
	after  eventid.ID // the newest id read from the stream (or the resume point)
	// read: after was read from the stream, so it must still be there on
	// the next read, or retention dropped entries after it meanwhile; the
	// resume point itself need not be in the stream.
	read bool
	buf  []*broker.Message // read and not handed out yet, in id order
	done bool              // nothing after buf up to the head
	// For the read in flight.
	count int
	cmd   *redis.XMessageSliceCmd
}

// finished reports whether every event was handed out.
func (p *pager) finished() bool { return len(p.streams) == 0 }

// next returns the next page: events in id order (per partition, on a
// partitioned broker), each newer than the last page's, none twice. Empty
// means the replay is complete.
func (p *pager) next(ctx context.Context) ([]*broker.Message, error) {
	var page []*broker.Message
	// A page can come out empty before the end when a stream's refill held
	// only an event handed out already from another stream; read on.
	for len(page) == 0 && !p.finished() {
		if err := p.fill(ctx); err != nil {
			return nil, err
		}
		page = p.merge(page)
	}
	return page, nil
}

// merge appends to page, in id order, the events that are known to come
// next: it stops at the first stream whose buffer ran out before its end,
// since that stream's next event may be older than every buffered one. It
// scans the streams for each event, which for the few topics of a stream
// is cheaper than keeping a heap.
func (p *pager) merge(page []*broker.Message) []*broker.Message {
	for {
		var low *streamCursor
		for _, s := range p.streams {
			switch {
			case len(s.buf) == 0 && !s.done:
				return page
			case len(s.buf) == 0:
			case low == nil || p.precedes(s.buf[0], low.buf[0]):
				low = s
			}
		}
		if low == nil {
			p.streams = nil
			return page
		}
		m := low.buf[0]
		low.buf[0] = nil // the page holds it from here, not the buffer's array
		low.buf = low.buf[1:]
		// An event published to several topics is in each of their
		// streams; it comes once (docs/protocol.md#delivery-semantics),
		// and an event with topics in several partitions once from the
		// lowest the stream follows (docs/fleet-design.md#partitions).
		if p.last[m.Partition].Less(m.ID) {
			p.last[m.Partition] = m.ID
			if !p.perStream || p.sel.Takes(m) {
				page = append(page, p.positioned(m))
			}
		}
	}
}

// precedes reports whether x is handed out before y: in id order, except
// that across a fleet's switch from the single slot to partitions, every
// event of partition 0 up to the switch comes first. A topic that moved
// to another partition had its events of the single slot in partition 0
// and has the newer ones in its partition, ids from another master's clock
// that may be behind: this keeps them in order per topic. Within a
// partition it is id order, which the pager's dedupe (last) needs.
func (p *pager) precedes(x, y *broker.Message) bool {
	if p.switched > 0 {
		xBefore := x.Partition == 0 && x.ID.Time <= p.switched
		yBefore := y.Partition == 0 && y.ID.Time <= p.switched
		if xBefore != yBefore {
			return xBefore
		}
	}
	return x.ID.Less(y.ID)
}

// fill reads the next entries of every stream whose buffer ran out before
// its end, in one round trip. Each stream reads its share of the page
// budget: with the buffers of the others, which hold at most theirs, the
// pager holds about a budget (and at least one event per stream).
func (p *pager) fill(ctx context.Context) error {
	// Streams only leave the list, so the share of each stream filled
	// before was no larger than today's: the buffers add up to a budget.
	p.streams = slices.DeleteFunc(p.streams, func(s *streamCursor) bool { return s.done && len(s.buf) == 0 })
	var want []*streamCursor
	for _, s := range p.streams {
		if len(s.buf) == 0 && !s.done {
			want = append(want, s)
		}
	}
	if len(want) == 0 {
		return nil
	}
	share := max(1, p.b.cfg.ReplayPageBytes/len(p.streams))
	count := min(maxPageCount, max(1, share/max(1, p.largest)))
	_, err := p.b.client.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for _, s := range want {
			s.count = count
			if s.read {
				// From after itself, to see that it is still there:
				// trims drop the oldest entries first, so if it is,
				// nothing after it was dropped. The hub reads that entry
				// twice; a script that only checked it cut the hub's
				// allocation by a quarter for 32 KB events but doubled
				// Redis's CPU time per resume.
				s.cmd = pl.XRangeN(ctx, s.key, s.after.String(), s.head, int64(count)+1)
			} else {
				s.cmd = pl.XRangeN(ctx, s.key, "("+s.after.String(), s.head, int64(count))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis replay page: %w", err)
	}
	for _, s := range want {
		if err := p.take(s); err != nil {
			return err
		}
	}
	return nil
}

// take decodes the read of s into its buffer.
func (p *pager) take(s *streamCursor) error {
	xs := s.cmd.Val()
	s.cmd = nil
	if s.read {
		if len(xs) == 0 || xs[0].ID != s.after.String() {
			return fmt.Errorf("redis replay of %s after %s: %w", s.key, s.after, ErrHistoryTrimmed)
		}
		xs = xs[1:]
	}
	s.done = len(xs) < s.count
	s.buf = make([]*broker.Message, 0, len(xs))
	for _, x := range xs {
		id, err := eventid.Parse(x.ID)
		if err != nil {
			return fmt.Errorf("redis replay page of %s: entry id %s: %w", s.key, strconv.Quote(x.ID), err)
		}
		p.largest = max(p.largest, entrySize(x))
		field := func(k string) string { v, _ := x.Values[k].(string); return v }
		// A single-slot stream's events were never copies.
		m, err := p.b.newMessage(id, s.part, field("e"), field("t"), field("d"), field("m"), !s.legacy)
		if err != nil {
			return fmt.Errorf("redis replay page of %s: %w", s.key, err)
		}
		s.buf = append(s.buf, m)
		s.after, s.read = id, true
	}
	return nil
}

// positioned returns m as the stream is sent it: for a resume on a
// partitioned broker, under the stream's cursor raised to m.
func (p *pager) positioned(m *broker.Message) *broker.Message {
	if p.cursor == nil {
		return m
	}
	p.cursor[m.Partition] = m.ID
	m.Cursor = slices.Clone(p.cursor)
	m.Body = m.Frame
	m.Frame = transport.CursorFrame(m.Cursor, m.Body)
	return m
}
