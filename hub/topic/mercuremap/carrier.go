package mercuremap

import (
	"strings"

	"github.com/ssehub/ssehub/hub/topic/uritemplate"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// Carrier returns the carrier glob of a matcher whose every match begins
// with literalPrefix: a pattern, valid for topic.ValidatePattern, that
// matches Map(t) for every topic t beginning with literalPrefix. It is
// Prefix, the escaping of literalPrefix and a *; "@m/*" for an empty
// prefix, which matches every mapped name (and RouteTopic).
//
// The escaping is cut to at most 200 bytes, between escapes, as a long
// form cuts its topic: a long form keeps the escaping of its topic's
// longest prefix that fits in 200 bytes, so a longer carrier prefix would
// miss it. The cut only widens the carrier. Since the escaped prefix holds
// no * (it is escaped), the carrier's one * is its last byte, and it is at
// most 204 bytes long.
func Carrier(literalPrefix string) string {
	p := literalPrefix[:fitPrefix(literalPrefix, longPrefixMax)]
	b := make([]byte, 0, len(Prefix)+escapedLen(p)+1)
	b = append(b, Prefix...)
	b = appendEscaped(b, p)
	return string(append(b, '*'))
}

// TemplateCarrier returns the carrier of a URI template: Carrier of its
// literal prefix. Template literals match byte for byte, so every topic
// the template matches begins with that prefix as given. A template
// without expressions matches only itself, and the door treats it as an
// exact selector rather than asking for its carrier.
func TemplateCarrier(t *uritemplate.Template) string {
	prefix, _ := t.LiteralPrefix()
	return Carrier(prefix)
}

// PatternCarrier returns the carrier of a URL pattern: Carrier of its
// literal (urlpattern.Pattern.Literal) cut before its first "?", that is
// to the fixed protocol, host, port and pathname text.
//
// The literal is a prefix of the canonical form of the topics the pattern
// matches (urlpattern.IndexKey), not of the topics themselves: the key is
// lower-cased, percent-encoded, has dot segments removed and always ends
// in "?search#hash", which raw topics mostly do not
// ("https://example.com/books/1" has the key
// "https://example.com/books/1?#"). The cut drops the "?" and what
// follows, so that a topic that begins as its key's part before the "?"
// does (the usual case) reaches the carrier; a topic that does not
// (NeedsRoute) is published to RouteTopic as well, which every stream
// holding a URL pattern subscribes to. The part after the "?" is left to
// the shard's matching: search and hash differ from their canonical form
// in many ordinary topics (a space in the query), and routing all of those
// through RouteTopic would cost more than the wider carrier.
func PatternCarrier(p *urlpattern.Pattern) string {
	lit := p.Literal()
	if i := strings.IndexByte(lit, '?'); i >= 0 {
		lit = lit[:i]
	}
	return Carrier(lit)
}

// NeedsRoute reports whether an update to the Mercure topic t must also be
// published to RouteTopic so that the URL patterns that match t reach it:
// whether t is a URL the urlpattern package can parse and t does not begin
// with its canonical protocol, host, port and pathname (the part of its
// urlpattern.IndexKey before the "?"). So it is true for
// "HTTPS://Example.COM/books/1", "https://example.com" (the canonical
// pathname is "/"), "https://user@example.com/a" (the key leaves out user
// names), "https://example.com/café" (percent-encoded in the key) and
// non-hierarchical URLs such as "urn:isbn:123" (the key is
// "urn://isbn:123?#"); false for "https://example.com/books/1?q=a b" and
// for topics that are not URLs, which no URL pattern matches.
//
// A relative t ("/.well-known/mercure/subscriptions/...") is taken
// resolved against base, the hub's URL (draft-08 §4.2), as the patterns
// match it; with a nil base it is not a URL. Such a t never begins with
// its key, so it always needs the route.
//
// The guarantee, which PatternCarrier relies on: if a pattern p matches t
// (p.TestBase(t, base)), then NeedsRoute(t, base) or PatternCarrier(p)
// matches Map(t).
func NeedsRoute(t string, base *urlpattern.Base) bool {
	key, ok := urlpattern.IndexKeyBase(t, base)
	if !ok {
		return false
	}
	// The key is protocol "://" host [":" port] pathname "?" search "#"
	// hash, and none of the parts before the "?" can hold a "?": the URL
	// parser ends the pathname there and hosts may not contain one.
	if i := strings.IndexByte(key, '?'); i >= 0 {
		key = key[:i]
	}
	return !strings.HasPrefix(t, key)
}

// Names returns the names an update to topics is published to: the
// mapped name of each, in order, and RouteTopic after them when one of
// them needs it (NeedsRoute, with base), so that URL patterns can match
// it.
func Names(topics []string, base *urlpattern.Base) ([]string, error) {
	names := make([]string, 0, len(topics)+1)
	route := false
	for _, t := range topics {
		m, err := Map(t)
		if err != nil {
			return nil, err
		}
		names = append(names, m)
		route = route || NeedsRoute(t, base)
	}
	if route {
		names = append(names, RouteTopic)
	}
	return names, nil
}
