package mercure

import "testing"

// TestNewResourceMetadata: where RFC 9728 §3.1 puts a resource's metadata,
// and that a resource identifier that is not an http(s) URL has none.
func TestNewResourceMetadata(t *testing.T) {
	for _, tt := range []struct {
		resource, path, url string
	}{
		{"https://hub.example.com/.well-known/mercure", "/.well-known/oauth-protected-resource/.well-known/mercure",
			"https://hub.example.com/.well-known/oauth-protected-resource/.well-known/mercure"},
		{"http://localhost:8080/hub", "/.well-known/oauth-protected-resource/hub", "http://localhost:8080/.well-known/oauth-protected-resource/hub"},
		{"https://hub.example.com/a%20b", "/.well-known/oauth-protected-resource/a%20b", "https://hub.example.com/.well-known/oauth-protected-resource/a%20b"},
		{"", "", ""},
		{"urn:ssehub:hub", "", ""},
		{"/.well-known/mercure", "", ""},
		{"https://hub.example.com/.well-known/mercure?x=1", "", ""},
	} {
		m := newResourceMetadata(tt.resource)
		switch {
		case tt.path == "" && m != nil:
			t.Errorf("%q: metadata at %s, want none", tt.resource, m.path)
		case tt.path == "" && m.challenge() != "Bearer":
			t.Errorf("%q: challenge %q, want a bare Bearer", tt.resource, m.challenge())
		case tt.path != "" && (m == nil || m.path != tt.path || m.url != tt.url):
			t.Errorf("%q: metadata %+v, want at %s (%s)", tt.resource, m, tt.path, tt.url)
		case tt.path != "" && m.challenge() != `Bearer resource_metadata="`+tt.url+`"`:
			t.Errorf("%q: challenge %q", tt.resource, m.challenge())
		}
	}
}
