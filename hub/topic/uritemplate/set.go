package uritemplate

import (
	"slices"
	"strings"
)

// Set is a set of templates, distinct by their source text, indexed to
// find the ones a string matches without trying each.
//
// Every match of a template begins with its literal prefix
// ([Template.LiteralPrefix]) and ends with its last literal, so the set
// files templates in a radix tree by prefix, and where many share a prefix,
// by last literal within it. [Set.AppendMatches] walks the tree along the
// string, O(len(s)) byte comparisons, and at each node on the way looks
// the string's end up once per distinct length of those last literals; it
// runs [Template.Match] only on the templates whose prefix and last
// literal the string has. A typical Mercure template
// (https://example.com/books/{id}) has a long, selective prefix; templates
// with neither ({scheme}://example.com/{+path}) are tried for every
// string. Adding and removing are O(len(prefix)) plus map operations.
//
// The zero value is an empty set ready to use. A Set is not safe for
// concurrent use: like a shard's subscriptions, it is owned by one
// goroutine.
type Set struct {
	root    node
	entries map[string]*setEntry // by template source
}

// node is a radix tree node: the prefixes of its templates all equal the
// labels on the path from the root to it, concatenated.
type node struct {
	label    string
	parent   *node
	keys     []byte  // the first byte of each child's label, ascending
	children []*node // in the order of keys
	entries  []*setEntry
	// bySuffix files entries by their template's last literal once there
	// are more than bucketAbove of them; nil until then.
	bySuffix *suffixIndex
}

// bucketAbove is the number of templates at one node above which a string
// is looked up by suffix rather than tried on each: a lookup costs about
// as much as a few Match calls that fail on the suffix.
const bucketAbove = 8

// suffixIndex files a node's templates by last literal.
type suffixIndex struct {
	buckets map[string][]*setEntry
	lens    []suffixLen // ascending by n
}

// suffixLen counts the templates whose last literal is n bytes long.
type suffixLen struct{ n, count int }

// setEntry is a template in a Set, and where it is filed.
type setEntry struct {
	t      *Template
	n      *node
	i      int    // index in n.entries
	suffix string // the template's last literal
	bi     int    // index in n.bySuffix.buckets[suffix]
}

// Len returns the number of templates in the set.
func (s *Set) Len() int { return len(s.entries) }

// Add adds t to the set. It reports false, and changes nothing, if the set
// already holds a template with the same source text.
func (s *Set) Add(t *Template) bool {
	if _, ok := s.entries[t.raw]; ok {
		return false
	}
	if s.entries == nil {
		s.entries = make(map[string]*setEntry)
	}
	prefix, _ := t.LiteralPrefix()
	n := s.root.insert(prefix)
	e := &setEntry{t: t, n: n, i: len(n.entries), suffix: t.lits[len(t.lits)-1]}
	n.entries = append(n.entries, e)
	switch {
	case n.bySuffix != nil:
		n.bySuffix.add(e)
	case len(n.entries) > bucketAbove:
		n.bySuffix = &suffixIndex{buckets: make(map[string][]*setEntry)}
		for _, e := range n.entries {
			n.bySuffix.add(e)
		}
	}
	s.entries[t.raw] = e
	return true
}

// Get returns the template in the set whose source text is template, if
// any, so that a caller can share one parsed Template between the
// subscriptions that use the same selector.
func (s *Set) Get(template string) (*Template, bool) {
	e, ok := s.entries[template]
	if !ok {
		return nil, false
	}
	return e.t, true
}

// Remove removes the template whose source text is template, and reports
// whether there was one.
func (s *Set) Remove(template string) bool {
	e, ok := s.entries[template]
	if !ok {
		return false
	}
	delete(s.entries, template)
	n := e.n
	last := len(n.entries) - 1
	n.entries[e.i] = n.entries[last]
	n.entries[e.i].i = e.i
	n.entries[last] = nil
	n.entries = n.entries[:last]
	if n.bySuffix != nil {
		n.bySuffix.remove(e)
		if len(n.entries) == 0 {
			n.bySuffix = nil
		}
	}
	n.prune(&s.root)
	return true
}

