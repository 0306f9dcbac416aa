package urlpattern

// Set holds many patterns and finds the ones an input matches, faster than
// testing each. It is meant to be owned by one goroutine (a shard loop):
// Add and Remove must not run concurrently with anything else, while Match
// calls may run concurrently with each other.
//
// Patterns are indexed by their [Pattern.Literal] in a radix tree. Match
// parses the input once, walks the tree along the input's [IndexKey]
// (O(len(key))), and tests only the patterns whose literal is a prefix of
// the key, reusing the parsed input for each. So a topic costs one parse,
// one walk and one test per candidate. Patterns that share a literal with
// the topic (same scheme, host and leading path) are candidates; patterns
// whose literal is empty (the protocol is not fixed text, as in
// "*://example.com/*") or short ("https://*.example.com/*" has the literal
// "https://") are candidates for every topic they could match, so a set of
// such patterns costs about as much as testing each.
//
// The zero Set is empty and ready to use.
type Set struct {
	entries []setEntry // by id; pattern nil when free
	free    []int32
	root    node
	n       int
}

type setEntry struct {
	p    *Pattern
	node *node
}

// node is a radix tree node: label is the text from the parent, ids the
// patterns whose literal ends here.
type node struct {
	label    string
	children []*node // sorted by the first byte of their labels
	ids      []int32
}

// Add adds p and returns its id, the smallest id not in use. Ids are what
// Match reports.
func (s *Set) Add(p *Pattern) int {
	var id int32
	if k := len(s.free); k > 0 {
		id, s.free = s.free[k-1], s.free[:k-1]
	} else {
		id = int32(len(s.entries))
		s.entries = append(s.entries, setEntry{})
	}
	n := s.root.insert(p.literal)
	n.ids = append(n.ids, id)
	s.entries[id] = setEntry{p: p, node: n}
	s.n++
	return int(id)
}

// Remove removes the pattern with the given id, which Add returned. It
// reports whether there was one.
func (s *Set) Remove(id int) bool {
	if id < 0 || id >= len(s.entries) || s.entries[id].p == nil {
		return false
	}
	e := &s.entries[id]
	ids := e.node.ids
	for i, x := range ids {
		if int(x) == id {
			ids[i] = ids[len(ids)-1]
			e.node.ids = ids[:len(ids)-1]
			break
		}
	}
	*e = setEntry{}
	s.free = append(s.free, int32(id))
	s.n--
	return true
}

// Len returns the number of patterns in the set.
func (s *Set) Len() int { return s.n }

// Pattern returns the pattern with the given id, or nil.
func (s *Set) Pattern(id int) *Pattern {
	if id < 0 || id >= len(s.entries) {
		return nil
	}
	return s.entries[id].p
}

// Match appends to dst the ids of the patterns input matches, in no
// particular order, and returns the extended slice. It does not allocate
// when dst has room and input is canonical with an IndexKey of at most
// 512 bytes.
func (s *Set) Match(input string, dst []int) []int { return s.MatchBase(input, nil, dst) }

// MatchBase is Match for input resolved against base, as
// [Pattern.TestBase] resolves it, so that a relative input (a Mercure
// topic such as "/.well-known/mercure/subscriptions/...") matches the
// patterns its absolute form matches. A nil base is Match. It allocates
// no more than TestBase does.
func (s *Set) MatchBase(input string, base *Base, dst []int) []int {
	var u url
	if s.n == 0 || !parseInput(input, base, &u) {
		return dst
	}
	var buf [512]byte
	key := u.appendKey(buf[:0])
	n := &s.root
	for {
		for _, id := range n.ids {
			if s.entries[id].p.match(&u) {
				dst = append(dst, int(id))
			}
		}
		if len(key) == 0 {
			return dst
		}
		n = n.child(key[0])
		if n == nil || len(key) < len(n.label) || string(key[:len(n.label)]) != n.label {
			return dst
		}
		key = key[len(n.label):]
	}
}

// child returns the child whose label starts with c, or nil.
func (n *node) child(c byte) *node {
	lo, hi := 0, len(n.children)
	for lo < hi {
		m := (lo + hi) / 2
		switch f := n.children[m].label[0]; {
		case f == c:
			return n.children[m]
		case f < c:
			lo = m + 1
		default:
			hi = m
		}
	}
	return nil
}

// insert returns the node for key under n, splitting labels as needed.
func (n *node) insert(key string) *node {
	for key != "" {
		c := n.child(key[0])
		if c == nil {
			c = &node{label: key}
			n.addChild(c)
			return c
		}
		common := 0
		for common < len(c.label) && common < len(key) && c.label[common] == key[common] {
			common++
		}
		if common < len(c.label) {
			// Split c: the shared part becomes a new node in its place,
			// with c, shortened, below it.
			mid := &node{label: c.label[:common], children: []*node{c}}
			n.replaceChild(mid)
			c.label = c.label[common:]
			c = mid
		}
		n, key = c, key[common:]
	}
	return n
}

func (n *node) addChild(c *node) {
	i := 0
	for i < len(n.children) && n.children[i].label[0] < c.label[0] {
		i++
	}
	n.children = append(n.children, nil)
	copy(n.children[i+1:], n.children[i:])
	n.children[i] = c
}

// replaceChild puts c in place of the child with the same first byte.
func (n *node) replaceChild(c *node) {
	for i, old := range n.children {
		if old.label[0] == c.label[0] {
			n.children[i] = c
			return
		}
	}
}
