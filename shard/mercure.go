package shard

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/hub/topic/uritemplate"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// MercureStream is the Mercure part of a Stream (docs/mercure-design.md,
// "Matchers evaluated in the shard", "Private updates" and "Ids, resume
// and Mercure-Last-Event-ID"). The shard keeps it until the stream has
// joined, then only what it interned from it: the caller must not change
// it after Join. The shard does not change it, so streams may share one.
type MercureStream struct {
	// Selectors is what the stream follows. Its exact selectors are
	// subscribed through Stream.Selection.Topics, which must be their
	// mapped names (Selectors.Mapped); its URI templates and URL patterns
	// are subscribed at the broker through their carriers and matched by
	// the shard on each update's original topics; "*" takes every update.
	Selectors *mercure.Selectors
	// Grants are the subscribe selectors of the stream's token: a private
	// update reaches the stream only if one of its topics matches one
	// (draft-07 §6.5, draft-08 §6.6). Nil for an anonymous stream, which
	// gets public updates only. Replayed updates are checked against
	// them too (draft-08 §7: the current token).
	Grants *mercure.Selectors
	// Head, if not nil, makes the head of a stream that asked to resume
	// (MercureHead). Nil: Stream.Head whatever the stream resumed from.
	// The shard shares it between streams (with their selectors and
	// grants), so its dynamic type must be comparable, such as a pointer
	// or a struct of one door; Join refuses others.
	Head MercureHead
}

// MercureHead makes the HTTP response head and SSE preamble of a Mercure
// stream that asked to resume, for the Mercure-Last-Event-ID header
// (draft-08 §7). A door has one for all its streams: what differs
// between them (their CORS headers, say) is in their Stream.Head.
type MercureHead interface {
	// ResumedHead returns head, the stream's Stream.Head, for a stream
	// that resumed from resumedFrom: the id as the client sent it when
	// the replay from it was exact and the stream selects and may read
	// the event it names (draft-08 §7: the header never names an event
	// the stream may not read); Earliest when "earliest" was asked
	// (the stream then gets all the history the broker holds) or it could
	// not resume exactly (the id is unknown or older than history: the
	// stream goes on from now). A fresh stream (no Stream.LastEventID)
	// gets Stream.Head. It is called once, by the stream's flusher, after
	// the first page of the replay is read and before any event is
	// written: it must not block, and must not modify head, which other
	// streams may share.
	ResumedHead(head []byte, resumedFrom string) []byte
}

// Earliest is the resume id that asks for all history (draft-07 §7,
// draft-08 §7), and the Mercure-Last-Event-ID of a stream that could not
// resume exactly.
const Earliest = "earliest"

// ErrMercurePartitioned is returned by Join for a Mercure stream on a
// broker of several partitions: a publisher id names a position in one
// partition, and matchers would have to take part in Selection.Takes, so
// Mercure runs at one partition for now (the Redis broker refuses Mercure
// publishes at N > 1 likewise).
var ErrMercurePartitioned = errors.New("shard: Mercure streams need a broker of one partition")

// errMercureStream is returned by Join for a Mercure stream it cannot
// serve as described: a caller's bug, not the client's.
var errMercureStream = errors.New("shard: malformed Mercure stream")

// checkMercure refuses a Mercure stream the shard cannot serve.
func (s *Shard) checkMercure(st Stream) error {
	switch {
	case s.partitioned:
		return ErrMercurePartitioned
	case st.Mercure.Selectors == nil:
		return errors.Join(errMercureStream, errors.New("no selectors"))
	case st.Mercure.Head != nil && !reflect.TypeOf(st.Mercure.Head).Comparable():
		// It keys the shard's profiles, where it would panic.
		return errors.Join(errMercureStream, errors.New("a Head that is not comparable"))
	case len(st.Selection.Patterns) > 0:
		return errors.Join(errMercureStream, errors.New("native patterns"))
	}
	return nil
}

// profile is what a joined Mercure stream holds of its MercureStream,
// interned by the shard: the streams of one selection, one grant set and
// one MercureHead share one, so that a Mercure stream holds nothing of
// its own beyond the client a native stream has too (BENCHMARKS.md, "A
// Mercure stream next to a native one"). Immutable
// but refs, which the shard loop owns; the streams' flushers read the
// rest.
type profile struct {
	selection *selection
	grants    *grantSet // nil: anonymous
	head      MercureHead
	refs      int
}

// profileKey is what the shard interns profiles by: selection and grants
// are interned already, so their pointers identify them.
type profileKey struct {
	selection *selection
	grants    *grantSet
	head      MercureHead
}

