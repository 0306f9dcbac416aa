package mercure

import (
	"net/url"
	"strings"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// WellKnownPath is the path Mercure reserves for what a hub itself
// publishes (draft-08 §5, "Reserved Hub Namespace"): its subscription
// events live under it. DefaultPath is the same path.
const WellKnownPath = "/.well-known/mercure"

// reservedBase is what a topic is resolved against to find its path.
// Only the path takes part in the rule ("regardless of scheme or
// authority"), so any authority serves.
var reservedBase = &url.URL{Scheme: "https", Host: "hub.invalid"}

// addressesHub reports whether topic addresses the hub's reserved
// namespace: resolved as a URI reference against the hub's URL (here, its
// path doorPath), its path is WellKnownPath or doorPath, or lies under
// one of them. The check is on the resolved path rather than a prefix of
// the raw string, so that an absolute topic naming the hub's own host is
// caught too, and "../" cannot hide the path.
//
// A topic is resolved twice: as RFC 3986 does (net/url), and as the URL
// Standard does against base (urlpattern.IndexKeyBase), which is how URL
// patterns see it: that one also reads "%2e%2e" and "\" as dot segments
// and separators, so a topic such as "/x/%2e%2e/.well-known/mercure/..."
// cannot reach the patterns that follow subscription events. A topic
// that is not a URI reference in either reading addresses nothing in it.
func addressesHub(topic, doorPath string, base *urlpattern.Base) bool {
	if ref, err := url.Parse(topic); err == nil {
		b := *reservedBase
		b.Path = doorPath
		if p := b.ResolveReference(ref).EscapedPath(); under(p, WellKnownPath) || under(p, doorPath) {
			return true
		}
	}
	if key, ok := urlpattern.IndexKeyBase(topic, base); ok {
		p := keyPath(key)
		return under(p, WellKnownPath) || under(p, doorPath)
	}
	return false
}

// keyPath is the pathname of a urlpattern.IndexKey (protocol "://" host
// [":" port] pathname "?" search "#" hash) of an http(s) URL, whose host
// is never empty and whose pathname starts with "/"; "" for other
// schemes, whose pathnames may be opaque (and the hub's URL is http(s)).
func keyPath(key string) string {
	proto, rest, _ := strings.Cut(key, "://")
	if proto != "http" && proto != "https" {
		return ""
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return ""
	}
	p, _, _ := strings.Cut(rest[i:], "?")
	return p
}

// under reports whether path is root or lies under it.
func under(path, root string) bool {
	return path == root || strings.HasPrefix(path, root) && path[len(root)] == '/'
}
