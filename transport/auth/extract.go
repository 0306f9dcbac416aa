package auth

import (
	"fmt"
	"strings"

	"github.com/ssehub/ssehub/internal/clip"
)

// CookieName is the cookie that carries a token for browsers
// (docs/protocol.md#subscriber-credentials).
const CookieName = "ssehub_token"

// Extract picks the token out of a request's credentials, given as plain
// values so the package needs no HTTP server types: the Authorization header
// value, the Cookie header value and the decoded token query parameter.
//
// The header wins over the cookie, which wins over the query. The header
// must be "Bearer <token>" (scheme case-insensitive); another scheme is
// ErrMalformed rather than a fall-through, so a client never authenticates as
// someone other than it meant to. An empty header, cookie value or query
// counts as absent; if all are, the error is ErrMissing. A token must be 1
// to MaxTokenSize bytes of the RFC 6750 token alphabet.
func Extract(authorization, cookieHeaderValue, queryToken string) (string, error) {
	var token string
	switch {
	case authorization != "":
		scheme, rest, _ := strings.Cut(strings.TrimSpace(authorization), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", fmt.Errorf("%w: Authorization scheme %s, want Bearer", ErrMalformed, clip.Quote(scheme))
		}
		token = strings.TrimLeft(rest, " ")
		if token == "" {
			return "", fmt.Errorf("%w: empty Bearer token", ErrMalformed)
		}
	case cookieValue(cookieHeaderValue, CookieName) != "":
		token = cookieValue(cookieHeaderValue, CookieName)
	case queryToken != "":
		token = queryToken
	default:
		return "", ErrMissing
	}
	if err := checkTokenSyntax(token); err != nil {
		return "", err
	}
	return token, nil
}

// cookieValue returns the value of the first cookie called name in a Cookie
// header value, without surrounding double quotes, or "". It parses leniently
// (RFC 6265 section 5.4 order, malformed pairs skipped) because the header
// also carries other applications' cookies, which must not break this one.
func cookieValue(header, name string) string {
	for header != "" {
		var pair string
		pair, header, _ = strings.Cut(header, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || strings.TrimSpace(k) != name {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v
	}
	return ""
}

// checkTokenSyntax reports whether t is 1 to MaxTokenSize bytes of the
// b64token alphabet of RFC 6750 section 2.1 (a JWT uses a subset of it).
func checkTokenSyntax(t string) error {
	if len(t) > MaxTokenSize {
		return fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	for i := 0; i < len(t); i++ {
		if !tokenByte[t[i]] {
			return fmt.Errorf("%w: invalid byte %q at offset %d", ErrMalformed, t[i], i)
		}
	}
	return nil
}

var tokenByte = func() (ok [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		ok[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		ok[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		ok[c] = true
	}
	for _, c := range []byte("-._~+/=") {
		ok[c] = true
	}
	return ok
}()
