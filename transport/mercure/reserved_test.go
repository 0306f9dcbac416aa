package mercure

import (
	"testing"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

// TestAddressesHub: draft-08 §5, a topic must not address the hub's
// reserved namespace once resolved against the hub's URL.
func TestAddressesHub(t *testing.T) {
	base, err := urlpattern.NewBase("https://hub.example.com/.well-known/mercure")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		topic, door string
		want        bool
	}{
		{"/.well-known/mercure", DefaultPath, true},
		{"/.well-known/mercure/subscriptions/Exact/a/b", DefaultPath, true},
		{"https://hub.example.com/.well-known/mercure/subscriptions/x", DefaultPath, true},
		{"//other.example/.well-known/mercure/subscriptions", DefaultPath, true},
		{"mercure/subscriptions/x", DefaultPath, true}, // relative to the hub's URL
		{"/books/../.well-known/mercure/x", DefaultPath, true},
		{"?q", DefaultPath, true},               // the hub's own URL with a query
		{"subscriptions/x", DefaultPath, false}, // /.well-known/subscriptions/x
		{"/.well-known/mercurex", DefaultPath, false},
		{"/.well-known/mercure%2Fx", DefaultPath, false}, // an escaped slash is not a separator
		{"https://example.com/books/1", DefaultPath, false},
		{"urn:uuid:1", DefaultPath, false},
		{"a topic with spaces", DefaultPath, false},
		{"bad %zz escape", DefaultPath, false},
		{"/hub/subscriptions", "/hub", true}, // a door served elsewhere reserves its own path too
		{"/.well-known/mercure/x", "/hub", true},
		{"/hubx", "/hub", false},
		// URL patterns read "%2e%2e" and "\\" as dot segments (the URL
		// Standard): so does the check.
		{"/x/%2e%2e/.well-known/mercure/subscriptions/Exact/a/b", DefaultPath, true},
		{"https://hub.example.com/x/%2E%2e/.well-known/mercure/subscriptions", DefaultPath, true},
		{"https://hub.example.com/x\\..\\.well-known/mercure/subscriptions", DefaultPath, true},
		{"/x/%2e%2e%2f.well-known/mercure", DefaultPath, false}, // an escaped slash is no separator
		{"urn:x:/.well-known/mercure", DefaultPath, false},
	} {
		if got := addressesHub(tt.topic, tt.door, base); got != tt.want {
			t.Errorf("addressesHub(%q, %q) = %v, want %v", tt.topic, tt.door, got, tt.want)
		}
	}
}
