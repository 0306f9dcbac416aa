package transport_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/transport"
)

// ExampleNewMercureMessage pins the wire bytes of Mercure updates: the
// publisher's id as the SSE id, or the hub's as a fragment, and the retry
// field inside the event.
func ExampleNewMercureMessage() {
	id := eventid.ID{Time: 1795761544779, Seq: 2}
	withID := transport.NewMercureMessage(id, "ping", []string{"@m/a"}, []byte("a\nb"),
		&broker.Mercure{Topics: []string{"a"}, ID: "urn:uuid:7", Retry: 3000})
	fmt.Printf("%q\n", withID.Frame)
	hubID := transport.NewMercureMessage(id, "", []string{"@m/a"}, []byte("c"), &broker.Mercure{Topics: []string{"a"}})
	fmt.Printf("%q\n", hubID.Frame)
	// Output:
	// "id: urn:uuid:7\nevent: ping\ndata: a\ndata: b\nretry: 3000\n\n"
	// "id: #1795761544779-2\ndata: c\n\n"
}

func TestDecodeMercure(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     *broker.Mercure // nil: an error
	}{
		{"every field", `{"t":["https://example.com/a","a b"],"i":"urn:1","p":true,"r":5}`,
			&broker.Mercure{Topics: []string{"https://example.com/a", "a b"}, ID: "urn:1", Private: true, Retry: 5}},
		{"topics only", `{"t":["x"]}`, &broker.Mercure{Topics: []string{"x"}}},
		{"unknown fields ignored", `{"t":["x"],"z":1}`, &broker.Mercure{Topics: []string{"x"}}},
		{"no topics", `{"i":"urn:1"}`, nil},
		{"empty topics", `{"t":[]}`, nil},
		{"negative retry", `{"t":["x"],"r":-5}`, nil},
		{"retry past a day", `{"t":["x"],"r":86400001}`, nil},
		{"id with LF", `{"t":["x"],"i":"a\nid: b"}`, nil},
		{"id with CR", `{"t":["x"],"i":"a\rb"}`, nil},
		{"id with NUL", `{"t":["x"],"i":"a\u0000b"}`, nil},
		{"not JSON", `{"t":`, nil},
		{"wrong type", `{"t":"x"}`, nil},
		{"empty", ``, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transport.DecodeMercure(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("DecodeMercure(%q) = %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || !slices.Equal(got.Topics, tt.want.Topics) || got.ID != tt.want.ID ||
				got.Private != tt.want.Private || got.Retry != tt.want.Retry {
				t.Errorf("DecodeMercure(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzDecodeMercure: DecodeMercure takes what another hub sent without
// panicking; what it accepts encodes back to metadata it reads the same,
// on one line, and its id cannot break out of the frame's id field.
func FuzzDecodeMercure(f *testing.F) {
	for _, s := range []string{`{"t":["a"],"i":"urn:1","p":true,"r":5}`, `{"t":["a\nb"]}`, `{"t":[""],"i":"\u2028"}`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := transport.DecodeMercure(s)
		if err != nil {
			return
		}
		enc := transport.EncodeMercure(m)
		if slices.Contains([]byte(enc), '\n') {
			t.Errorf("EncodeMercure(%+v) = %q, holds a line break", m, enc)
		}
		again, err := transport.DecodeMercure(enc)
		if err != nil || !slices.Equal(again.Topics, m.Topics) || again.ID != m.ID || again.Private != m.Private || again.Retry != m.Retry {
			t.Errorf("DecodeMercure(EncodeMercure(%+v)) = %+v, %v", m, again, err)
		}
		msg := transport.NewMercureMessage(eventid.ID{Time: 1}, "", []string{"@m/a"}, nil, m)
		if n := slices.Index(msg.Frame, '\n'); string(msg.Frame[:n]) != "id: "+transport.MercureEventID(m, msg.ID) {
			t.Errorf("the frame of %+v starts %q", m, msg.Frame[:n])
		}
	})
}
