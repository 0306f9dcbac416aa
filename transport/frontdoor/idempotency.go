package frontdoor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
)

// MaxIdempotencyKeyLen bounds the Idempotency-Key header's value. The
// draft leaves it open; 255 takes a UUID or any key a client derives from
// its own ids, and bounds what the hub hashes.
const MaxIdempotencyKeyLen = 255

// ParseIdempotencyKey reads the Idempotency-Key header of a publish
// (draft-ietf-httpapi-idempotency-key-header): printable ASCII of at most
// 255 bytes. The draft makes the value a Structured Field string, in
// double quotes; a bare value is taken too, as many clients send one
// (Stripe's API takes bare keys). Empty means no key. The error says what
// is wrong with the value, for the client.
func ParseIdempotencyKey(raw []byte) (string, error) {
	v := raw
	if len(v) > 0 && v[0] == '"' {
		if len(v) < 2 || v[len(v)-1] != '"' {
			return "", errors.New("the Idempotency-Key starts with a quote but does not end with one")
		}
		v = v[1 : len(v)-1]
		// An sf-string escapes '"' and '\' with '\'; a key is compared
		// as sent, so the escapes are kept rather than decoded, but a
		// lone '\' or '"' is malformed.
		for i := 0; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 == len(v) || (v[i+1] != '"' && v[i+1] != '\\') {
					return "", errors.New(`the Idempotency-Key has a '\' that escapes neither '"' nor '\'`)
				}
				i++
			case '"':
				return "", errors.New(`the Idempotency-Key has an unescaped '"' inside its quotes`)
			}
		}
		if len(v) == 0 {
			return "", errors.New("the Idempotency-Key is empty")
		}
	}
	if len(v) > MaxIdempotencyKeyLen {
		return "", fmt.Errorf("the Idempotency-Key of %d bytes exceeds the limit of %d", len(v), MaxIdempotencyKeyLen)
	}
	for i, c := range v {
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("the Idempotency-Key has byte 0x%02x at offset %d; use printable ASCII", c, i)
		}
	}
	return string(v), nil
}

// Idempotency returns what makes a publish with key safe to repeat. The
// key is scoped to the publisher, so two publishers' keys never meet, and
// hashed, so the broker's records name no credential and have a bounded,
// Redis-safe name. The digest is that of the body: a key reused with
// another body is refused.
func Idempotency(scope, key string, body []byte, ttl time.Duration) broker.Idempotency {
	if key == "" {
		return broker.Idempotency{}
	}
	h := sha256.New()
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(key))
	name := h.Sum(nil)
	digest := sha256.Sum256(body)
	return broker.Idempotency{
		Key:    hex.EncodeToString(name[:16]),
		Digest: hex.EncodeToString(digest[:16]),
		TTL:    ttl,
	}
}
