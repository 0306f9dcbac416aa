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
)

// DefaultReplayPageBytes is Config.ReplayPageBytes when it is zero.
const DefaultReplayPageBytes = 1 << 20

// ErrHistoryTrimmed is returned by a replay's Next when retention dropped
// events of a stream while the replay was reading it: the replay cannot go
// on without a gap. The client resumes from the last event it got, and
// that resume tells it to reset.
var ErrHistoryTrimmed = errors.New("redis broker: history trimmed during the replay")

// readPageScript reads the next entries of several streams, at most about
// a byte budget of each, in one round trip. Why a script rather than
// XRANGE with COUNT: entries run from a few bytes to the publish limit, so
// no COUNT bounds the bytes of a reply, and the reply is what the hub holds
// in memory (issue 16, item 5). The script reads in small steps and stops
// at the budget, which it can only exceed to return one entry per stream.
//
// KEYS: the streams. ARGV[1]: the newest id to read (the replay's head);
// ARGV[2]: the bytes to read of each stream; then for each stream the id
// to read after, and "1" if that id was read from the stream before (it
// must still be there, or retention dropped entries after it meanwhile).
//
// The reply has one array per stream: a status ("more"; "done" when
// nothing more is left up to the head; "lost" when the id to read after
// was trimmed), then id, event, data and topics of each entry.
var readPageScript = redis.NewScript(`
local head, share = ARGV[1], tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local after, check = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  local page = {'more'}
  if check == '1' and #redis.call('XRANGE', key, after, after) == 0 then
    page[1] = 'lost'
  else
    local bytes, largest, count, from = 0, 1, 8, '(' .. after
    while true do
      local xs = redis.call('XRANGE', key, from, head, 'COUNT', count)
      local full = false
      for _, x in ipairs(xs) do
        local f = x[2]
        local e, d, t = '', '', ''
        local size = 64 -- the id and the SSE framing
        for j = 1, #f, 2 do
          local v = f[j + 1]
          size = size + #v
          if f[j] == 'e' then e = v elseif f[j] == 'd' then d = v elseif f[j] == 't' then t = v end
        end
        if bytes > 0 and bytes + size > share then
          full = true
          break
        end
        bytes = bytes + size
        largest = math.max(largest, size)
        page[#page + 1] = x[1]
        page[#page + 1] = e
        page[#page + 1] = d
        page[#page + 1] = t
        from = '(' .. x[1]
      end
      if full then break end
      if #xs < count then
        page[1] = 'done'
        break
      end
      -- What is left of the share, in entries like the largest so far,
      -- and one more to find the end: few calls for small entries, little
      -- of Redis's memory for large ones.
      count = math.max(1, math.min(256, math.floor((share - bytes) / largest) + 1))
    end
  end
  out[i] = page
end
return out
`)

// pager reads a replay's events in pages: a k-way merge of the candidate
// streams, each read a budget's share at a time. It is owned by whoever
// calls Next, one call at a time (broker.Replay).
type pager struct {
	b       *Broker
	head    eventid.ID      // read nothing newer: it comes live
	last    eventid.ID      // the newest id handed out (or the resume point)
	streams []*streamCursor // those not finished; nil when the replay is
}

// streamCursor is where a pager stands in one stream.
type streamCursor struct {
	key   string
	after eventid.ID // the newest id read from the stream (or the resume point)
	// read: after was read from the stream, so it must still be there on
	// the next read; the resume point itself may not be in the stream.
	read bool
	buf  []*broker.Message // read and not handed out yet, in id order
	done bool              // nothing after buf up to the head
}

// finished reports whether every event was handed out.
func (p *pager) finished() bool { return len(p.streams) == 0 }

// next returns the next page: events in id order, each newer than the
// last page's, none twice. Empty means the replay is complete.
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
			case low == nil || s.buf[0].ID.Less(low.buf[0].ID):
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
		// streams; it comes once (docs/protocol.md#delivery-semantics).
		if p.last.Less(m.ID) {
			p.last = m.ID
			page = append(page, m)
		}
	}
}

// fill reads the next entries of every stream whose buffer ran out before
// its end, in one round trip. Each stream reads its share of the page
// budget: with the buffers of the others, which hold at most theirs, the
// pager holds about a budget (and at least one event per stream).
func (p *pager) fill(ctx context.Context) error {
	// Streams only leave the list, so the share of each stream filled
	// before was no larger than today's: the buffers add up to a budget.
	p.streams = slices.DeleteFunc(p.streams, func(s *streamCursor) bool { return s.done && len(s.buf) == 0 })
	var keys []string
	var want []*streamCursor
	for _, s := range p.streams {
		if len(s.buf) == 0 && !s.done {
			want = append(want, s)
			keys = append(keys, s.key)
		}
	}
	if len(want) == 0 {
		return nil
	}
	share := max(1, p.b.cfg.ReplayPageBytes/len(p.streams))
	args := make([]any, 0, 2+2*len(want))
	args = append(args, p.head.String(), share)
	for _, s := range want {
		read := "0"
		if s.read {
			read = "1"
		}
		args = append(args, s.after.String(), read)
	}
	res, err := readPageScript.Run(ctx, p.b.client, keys, args...).Slice()
	if err != nil {
		return fmt.Errorf("redis replay page: %w", err)
	}
	if len(res) != len(want) {
		return fmt.Errorf("redis replay page: %d replies for %d streams", len(res), len(want))
	}
	for i, s := range want {
		if err := s.take(res[i]); err != nil {
			return err
		}
	}
	return nil
}

// take decodes the script's reply for s into its buffer.
func (s *streamCursor) take(reply any) error {
	fields, _ := reply.([]any)
	if len(fields) == 0 || (len(fields)-1)%4 != 0 {
		return fmt.Errorf("redis replay page of %s: malformed reply of %d fields", s.key, len(fields))
	}
	switch status, _ := fields[0].(string); status {
	case "lost":
		return fmt.Errorf("redis replay of %s after %s: %w", s.key, s.after, ErrHistoryTrimmed)
	case "done":
		s.done = true
	}
	s.buf = make([]*broker.Message, 0, (len(fields)-1)/4)
	for f := fields[1:]; len(f) > 0; f = f[4:] {
		str := func(i int) string { v, _ := f[i].(string); return v }
		id, err := eventid.Parse(str(0))
		if err != nil {
			return fmt.Errorf("redis replay page of %s: entry id %s: %w", s.key, strconv.Quote(str(0)), err)
		}
		s.buf = append(s.buf, newMessage(id, str(1), str(3), str(2)))
		s.after, s.read = id, true
	}
	return nil
}
