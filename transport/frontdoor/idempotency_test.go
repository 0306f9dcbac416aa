package frontdoor

import (
	"strings"
	"testing"
	"time"
)

func TestParseIdempotencyKey(t *testing.T) {
	long := strings.Repeat("k", MaxIdempotencyKeyLen)
	tests := []struct {
		raw     string
		want    string
		wantErr bool
	}{
		{raw: "", want: ""},
		{raw: "abc-123", want: "abc-123"},
		{raw: `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, want: "8e03978e-40d5-43e8-bc93-6894a57f9324"},
		{raw: `"with space"`, want: "with space"},
		{raw: `"esc\"aped\\"`, want: `esc\"aped\\`},
		{raw: long, want: long},
		{raw: `"` + long + `"`, want: long},
		{raw: long + "k", wantErr: true},
		{raw: `"` + long + `k"`, wantErr: true},
		{raw: `""`, wantErr: true},
		{raw: `"`, wantErr: true},
		{raw: `"open`, wantErr: true},
		{raw: `"in"side"`, wantErr: true},
		{raw: `"bad\escape"`, wantErr: true},
		{raw: `"trailing\"`, wantErr: true},
		{raw: "tab\there", wantErr: true},
		{raw: "nul\x00", wantErr: true},
		{raw: "del\x7f", wantErr: true},
		{raw: "é", wantErr: true},
	}
	for _, tt := range tests {
		got, e := ParseIdempotencyKey([]byte(tt.raw))
		switch {
		case tt.wantErr && e == nil:
			t.Errorf("ParseIdempotencyKey(%q) = %q, want an error", tt.raw, got)
		case !tt.wantErr && (e != nil || got != tt.want):
			t.Errorf("ParseIdempotencyKey(%q) = %q, %v; want %q", tt.raw, got, e, tt.want)
		}
	}
}

// TestIdempotencyScope checks that a key names another publish for another
// publisher, and that the digest follows the body.
func TestIdempotencyScope(t *testing.T) {
	a := Idempotency("sub:a", "k", []byte("body"), time.Hour)
	b := Idempotency("sub:b", "k", []byte("body"), time.Hour)
	other := Idempotency("sub:a", "k", []byte("other"), time.Hour)
	if a.Key == b.Key {
		t.Errorf("two publishers' key %q named the same publish %s", "k", a.Key)
	}
	if a.Key != other.Key || a.Digest == other.Digest {
		t.Errorf("same key, other body: keys %s %s, digests %s %s; want the same key and other digests", a.Key, other.Key, a.Digest, other.Digest)
	}
	if none := Idempotency("sub:a", "", []byte("body"), time.Hour); none.Key != "" {
		t.Errorf("no key gave Key %q, want none", none.Key)
	}
}

// FuzzParseIdempotencyKey checks that an accepted key is printable ASCII
// within the bound, and that parsing never panics.
func FuzzParseIdempotencyKey(f *testing.F) {
	for _, s := range []string{"", "k", `"k"`, `"a\"b"`, `"\`, "\x00", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		key, e := ParseIdempotencyKey([]byte(raw))
		if e != nil {
			return
		}
		if len(key) > MaxIdempotencyKeyLen {
			t.Fatalf("ParseIdempotencyKey(%q) = %d bytes, over the limit", raw, len(key))
		}
		for i := range len(key) {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("ParseIdempotencyKey(%q) = %q, with byte 0x%02x", raw, key, key[i])
			}
		}
	})
}