// AppendMatches appends to dst the templates in the set that s matches, in
// no particular order, and returns the extended slice. It does not
// allocate when dst has room.
func (s *Set) AppendMatches(dst []*Template, str string) []*Template {
	n, rest := &s.root, str
	for {
		if n.bySuffix == nil {
			for _, e := range n.entries {
				if e.t.matchAfterPrefix(str) {
					dst = append(dst, e.t)
				}
			}
		} else {
			for _, l := range n.bySuffix.lens {
				if l.n > len(str) {
					break
				}
				for _, e := range n.bySuffix.buckets[str[len(str)-l.n:]] {
					if e.t.matchAfterPrefix(str) {
						dst = append(dst, e.t)
					}
				}
			}
		}
		if rest == "" {
			return dst
		}
		c := n.child(rest[0])
		if c == nil || !strings.HasPrefix(rest, c.label) {
			return dst
		}
		rest = rest[len(c.label):]
		n = c
	}
}

// find returns the index of the child whose label starts with b, or where
// it would go, and whether it is there.
func (n *node) find(b byte) (int, bool) {
	lo, hi := 0, len(n.keys)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if n.keys[mid] < b {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(n.keys) && n.keys[lo] == b
}

func (n *node) child(b byte) *node {
	if i, ok := n.find(b); ok {
		return n.children[i]
	}
	return nil
}

// insert returns the node for prefix under n, creating it, and splitting
// an edge, if need be.
func (n *node) insert(prefix string) *node {
	for prefix != "" {
		i, ok := n.find(prefix[0])
		if !ok {
			// Clone: the label must not keep the template's source alive
			// after the template is removed.
			leaf := &node{label: strings.Clone(prefix), parent: n}
			n.keys = append(n.keys, 0)
			copy(n.keys[i+1:], n.keys[i:])
			n.keys[i] = prefix[0]
			n.children = append(n.children, nil)
			copy(n.children[i+1:], n.children[i:])
			n.children[i] = leaf
			return leaf
		}
		c := n.children[i]
		k := commonPrefixLen(c.label, prefix)
		if k < len(c.label) {
			// prefix leaves c's label at k: put a node for the shared
			// part between n and c.
			mid := &node{label: c.label[:k], parent: n, keys: []byte{c.label[k]}, children: []*node{c}}
			c.label = c.label[k:]
			c.parent = mid
			n.children[i] = mid
			c = mid
		}
		n, prefix = c, prefix[k:]
	}
	return n
}

// prune removes n if it no longer holds templates or leads to any, and
// merges it into its only child if it has one and no templates, so that
// the tree stays as small as the set of prefixes it holds.
func (n *node) prune(root *node) {
	for n != root && len(n.entries) == 0 {
		parent := n.parent
		i, _ := parent.find(n.label[0])
		switch len(n.children) {
		case 0:
			parent.keys = append(parent.keys[:i], parent.keys[i+1:]...)
			copy(parent.children[i:], parent.children[i+1:])
			parent.children[len(parent.children)-1] = nil
			parent.children = parent.children[:len(parent.children)-1]
			n = parent
			continue
		case 1:
			c := n.children[0]
			c.label = n.label + c.label
			c.parent = parent
			parent.children[i] = c
		}
		return
	}
}

func (x *suffixIndex) add(e *setEntry) {
	bucket := x.buckets[e.suffix]
	e.bi = len(bucket)
	x.buckets[e.suffix] = append(bucket, e)
	i, ok := x.findLen(len(e.suffix))
	if !ok {
		x.lens = slices.Insert(x.lens, i, suffixLen{n: len(e.suffix)})
	}
	x.lens[i].count++
}

func (x *suffixIndex) remove(e *setEntry) {
	bucket := x.buckets[e.suffix]
	last := len(bucket) - 1
	bucket[e.bi] = bucket[last]
	bucket[e.bi].bi = e.bi
	bucket[last] = nil
	if last == 0 {
		delete(x.buckets, e.suffix)
	} else {
		x.buckets[e.suffix] = bucket[:last]
	}
	i, _ := x.findLen(len(e.suffix))
	if x.lens[i].count--; x.lens[i].count == 0 {
		x.lens = slices.Delete(x.lens, i, i+1)
	}
}

// findLen returns where the count for suffixes of n bytes is, or would go.
func (x *suffixIndex) findLen(n int) (int, bool) {
	return slices.BinarySearchFunc(x.lens, n, func(l suffixLen, n int) int { return l.n - n })
}

func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
