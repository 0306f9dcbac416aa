package mercure

import (
	"net/url"
	"strings"
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
// one of them. A topic that is not a URI reference (a space, a bad
// escape) addresses nothing. The check is on the resolved path rather
// than a prefix of the raw string, so that an absolute topic naming the
// hub's own host is caught too, and "../" cannot hide the path.
func addressesHub(topic, doorPath string) bool {
	ref, err := url.Parse(topic)
	if err != nil {
		return false
	}
	base := *reservedBase
	base.Path = doorPath
	p := base.ResolveReference(ref).EscapedPath()
	return under(p, WellKnownPath) || under(p, doorPath)
}

// under reports whether path is root or lies under it.
func under(path, root string) bool {
	return path == root || strings.HasPrefix(path, root) && path[len(root)] == '/'
}
