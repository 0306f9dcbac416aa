package uritemplate

// MatchProg is Match run on the automaton even where t has a scan plan, so
// that tests can compare the two.
func MatchProg(t *Template, s string) bool {
	c := &Template{raw: t.raw, lits: t.lits, exprs: t.exprs, minLen: t.minLen}
	if len(c.exprs) > 0 {
		c.prog = compileProg(t)
	}
	return c.Match(s)
}

// HasPlan reports whether t matches with a single scan.
func HasPlan(t *Template) bool { return t.plan != nil }

// NodeCount returns the number of nodes in s's radix tree, the root
// included.
func NodeCount(s *Set) int {
	var count func(n *node) int
	count = func(n *node) int {
		c := 1
		for _, child := range n.children {
			c += count(child)
		}
		return c
	}
	return count(&s.root)
}
