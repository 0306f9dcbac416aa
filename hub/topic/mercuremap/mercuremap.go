// Package mercuremap maps Mercure topics onto ssehub topic names, and
// computes the carrier globs that let brokers pre-filter for Mercure
// matchers. It implements the sections "Topic mapping" and "Matchers
// evaluated in the shard" of docs/mercure-design.md.
//
// # Mapping
//
// A Mercure topic is any UTF-8 string without control or format (Unicode
// Cf) characters; an ssehub topic is 1 to [topic.MaxLen] bytes of
// A-Z a-z 0-9 _ - . : / @. [Map] bridges the two: the mapped name is
// [Prefix] followed by the topic's bytes, where A-Z a-z 0-9 - . : / @ stand
// for themselves and every other byte, _ included, is written _ and two
// upper-case hexadecimal digits ("a b" is "a_20b", "é" is "_C3_A9"). So
// https://example.com/books/1 maps to @m/https://example.com/books/1.
//
// The escaping is injective (a _ always starts an escape, so a name decodes
// one way; [Unmap] decodes it) and byte-wise, so it preserves prefixes:
// the escaping of p+s is the escaping of p followed by that of s. That is
// what makes carriers possible.
//
// A topic whose mapped name would be longer than topic.MaxLen gets a long
// form instead: Prefix, the escaping of the topic's longest prefix whose
// escaping fits in 200 bytes, "__" and 26 lower-case base32 characters of
// the SHA-256 of the whole topic. A short form never contains "__" (its _
// is always followed by two hexadecimal digits), so the two forms cannot
// collide. A long form cannot be reversed: messages carry their original
// topics, and nothing needs to reverse a name alone.
//
// # Carriers
//
// Brokers match only globs (Redis PSUBSCRIBE). A URI template or URL
// pattern therefore travels to the broker as a carrier ([Carrier],
// [TemplateCarrier], [PatternCarrier]): a glob that matches the mapped
// name of every topic the matcher can match, and usually few others. The
// shard then runs the matcher itself on the original topic.
//
// A URL pattern matches a topic's canonical form, which the carrier cannot
// see. A topic whose canonical form does not begin as its raw text does
// ([NeedsRoute]) is published with the routing topic [RouteTopic] as well,
// which every stream holding a URL pattern subscribes to.
package mercuremap

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/internal/kinderr"
)

const (
	// Prefix starts every mapped name: the namespace reserved for Mercure
	// topics, which the native API refuses to publish or subscribe to.
	Prefix = "@m/"

	// RouteTopic is the routing topic the Mercure door adds to an update
	// whose topic [NeedsRoute], and that every stream holding a URL
	// pattern subscribes to exactly. No Mercure topic maps to it: after
	// Prefix, a mapped name's _ is always followed by two hexadecimal
	// digits (short form) or by a second _ (long form), never by the end.
	RouteTopic = Prefix + "_"

	// MaxTopicLen is the longest Mercure topic, in bytes, that [Map]
	// accepts: the default and the ceiling of --mercure-max-topic-length.
	// The long form makes any length mappable; the bound is there so a
	// topic cannot make every message that carries it arbitrarily large
	// (draft-08 §3 and §5 let a hub bound lengths).
	MaxTopicLen = 2048
)

const (
	// longPrefixMax is how many bytes of escaped topic a long form keeps:
	// with Prefix, "__" and the hash that is at most 231 bytes, under
	// topic.MaxLen, and the carriers' limit too (see Carrier).
	longPrefixMax = 200
	// hashLen is the number of base32 characters of SHA-256 in a long
	// form: 130 bits.
	hashLen = 26
	// maxEscaped is the longest escaping that still makes a short form.
	maxEscaped = topic.MaxLen - len(Prefix)
)

// Sentinel errors. Map and AppendMap return errors that wrap exactly one of
// them; test with [errors.Is]. The message is a complete sentence meant for
// the API user, with the topic quoted and cut short.
var (
	// ErrEmpty means the topic has no bytes.
	ErrEmpty = errors.New("mercuremap: empty topic")
	// ErrTooLong means the topic is longer than MaxTopicLen bytes. The
	// Mercure door answers 400 on subscribe and 413 on publish.
	ErrTooLong = errors.New("mercuremap: topic too long")
	// ErrInvalidUTF8 means the topic is not valid UTF-8, which Mercure
	// topics must be.
	ErrInvalidUTF8 = errors.New("mercuremap: invalid UTF-8")
	// ErrForbiddenChar means the topic contains a control character
	// (Unicode Cc: U+0000-U+001F, U+007F-U+009F) or a format character
	// (Unicode Cf, such as U+200B), which draft-08 §2 forbids in topics.
	ErrForbiddenChar = errors.New("mercuremap: forbidden character")
)

// plain[b] is true for the bytes that stand for themselves in a mapped
// name: the topic alphabet without _, which starts escapes.
var plain = func() (p [256]bool) {
	for _, b := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.:/@") {
		p[b] = true
	}
	return p
}()

const upperHex = "0123456789ABCDEF"