// selection is a Mercure selection interned by the shard: the streams
// that ask for the same selectors (by Key) share one, with its carriers
// and what a resume asks the broker for, so that no stream holds its own
// parsed selectors. Immutable but refs (the profiles that hold it), which
// the shard loop owns.
type selection struct {
	sel *mercure.Selectors
	// carriers are its matchers' carriers, distinct, and RouteTopic when
	// it holds a URL pattern: subscribed for its streams in carrierIndex.
	carriers []string
	// replaySel is what a resume asks the broker for: the exact mapped
	// topics and RouteTopic as topics, the carriers as patterns.
	replaySel broker.Selection
	refs      int
}

func newSelection(sel *mercure.Selectors) *selection {
	var patterns []string
	for _, t := range sel.Templates() {
		patterns = appendDistinct(patterns, mercuremap.TemplateCarrier(t))
	}
	for _, p := range sel.Patterns() {
		patterns = appendDistinct(patterns, mercuremap.PatternCarrier(p))
	}
	if sel.All() {
		patterns = appendDistinct(patterns, mercuremap.Carrier(""))
	}
	topics := sel.Mapped()
	x := &selection{sel: sel, carriers: patterns}
	if len(sel.Patterns()) > 0 {
		// A URL pattern matches canonical forms, which a carrier cannot
		// see: topics that need it come through the routing topic too.
		x.carriers = append(slices.Clip(patterns), mercuremap.RouteTopic)
		topics = append(slices.Clip(topics), mercuremap.RouteTopic)
	}
	x.replaySel = broker.Selection{Topics: topics, Patterns: patterns}
	return x
}

