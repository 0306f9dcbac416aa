// Package mercure evaluates Mercure selectors: the topic selectors a
// subscriber asks for (draft-07 §3 and §4 topic selectors, draft-08 §3 and
// §4 matchers) and the subscribe grants of its token (draft-07 §6.5
// mercure.subscribe, draft-08 §6.6 subscribe details), which decide
// whether a private update may reach it. The shards hold them and match
// them against each update's original topics (docs/mercure-design.md,
// "Matchers evaluated in the shard" and "Private updates").
package mercure

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/hub/topic/uritemplate"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// Kind is how a selector matches a topic.
type Kind uint8

const (
	// Exact matches the identical string, byte for byte (draft-07 §3,
	// draft-08 §4.1).
	Exact Kind = iota
	// Template matches the topics a URI template matches (draft-07 §3).
	Template
	// URLPattern matches the topics a URL pattern matches (draft-08 §4.2).
	URLPattern
)

// String names the kind as the error messages do.
func (k Kind) String() string {
	switch k {
	case Exact:
		return "exact"
	case Template:
		return "template"
	case URLPattern:
		return "urlpattern"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// All is the selector value that matches every topic, whatever its kind
// (draft-07 §3; draft-08 §4.1 and §4.2 reserve it for both types).
const All = "*"

// Selector is one selector as a request or a token gave it.
type Selector struct {
	Kind  Kind
	Value string
}

// ErrKind is wrapped by the error for a selector of an unknown Kind.
var ErrKind = errors.New("mercure: unknown selector kind")

// Selectors is a parsed list of selectors: a stream's selection, or a
// token's subscribe grants. It is immutable once made, and safe for use
// by several goroutines at once (each shard of a hub may hold the same).
type Selectors struct {
	all       bool
	exact     []string // originals, distinct, in order
	mapped    []string // mercuremap.Map of each of exact
	templates []*uritemplate.Template
	patterns  []*urlpattern.Pattern
	base      *urlpattern.Base // relative patterns and topics resolve against it; nil: none
	key       string
}

// New is NewWithBase with no base: a relative URL pattern is an error, and
// a relative topic matches no URL pattern.
func New(sels []Selector) (*Selectors, error) { return NewWithBase(sels, nil) }

// NewWithBase parses sels. Duplicates are kept once. An exact selector
// must be a valid Mercure topic (mercuremap.Map accepts it), a template
// must parse (a Template selector without expressions is kept as Exact,
// as draft-07 §3 matches such a selector only by identity), and a URL
// pattern must parse, and be absolute when base is nil. The error names
// the selector and wraps the parser's sentinel error.
//
// base, if not nil, is the hub's URL: relative URL patterns
// ("/books/:id") are resolved against it, and so are relative topics
// when the patterns are matched (draft-08 §4.2), which lets a subscriber
// follow the hub's own subscription events with a relative pattern.
func NewWithBase(sels []Selector, base *urlpattern.Base) (*Selectors, error) {
	s := &Selectors{base: base}
	seen := make(map[Selector]struct{}, len(sels))
	for _, sel := range sels {
		if sel.Value == All && sel.Kind <= URLPattern {
			s.all = true
			continue
		}
		if sel.Kind == Template && !uritemplate.IsTemplate(sel.Value) {
			if _, err := uritemplate.Parse(sel.Value); err != nil {
				return nil, fmt.Errorf("mercure: template selector %q: %w", cut(sel.Value), err)
			}
			sel.Kind = Exact
		}
		if _, dup := seen[sel]; dup {
			continue
		}
		seen[sel] = struct{}{}
		switch sel.Kind {
		case Exact:
			m, err := mercuremap.Map(sel.Value)
			if err != nil {
				return nil, fmt.Errorf("mercure: exact selector: %w", err)
			}
			s.exact = append(s.exact, sel.Value)
			s.mapped = append(s.mapped, m)
		case Template:
			t, err := uritemplate.Parse(sel.Value)
			if err != nil {
				return nil, fmt.Errorf("mercure: template selector %q: %w", cut(sel.Value), err)
			}
			s.templates = append(s.templates, t)
		case URLPattern:
			p, err := urlpattern.ParseWithBase(sel.Value, base)
			if err != nil {
				return nil, fmt.Errorf("mercure: urlpattern selector %q: %w", cut(sel.Value), err)
			}
			s.patterns = append(s.patterns, p)
		default:
			return nil, fmt.Errorf("%w: %d", ErrKind, uint8(sel.Kind))
		}
	}
	s.key = s.makeKey()
	return s, nil
}

// FromTopics parses draft-07 topic selectors (§3, the topic query
// parameter and mercure.subscribe): "*" matches everything, a valid URI
// template with an expression is matched as one, and anything else
// exactly.
func FromTopics(topics []string) (*Selectors, error) {
	sels := make([]Selector, len(topics))
	for i, t := range topics {
		sels[i] = Selector{Kind: Exact, Value: t}
		if uritemplate.IsTemplate(t) {
			sels[i].Kind = Template
		}
	}
	return New(sels)
}

// cut shortens a selector quoted in an error message.
func cut(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// makeKey is the canonical text of the set: equal for two lists of the
// same selectors in any order.
func (s *Selectors) makeKey() string {
	var parts []string
	if s.all {
		parts = append(parts, "*")
	}
	for _, e := range s.exact {
		parts = append(parts, "e"+e)
	}
	for _, t := range s.templates {
		parts = append(parts, "t"+t.String())
	}
	for _, p := range s.patterns {
		parts = append(parts, "u"+p.String())
	}
	slices.Sort(parts)
	// Selectors hold no control characters (Map and both parsers refuse
	// them), so a NUL cannot occur inside one.
	return strings.Join(parts, "\x00")
}

// MatchesAny reports whether one of originals, an update's topics as
// published, matches one of the selectors: any topic for "*", identical
// strings for exact selectors, and the matchers' rules otherwise. It does
// not allocate; it tries each selector in turn (grant sets are small, and
// the shards remember the answer per dispatch).
func (s *Selectors) MatchesAny(originals []string) bool {
	if s.all {
		return len(originals) > 0
	}
	for _, o := range originals {
		if slices.Contains(s.exact, o) {
			return true
		}
		for _, t := range s.templates {
			// Draft-07 §3 step 2: a selector matches the string
			// identical to it, a template's own text included, which
			// is none of its expansions.
			if t.String() == o || t.Match(o) {
				return true
			}
		}
		for _, p := range s.patterns {
			if p.TestBase(o, s.base) {
				return true
			}
		}
	}
	return false
}

// All reports whether the set holds "*".
func (s *Selectors) All() bool { return s.all }

// Exact returns the exact selectors, distinct, in the order given. The
// caller must not modify the slice.
func (s *Selectors) Exact() []string { return s.exact }

// Mapped returns the mapped names (mercuremap.Map) of Exact, in the same
// order: the exact topics a stream subscribes to. The caller must not
// modify the slice.
func (s *Selectors) Mapped() []string { return s.mapped }

// Templates returns the URI template selectors, distinct by source. The
// caller must not modify the slice.
func (s *Selectors) Templates() []*uritemplate.Template { return s.templates }

// Patterns returns the URL pattern selectors, distinct by source. The
// caller must not modify the slice.
func (s *Selectors) Patterns() []*urlpattern.Pattern { return s.patterns }

// Base returns the URL relative patterns and topics resolve against, or
// nil for none (NewWithBase).
func (s *Selectors) Base() *urlpattern.Base { return s.base }

// Key is the set's canonical text: two sets of the same selectors, in any
// order and with any duplicates, have the same key, so a shard can share
// one entry between the streams of equal grants.
func (s *Selectors) Key() string { return s.key }
