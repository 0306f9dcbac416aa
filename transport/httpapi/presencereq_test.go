package httpapi

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub/topic"
)

// FuzzParsePresence: any query either parses into a valid topic or
// pattern (and, for user=, its private topic) with a limit in range, or is
// refused with a 400 that has a code and a message.
func FuzzParsePresence(f *testing.F) {
	for _, q := range []string{
		"topic=room", "topic=news/*", "user=alice", "topic=room&list=users&limit=10&cursor=abc",
		"topic=room&user=alice", "topic=a%20b", "user=a/b", "user=", "topic=room&list=users&limit=-1",
		"topic=room&list=users&limit=99999999999999999999", "list=users", "topic=room&limit=5", "",
		"topic=%ZZ&user=%", "topic=room&list=streams",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		var args fasthttp.Args
		args.Parse(query)
		req, apiErr := parsePresence(&args)
		if apiErr != nil {
			if apiErr.Status != 400 || apiErr.Code == "" || apiErr.Message == "" {
				t.Errorf("parsePresence(%q) error = %#v, want 400 with a code and a message", query, apiErr)
			}
			return
		}
		if topic.ValidatePattern(req.topic) != nil {
			t.Errorf("parsePresence(%q) topic = %q, want a valid topic or pattern", query, req.topic)
		}
		if req.user != "" && (req.topic != "user/"+req.user || req.list) {
			t.Errorf("parsePresence(%q) = %+v, want user=U to ask for user/U, without a list", query, req)
		}
		if req.limit < 1 || req.limit > MaxPresenceLimit {
			t.Errorf("parsePresence(%q) limit = %d, want 1 to %d", query, req.limit, MaxPresenceLimit)
		}
	})
}
