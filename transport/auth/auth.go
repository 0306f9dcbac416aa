// Package auth verifies the JSON Web Tokens that subscribers and publishers
// present (issue 4) and turns them into [Claims]: the subject and the
// topics it may subscribe and publish to, as [acl.Grant] values.
//
// Keys come from configuration: an HS256 secret, a PEM public key file for
// RS256, ES256 or EdDSA, the keys of a local JWKS file ([LoadJWKS]), or a
// JWKS URL, possibly found by OpenID Connect discovery, fetched and kept
// fresh by a [RemoteJWKS]. Each
// key is pinned to one algorithm, so a token cannot choose how it is checked:
// alg "none" never verifies and an RSA public key is never used as an HMAC
// secret.
//
// Every error [Verifier.Verify] and [Extract] return wraps exactly one of the
// sentinel errors below; [Code] maps it to the stable code sent in JSON error
// bodies (docs/protocol.md#error-codes).
package auth

import (
	"errors"
)

// MaxTokenSize is the longest token accepted, in bytes. Longer tokens are
// malformed: it bounds the work done for an unauthenticated request.
const MaxTokenSize = 8 << 10

// Sentinel errors. Errors from this package wrap exactly one of them; test
// with [errors.Is] and map to a code with [Code].
var (
	// ErrMissing means the request carries no token.
	ErrMissing = errors.New("auth: missing token")
	// ErrMalformed means the token (or the header carrying it) cannot be
	// parsed: wrong scheme, not three base64url parts, bad JSON, too long.
	ErrMalformed = errors.New("auth: malformed token")
	// ErrSignature means no configured key verifies the signature, including
	// when the token names a key id that is not configured.
	ErrSignature = errors.New("auth: bad signature")
	// ErrExpired means the token's exp is past (after leeway).
	ErrExpired = errors.New("auth: token expired")
	// ErrNotYetValid means the token's nbf is in the future (after leeway).
	ErrNotYetValid = errors.New("auth: token not yet valid")
	// ErrIssuer means an issuer is configured and iss differs or is absent.
	ErrIssuer = errors.New("auth: wrong issuer")
	// ErrAudience means an audience is configured and aud does not contain
	// it.
	ErrAudience = errors.New("auth: wrong audience")
	// ErrAlgorithm means the token's alg is not the algorithm of the key it
	// must be verified with (this covers "none" and HS/RS confusion).
	ErrAlgorithm = errors.New("auth: wrong algorithm")
	// ErrClaims means a claim is missing or invalid: no exp, a sub that
	// cannot name a private topic, bad subscribe or publish entries.
	ErrClaims = errors.New("auth: invalid claims")
	// ErrNoKeys means the token needs keys from a [RemoteJWKS] that has not
	// fetched a key set yet (its URL has been unreachable since start). The
	// token may be good: the client should retry later, not get a new one.
	ErrNoKeys = errors.New("auth: no keys available yet")
)

// The codes [Code] returns, answered with status 401. They are part of the
// table of docs/protocol.md#error-codes, which clients rely on: a value
// never changes.
const (
	// CodeMissingToken is the code of [ErrMissing].
	CodeMissingToken = "missing_token"
	// CodeMalformedToken is the code of [ErrMalformed].
	CodeMalformedToken = "malformed_token"
	// CodeBadSignature is the code of [ErrSignature].
	CodeBadSignature = "bad_signature"
	// CodeTokenExpired is the code of [ErrExpired].
	CodeTokenExpired = "token_expired"
	// CodeTokenNotYetValid is the code of [ErrNotYetValid].
	CodeTokenNotYetValid = "token_not_yet_valid"
	// CodeWrongIssuer is the code of [ErrIssuer].
	CodeWrongIssuer = "wrong_issuer"
	// CodeWrongAudience is the code of [ErrAudience].
	CodeWrongAudience = "wrong_audience"
	// CodeWrongAlgorithm is the code of [ErrAlgorithm].
	CodeWrongAlgorithm = "wrong_algorithm"
	// CodeInvalidClaims is the code of [ErrClaims].
	CodeInvalidClaims = "invalid_claims"
	// CodeKeysUnavailable is the code of [ErrNoKeys].
	CodeKeysUnavailable = "keys_unavailable"
)

// codes lists the sentinels with their codes, most specific first.
var codes = []struct {
	err  error
	code string
}{
	{ErrMissing, CodeMissingToken},
	{ErrMalformed, CodeMalformedToken},
	{ErrSignature, CodeBadSignature},
	{ErrExpired, CodeTokenExpired},
	{ErrNotYetValid, CodeTokenNotYetValid},
	{ErrIssuer, CodeWrongIssuer},
	{ErrAudience, CodeWrongAudience},
	{ErrAlgorithm, CodeWrongAlgorithm},
	{ErrClaims, CodeInvalidClaims},
	{ErrNoKeys, CodeKeysUnavailable},
}

// Code returns the stable machine-readable code for an error from this
// package, such as [CodeTokenExpired], for JSON error bodies. It returns "" for
// nil and for errors that wrap none of the sentinels.
func Code(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}