func appendDistinct(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// matcherIndex is the shard's index of the distinct matchers its Mercure
// streams hold, each with its streams, and of its "*" streams. Owned by
// the shard loop.
type matcherIndex struct {
	templates uritemplate.Set
	tclients  map[string]map[*client]struct{} // by template source
	patterns  urlpattern.Set
	// base is the URL the patterns resolve relative topics against: the
	// hub's (mercure.Selectors.Base), the same for all its streams.
	base     *urlpattern.Base
	pids     map[string]int          // pattern source -> its id in patterns
	pclients []map[*client]struct{}  // by id in patterns
	all      map[*client]struct{}    // streams holding "*"
	tmatches []*uritemplate.Template // scratch for AppendMatches
	pmatches []int                   // scratch for Match
}

func (x *matcherIndex) add(c *client) {
	sel := c.mercure.selection.sel
	for _, t := range sel.Templates() {
		if x.tclients == nil {
			x.tclients = make(map[string]map[*client]struct{})
		}
		cs := x.tclients[t.String()]
		if cs == nil {
			x.templates.Add(t)
			cs = make(map[*client]struct{}, 1)
			x.tclients[t.String()] = cs
		}
		cs[c] = struct{}{}
	}
	for _, p := range sel.Patterns() {
		if x.base == nil {
			x.base = sel.Base()
		}
		if x.pids == nil {
			x.pids = make(map[string]int)
		}
		id, ok := x.pids[p.String()]
		if !ok {
			id = x.patterns.Add(p)
			x.pids[p.String()] = id
			if id >= len(x.pclients) {
				x.pclients = append(x.pclients, make([]map[*client]struct{}, id+1-len(x.pclients))...)
			}
			x.pclients[id] = make(map[*client]struct{}, 1)
		}
		x.pclients[id][c] = struct{}{}
	}
	if sel.All() {
		if x.all == nil {
			x.all = make(map[*client]struct{})
		}
		x.all[c] = struct{}{}
	}
}

func (x *matcherIndex) remove(c *client) {
	sel := c.mercure.selection.sel
	for _, t := range sel.Templates() {
		if cs := x.tclients[t.String()]; cs != nil {
			delete(cs, c)
			if len(cs) == 0 {
				delete(x.tclients, t.String())
				x.templates.Remove(t.String())
			}
		}
	}
	for _, p := range sel.Patterns() {
		if id, ok := x.pids[p.String()]; ok {
			delete(x.pclients[id], c)
			if len(x.pclients[id]) == 0 {
				x.pclients[id] = nil
				delete(x.pids, p.String())
				x.patterns.Remove(id)
			}
		}
	}
	delete(x.all, c)
}

// grantSet is a grant set interned by the shard: the streams of equal
// grants share one, which remembers its answer for the dispatch it last
// checked, so a private update costs one match per grant set, and a
// pointer and a compare for each stream after the first. sel is
// immutable; the rest is the shard loop's.
type grantSet struct {
	sel      *mercure.Selectors
	refs     int    // the profiles that hold it
	dispatch uint64 // the dispatch ok answers for; 0: none yet
	ok       bool
}

// joinMercure indexes the Mercure stream c: its matchers, grants, exact
// topics and carriers. On failure to subscribe it removes c and reports
// false.
func (s *Shard) joinMercure(c *client) bool {
	p := s.internProfile(c.joining)
	// What the request asked for is garbage once its goroutine lets go
	// of it: the stream's exact topics become the interned ones.
	c.mercure, c.joining = p, nil
	c.sel.Topics = p.selection.sel.Mapped()
	s.matchers.add(c)
	for _, t := range c.sel.Topics {
		if !s.add(mercureIndex, t, c) {
			return false
		}
	}
	for _, name := range p.selection.carriers {
		if !s.add(carrierIndex, name, c) {
			return false
		}
	}
	return true
}

// internProfile returns the shard's profile for m, with a reference more.
func (s *Shard) internProfile(m *MercureStream) *profile {
	x := s.selections[m.Selectors.Key()]
	if x == nil {
		x = newSelection(m.Selectors)
		s.selections[m.Selectors.Key()] = x
	}
	var g *grantSet
	if m.Grants != nil {
		if g = s.grants[m.Grants.Key()]; g == nil {
			g = &grantSet{sel: m.Grants}
			s.grants[m.Grants.Key()] = g
		}
	}
	k := profileKey{selection: x, grants: g, head: m.Head}
	p := s.profiles[k]
	if p == nil {
		p = &profile{selection: x, grants: g, head: m.Head}
		s.profiles[k] = p
		x.refs++
		if g != nil {
			g.refs++
		}
	}
	p.refs++
	return p
}

// leaveMercure undoes joinMercure, also after one that failed part way.
func (s *Shard) leaveMercure(c *client) {
	p := c.mercure
	s.matchers.remove(c)
	for _, t := range c.sel.Topics {
		s.drop(mercureIndex, t, c)
	}
	for _, name := range p.selection.carriers {
		s.drop(carrierIndex, name, c)
	}
	if p.refs--; p.refs > 0 {
		return
	}
	delete(s.profiles, profileKey{selection: p.selection, grants: p.grants, head: p.head})
	if g := p.grants; g != nil {
		if g.refs--; g.refs == 0 {
			delete(s.grants, g.sel.Key())
		}
	}
	x := p.selection
	if x.refs--; x.refs == 0 {
		delete(s.selections, x.sel.Key())
	}
}

// deliverMercure is deliver for a Mercure update: to the exact
// subscribers of its mapped topics, the streams of the matchers that one
// of its original topics matches, and the "*" streams, each once. Only
// Mercure streams are in these indexes, so native streams never take it.
func (s *Shard) deliverMercure(f fanOut, m *broker.Message) (n int) {
	for _, t := range m.Topics {
		if sub := s.mexact[t]; sub != nil {
			for c := range sub.clients {
				n += s.offerMercure(f, c, m)
			}
		}
	}
	x := &s.matchers
	if x.templates.Len() > 0 || x.patterns.Len() > 0 {
		for _, o := range m.Mercure.Topics {
			x.tmatches = x.templates.AppendMatches(x.tmatches[:0], o)
			for _, t := range x.tmatches {
				for c := range x.tclients[t.String()] {
					n += s.offerMercure(f, c, m)
				}
			}
			// A template also selects its own text (draft-07 §3, step
			// 2), which reaches the shard through its carrier.
			for c := range x.tclients[o] {
				n += s.offerMercure(f, c, m)
			}
			x.pmatches = x.patterns.MatchBase(o, x.base, x.pmatches[:0])
			for _, id := range x.pmatches {
				for c := range x.pclients[id] {
					n += s.offerMercure(f, c, m)
				}
			}
		}
	}
	for c := range x.all {
		n += s.offerMercure(f, c, m)
	}
	return n
}

// offerMercure is offer for a Mercure update, which a private update
// passes only to a stream granted one of its topics.
func (s *Shard) offerMercure(f fanOut, c *client, m *broker.Message) int {
	if m.Mercure.Private && !s.granted(c.mercure.grants, m) {
		return 0
	}
	return f.offer(c, m)
}

// granted reports whether g grants one of the private update m's topics,
// matching once per dispatch. A nil g (anonymous) grants nothing.
func (s *Shard) granted(g *grantSet, m *broker.Message) bool {
	if g == nil {
		return false
	}
	if g.dispatch != s.dispatches {
		g.dispatch, g.ok = s.dispatches, g.sel.MatchesAny(m.Mercure.Topics)
	}
	return g.ok
}

// keeps reports whether the Mercure streams of p take the replayed
// message m: a Mercure update one of whose original topics they select
// and, if private, their grants allow. The broker was asked by carrier, a
// superset. Called by a stream's flusher: it reads only immutable state.
func (p *profile) keeps(m *broker.Message) bool {
	mm := m.Mercure
	if mm == nil || !p.selection.sel.MatchesAny(mm.Topics) {
		return false
	}
	return !mm.Private || p.grants != nil && p.grants.sel.MatchesAny(mm.Topics)
}

// replayFrom replays the history after the event hubID for the Mercure
// stream of profile p. It reads from just before hubID, so that the
// event itself comes first when the stream selects it, and reports
// whether the stream may read it (visible), which decides whether the
// head may name it; the event is not replayed. Where the history cannot
// be read from just before it (hubID is the oldest event kept, or not a
// hub id), it replays after hubID, and visible is false.
func (s *Shard) replayFrom(ctx context.Context, p *profile, hubID string) (r broker.Replay, visible bool, err error) {
	if id, perr := eventid.Parse(hubID); perr == nil && !id.IsZero() {
		r, err = s.broker.Replay(ctx, p.selection.replaySel, id.Prev().String())
		if err != nil || r.Reset == nil {
			if len(r.Messages) > 0 && r.Messages[0].ID == id {
				visible = p.keeps(r.Messages[0])
				r.Messages = r.Messages[1:]
				if len(r.Messages) == 0 && r.Next != nil {
					// The page held that event alone (the pager makes one
					// event pages of large events): an empty first page
					// would end the replay, so read the next one now.
					r.Messages, err = r.Next(ctx)
				}
			}
			return r, visible, err
		}
	}
	r, err = s.broker.Replay(ctx, p.selection.replaySel, hubID)
	return r, false, err
}

// resumePoint resolves a Mercure stream's Last-Event-ID into the hub id
// to replay after: "#<id>" is the hub's own, anything else a publisher
// id (broker.PublisherIDs). ok is false when there is nothing to resume
// from exactly: "earliest" (which openMercure asks the broker for as all
// it retains, broker.RetainedReplayer), or a publisher id the broker does
// not know.
func (s *Shard) resumePoint(ctx context.Context, id string) (hubID string, ok bool, err error) {
	switch {
	case id == Earliest:
		return "", false, nil
	case strings.HasPrefix(id, "#"):
		return id[1:], true, nil
	}
	p, can := s.broker.(broker.PublisherIDs)
	if !can {
		return "", false, nil
	}
	hid, found, err := p.LookupPublisherID(ctx, id)
	if err != nil || !found {
		return "", false, err
	}
	return hid.String(), true, nil
}

// openMercure writes a Mercure stream's head and replay to b: it reads
// the replay's first page first, since the head says whether the stream
// resumed exactly (MercureHead). A Mercure stream never gets
// ssehub.reset: its head's Earliest is the loss signal, and the stream
// goes on live.
func (s *Shard) openMercure(c *client, b *batch) (Reason, bool) {
	p := c.mercure
	var (
		r       broker.Replay
		resumed bool
		from    string
	)
	if c.lastEventID != "" {
		from = Earliest
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReplayTimeout)
		var err error
		if retained, can := s.broker.(broker.RetainedReplayer); can && c.lastEventID == Earliest {
			// All the history the broker holds, whatever it lost before:
			// the head still says earliest, as the drafts ask.
			r, err = retained.ReplayRetained(ctx, p.selection.replaySel)
			resumed = err == nil
		} else {
			var hubID string
			var ok bool
			var visible bool
			hubID, ok, err = s.resumePoint(ctx, c.lastEventID)
			if err == nil && ok {
				r, visible, err = s.replayFrom(ctx, p, hubID)
			}
			if err == nil && ok && r.Reset == nil {
				resumed, from = true, c.lastEventID
				if !visible {
					// The head never names an event the stream may not
					// read (draft-08 §7): the client's id of a private
					// update it is not granted, or of one it does not
					// select. earliest says only that something may be
					// missing; the replay is exact all the same.
					from = Earliest
				}
			} else if r.Reset != nil {
				s.resets.Add(1)
			}
		}
		cancel()
		if err != nil {
			return ReasonReplayFailed, true
		}
	}
	head := c.head
	if from != "" && p.head != nil {
		head = p.head.ResumedHead(c.head, from)
	}
	if err := b.add(c, head); err != nil {
		return ReasonWriteFailed, true
	}
	if !resumed {
		// Nothing replayed: live events since the subscription are all
		// the stream's.
		return 0, false
	}
	s.replays.Add(1)
	for msgs := r.Messages; ; {
		for _, m := range msgs {
			if !p.keeps(m) {
				continue
			}
			s.replayed.Add(1)
			if err := b.add(c, m.Frame); err != nil {
				return ReasonWriteFailed, true
			}
		}
		if r.Next == nil || len(msgs) == 0 {
			break
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReplayTimeout)
		var err error
		msgs, err = r.Next(ctx)
		cancel()
		if err != nil {
			return ReasonReplayFailed, true
		}
	}
	c.skipThrough = r.Head
	return 0, false
}
