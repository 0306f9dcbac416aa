// Package acl decides whether a token's grant allows a subscription
// (docs/protocol.md#delivery-semantics: a subscriber can never subscribe to
// a topic or pattern its token does not grant; docs/protocol.md#subscribing
// has the rule for patterns).
//
// A [Grant] is the list of topics and patterns a token allows, with the
// meaning of [topic.Match]: * matches any run of bytes, including the empty
// run and runs containing /. Checks are conservative: when the answer is not
// certain, they refuse.
package acl

import (
	"fmt"

	"github.com/ssehub/ssehub/hub/topic"
)

// Grant is the set of topics a token allows: the union of its exact topics
// and of the topics matched by its patterns. The zero Grant allows nothing.
// A Grant is immutable after [NewGrant] and safe for concurrent use.
type Grant struct {
	exact    map[string]struct{} // allowed exact topics (no *)
	patterns []string            // allowed patterns (at least one *), deduplicated
}

// NewGrant builds a Grant from the allowed topics and patterns. Each entry
// must pass [topic.ValidatePattern]; the error for a bad entry gives its
// index and wraps the topic error, whose message quotes the entry.
func NewGrant(allowed []string) (Grant, error) {
	var g Grant
	for i, s := range allowed {
		if err := topic.ValidatePattern(s); err != nil {
			return Grant{}, fmt.Errorf("acl: allowed entry %d: %w", i, err)
		}
		if !topic.IsPattern(s) {
			if g.exact == nil {
				g.exact = make(map[string]struct{})
			}
			g.exact[s] = struct{}{}
			continue
		}
		dup := false
		for _, q := range g.patterns {
			dup = dup || q == s
		}
		if !dup {
			g.patterns = append(g.patterns, s)
		}
	}
	return g, nil
}

// Empty reports whether g allows nothing.
func (g Grant) Empty() bool {
	return len(g.exact) == 0 && len(g.patterns) == 0
}

// AllowsTopic reports whether g allows the exact topic t: t equals an
// allowed exact topic or matches an allowed pattern. It is false when t is
// not a valid exact topic (for example when it contains *; use
// [Grant.AllowsPattern] for patterns). It does not allocate when t is valid.
func (g Grant) AllowsTopic(t string) bool {
	return topic.ValidateTopic(t) == nil && g.covers(t)
}

// AllowsPattern reports whether g allows subscribing to p, an exact topic or
// a pattern: true only if every topic p can match is allowed by g. It never
// returns true when some topic matched by p is not allowed; it is false when
// p is not a valid pattern. It does not allocate when p is valid.
//
// An exact p is allowed iff [Grant.AllowsTopic] allows it. A p containing *
// is allowed iff one allowed pattern q alone covers it, that is the topics
// matched by p are a subset of those matched by q. That test is exact (see
// below) except that AllowsPattern may refuse, while the topics of p are in
// fact all allowed, in exactly these cases:
//   - p is covered only by the union of several entries and by no single
//     pattern q (for example, an entry *x for every character x of the topic
//     alphabet covers *, or exact entries list all of the at most 69 topics
//     matched by a 255-byte pattern ending in *);
//   - the only q that covers p contains every one of the 68 characters of the
//     topic alphabet, and the cover depends on that (as with alphabet {a,b},
//     where a*b is covered by *ab* because any string from a to b has an ab
//     somewhere; with a character c missing from q it is not: acb).
func (g Grant) AllowsPattern(p string) bool {
	return topic.ValidatePattern(p) == nil && g.covers(p)
}

// covers reports whether g allows every topic matched by s, where s is a
// valid pattern or exact topic.
//
// For an exact s this is membership. For a pattern s and an allowed pattern
// q, L(s) ⊆ L(q) is decided by topic.Match(q, s), which reads the stars of s
// as literal bytes that only a star of q can match:
//
//   - Sound: if q matches s that way, each star of s lies inside the run
//     absorbed by some star of q. Replacing the stars of s by any strings only
//     changes the inside of those runs, which q's stars still absorb, so q
//     matches every topic s matches.
//   - Exact when some topic character c does not occur in q: the topic w
//     made of s with every star replaced by c is matched by s, is valid (same
//     length as s) and, if q matches w, each c must be absorbed by a star of
//     q, since q has no literal c; putting the stars back in place of those
//     c's keeps q matching. So if topic.Match(q, s) is false, w is a topic
//     that s matches and q does not.
//
// An exact s never equals an exact entry when s has a star, so the same code
// serves both cases and exact entries never help cover a pattern.
func (g Grant) covers(s string) bool {
	if _, ok := g.exact[s]; ok {
		return true
	}
	for _, q := range g.patterns {
		if topic.Match(q, s) {
			return true
		}
	}
	return false
}
