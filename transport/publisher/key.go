package publisher

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// maxKeyLen is the hub's bound on an Idempotency-Key, counted inside its
// quotes with escapes kept (transport/httpapi's parseIdempotencyKey).
const maxKeyLen = 255

// newKey returns a random 128-bit key, as a version 4 UUID: what
// docs/protocol.md#idempotent-publishing suggests, and what a log reader
// recognizes. Two calls meeting on one key would have the second answered
// with the first's ids (or 422) and publish nothing, so it must be
// unguessable and never repeat: 122 random bits from crypto/rand.
func newKey() string {
	var u [16]byte
	_, _ = rand.Read(u[:])  // never fails (crypto/rand's documentation)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	b := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(b)
}

// quoteKey returns key as the Idempotency-Key header's value: a Structured
// Field string (RFC 9651 section 3.3.3), in double quotes with '"' and '\'
// escaped, as draft-ietf-httpapi-idempotency-key-header has it. The hub
// compares keys as sent, so one key is always quoted the same way.
func quoteKey(key string) (string, error) {
	if key == "" {
		return "", errors.New("publisher: empty idempotency key")
	}
	b := make([]byte, 0, len(key)+2)
	b = append(b, '"')
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("publisher: idempotency key has byte 0x%02x at offset %d; use printable ASCII", c, i)
		}
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	if n := len(b) - 1; n > maxKeyLen {
		return "", fmt.Errorf("publisher: idempotency key of %d bytes quoted exceeds the hub's limit of %d", n, maxKeyLen)
	}
	return string(append(b, '"')), nil
}