// hashEncoding writes the long form's hash in lower case, so that it stays
// inside the topic alphabet.
var hashEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Map returns the ssehub topic name of the Mercure topic t: its short form,
// or its long form when the short one would be longer than topic.MaxLen
// (see the package documentation). The result is a valid topic
// (topic.ValidateTopic accepts it). The error wraps ErrEmpty, ErrTooLong,
// ErrInvalidUTF8 or ErrForbiddenChar.
func Map(t string) (string, error) {
	if err := Validate(t); err != nil {
		return "", err
	}
	if len(t) <= maxEscaped && allPlain(t) {
		// Nothing to escape, the usual case for URL topics: one
		// allocation for the concatenation, none for a buffer.
		return Prefix + t, nil
	}
	return string(appendMapValid(make([]byte, 0, topic.MaxLen), t)), nil
}

// AppendMap appends the ssehub topic name of the Mercure topic t to dst, as
// Map returns it, and returns the extended buffer. It does not allocate for
// a short form when dst has room for it (topic.MaxLen bytes are always
// enough). On error it returns dst unchanged.
func AppendMap(dst []byte, t string) ([]byte, error) {
	if err := Validate(t); err != nil {
		return dst, err
	}
	return appendMapValid(dst, t), nil
}

// appendMapValid is AppendMap for a topic that validate accepted.
func appendMapValid(dst []byte, t string) []byte {
	dst = append(dst, Prefix...)
	if escapedLen(t) <= maxEscaped {
		return appendEscaped(dst, t)
	}
	dst = appendEscaped(dst, t[:fitPrefix(t, longPrefixMax)])
	dst = append(dst, "__"...)
	sum := sha256.Sum256([]byte(t))
	var enc [52]byte // base32 of 32 bytes, unpadded
	hashEncoding.Encode(enc[:], sum[:])
	return append(dst, enc[:hashLen]...)
}

// Unmap returns the Mercure topic whose short form is mapped, and whether
// mapped is one: ok is true exactly when Map(original) == mapped. It is
// false for long forms, which keep only a prefix of their topic and a hash
// of it; for RouteTopic; and for any name outside Prefix.
func Unmap(mapped string) (original string, ok bool) {
	if !strings.HasPrefix(mapped, Prefix) || len(mapped) > topic.MaxLen {
		return "", false
	}
	s := mapped[len(Prefix):]
	if strings.IndexByte(s, '_') < 0 {
		if !allPlain(s) || s == "" {
			return "", false
		}
		return s, true // no escapes: the name holds the topic as is
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain[c] {
			b = append(b, c)
			continue
		}
		if c != '_' || i+2 >= len(s) {
			return "", false
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		d := byte(hi<<4 | lo)
		if plain[d] {
			return "", false // Map writes such a byte as itself, never escaped
		}
		b = append(b, d)
		i += 2
	}
	original = string(b)
	if Validate(original) != nil {
		return "", false
	}
	return original, true
}

// IsMapped reports whether name is in the namespace of mapped names, which
// the native API refuses. It looks at the prefix only: a native pattern
// such as "@*" can still match mapped names without being one, and the
// shard keeps Mercure messages from native streams for that reason.
func IsMapped(name string) bool {
	return strings.HasPrefix(name, Prefix)
}

// Validate checks that t is a Mercure topic Map accepts: not empty, at most
// MaxTopicLen bytes of valid UTF-8, with no control or format (Cf)
// characters (draft-08 §2). The front door checks selectors and ids with
// it too.
func Validate(t string) error {
	switch {
	case t == "":
		return newError(ErrEmpty, "topic %q is empty", t)
	case len(t) > MaxTopicLen:
		return newError(ErrTooLong, "topic %s is %d bytes long; the limit is %d bytes", clip.Quote(t), len(t), MaxTopicLen)
	}
	for i := 0; i < len(t); {
		if c := t[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return newError(ErrForbiddenChar, "topic %s has control character %q at offset %d; topics may not contain control characters",
					clip.Quote(t), t[i:i+1], i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(t[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return newError(ErrInvalidUTF8, "topic %s is not valid UTF-8 at offset %d", clip.Quote(t), i)
		case unicode.IsControl(r):
			return newError(ErrForbiddenChar, "topic %s has control character %U at offset %d; topics may not contain control characters",
				clip.Quote(t), r, i)
		case unicode.Is(unicode.Cf, r):
			return newError(ErrForbiddenChar, "topic %s has format character %U at offset %d; topics may not contain format (Cf) characters",
				clip.Quote(t), r, i)
		}
		i += n
	}
	return nil
}

// escapedLen returns the length of the escaping of s.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			n += 2
		}
	}
	return n
}

// allPlain reports whether every byte of s stands for itself.
func allPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			return false
		}
	}
	return true
}

// appendEscaped appends the escaping of s to dst.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '_', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// fitPrefix returns the length of the longest prefix of s whose escaping is
// at most max bytes long. It cuts between bytes of s, so never inside an
// escape; a cut inside a UTF-8 sequence is fine, since the escaping is of
// bytes.
func fitPrefix(s string, max int) int {
	n := 0
	for i := 0; i < len(s); i++ {
		w := 1
		if !plain[s[i]] {
			w = 3
		}
		if n+w > max {
			return i
		}
		n += w
	}
	return len(s)
}

// unhex returns the value of an upper-case hexadecimal digit, or -1: Map
// writes only upper case, and accepting lower case would give a topic two
// names.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// newError is the package's error of kind, with a message for the user.
var newError = kinderr.New
