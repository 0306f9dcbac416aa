package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub/acl"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/clip"
)

// Claims is what a verified token grants.
type Claims struct {
	// Subject is the sub claim: the user, whose private topic is
	// "user/"+Subject. Empty when the token has no sub; otherwise
	// "user/"+Subject is a valid exact topic.
	Subject string
	// Subscribe is the subscribe claim: the topics and patterns the token
	// may subscribe to (not counting the private topic).
	Subscribe acl.Grant
	// Publish is the publish claim: the topics the token may publish to.
	Publish acl.Grant
	// ExpiresAt is the exp claim. A stream ends when it passes (issue 4).
	// Zero only for a Mercure token without exp (Config.Mercure).
	ExpiresAt time.Time

	// The fields below are set for Mercure tokens only (Config.Mercure).

	// Issuer is the iss claim, which a Mercure subscriber id is derived
	// from with Subject.
	Issuer string
	// Type is the header's typ, which draft-08 §6.3 requires to be
	// "at+jwt" for an access token.
	Type string
	// Audience is the aud claim (a single string as a one-element list),
	// which draft-08 §6.3 requires to hold the hub's resource identifier;
	// nil when absent.
	Audience []string
	// Mercure is the raw draft-07 "mercure" claim, nil when absent.
	Mercure json.RawMessage
	// AuthorizationDetails is the raw draft-08 "authorization_details"
	// claim, nil when absent.
	AuthorizationDetails json.RawMessage
}

// tokenClaims is the JSON payload of a token. subscribe and publish stay raw
// so a wrongly typed entry is reported as ErrClaims after the signature has
// been checked, not as a malformed token before.
type tokenClaims struct {
	jwt.RegisteredClaims
	Subscribe json.RawMessage `json:"subscribe"`
	Publish   json.RawMessage `json:"publish"`
	// Read with Config.Mercure only.
	Mercure              json.RawMessage `json:"mercure"`
	AuthorizationDetails json.RawMessage `json:"authorization_details"`
}

// Verifier checks tokens against configured keys and, with Config.Remote,
// the key set of a [RemoteJWKS]. Its configuration is immutable after
// [NewVerifier]; it is safe for concurrent use.
type Verifier struct {
	static   keySet      // Config.Keys
	remote   *RemoteJWKS // nil without Config.Remote; owned by the caller
	issuer   string
	audience string
	mercure  bool // Config.Mercure
	parser   *jwt.Parser
}

// NewVerifier loads the keys of cfg. Errors name the offending key (by ID,
// or by index when it has none) and say why it was refused.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Keys) == 0 && cfg.Remote == nil {
		return nil, errors.New("auth: no keys configured")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: leeway=%s is negative", cfg.Leeway)
	}
	v := &Verifier{
		static:   keySet{byID: make(map[string]verificationKey)},
		remote:   cfg.Remote,
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		mercure:  cfg.Mercure,
		parser: jwt.NewParser(
			jwt.WithLeeway(cfg.Leeway),
			// Canonical base64 only, so a token has one spelling.
			jwt.WithStrictDecoding(),
		),
	}
	for i, k := range cfg.Keys {
		vk, err := loadKey(k)
		if err != nil {
			return nil, fmt.Errorf("auth: key %s (%s): %w", k.name(i), k.Algorithm, err)
		}
		if k.ID != "" {
			if _, dup := v.static.byID[k.ID]; dup {
				return nil, fmt.Errorf("auth: key %s: duplicate key id", k.name(i))
			}
		}
		v.static.add(vk)
	}
	return v, nil
}

// Ready returns nil when the verifier can check every token it is
// configured for, and otherwise an error wrapping [ErrNoKeys]: with
// Config.Remote, until its first fetch succeeds. A hub can report it as not
// ready meanwhile.
func (v *Verifier) Ready() error {
	if v.remote != nil {
		return v.remote.Ready()
	}
	return nil
}

// Verify checks token's signature and claims and returns its claims. The
// error wraps one of the package's sentinel errors (see [Code]).
//
// The key is chosen by the header's kid when a key has that ID; it must
// then have the token's alg. Otherwise every key with the token's alg is
// tried (only keys without an ID when the token names an unknown kid).
// With Config.Remote, an unknown kid may first cause a fetch of the remote
// set, and Verify waits for it: for the fetch running, if any, and the
// one it causes, each bounded by RemoteJWKSConfig.Timeout per request;
// before the remote set is first fetched, a token no configured key can
// serve fails with [ErrNoKeys].
// A token must have exp; when Config.Issuer or Config.Audience is set, iss
// or aud must match it.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrMissing
	}
	if len(token) > MaxTokenSize {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	if err := v.checkPayload(token); err != nil {
		return Claims{}, err
	}
	var tc tokenClaims
	var keyErr error
	var typ string
	_, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		typ, _ = t.Header["typ"].(string)
		k, err := v.keyFor(t)
		keyErr = err
		return k, err
	})
	if keyErr != nil {
		return Claims{}, keyErr
	}
	if err != nil {
		return Claims{}, mapError(err)
	}
	// The signature is good from here on.
	if tc.ExpiresAt == nil && !v.mercure {
		return Claims{}, fmt.Errorf("%w: no exp claim", ErrClaims)
	}
	if v.issuer != "" && tc.Issuer != v.issuer {
		return Claims{}, ErrIssuer
	}
	if v.audience != "" && !slices.Contains(tc.Audience, v.audience) {
		return Claims{}, ErrAudience
	}
	c := Claims{Subject: tc.Subject}
	if tc.ExpiresAt != nil {
		c.ExpiresAt = tc.ExpiresAt.Time
	}
	if v.mercure {
		c.Issuer, c.Type, c.Audience = tc.Issuer, typ, tc.Audience
		c.Mercure, c.AuthorizationDetails = nullAsNil(tc.Mercure), nullAsNil(tc.AuthorizationDetails)
		return c, nil
	}
	if err := checkSubject(c.Subject); err != nil {
		return Claims{}, err
	}
	if c.Subscribe, err = parseGrant("subscribe", tc.Subscribe); err != nil {
		return Claims{}, err
	}
	if c.Publish, err = parseGrant("publish", tc.Publish); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// keyFor picks the key(s) t may be verified with, pinning the algorithm.
// Its errors are returned by Verify as they are.
//
// A kid is looked up in Config.Keys, then in the remote set; when neither
// has it, the remote set is fetched again (see
// [RemoteJWKS.refreshUnknownKID]) in case the provider has just rotated the
// key in. Configured keys come first when both have a kid.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	var kid string
	if raw, ok := t.Header["kid"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("%w: kid is not a string", ErrMalformed)
		}
		kid = s
	}
	var remote *keySet
	if v.remote != nil {
		remote = v.remote.current()
	}
	if kid != "" {
		k, ok := v.static.byID[kid]
		if !ok && remote != nil {
			k, ok = remote.byID[kid]
		}
		// Before the first set there is nothing to refresh against: the
		// refresh goroutine is already retrying, and holding requests for
		// a provider that is down would only slow their keys_unavailable.
		if !ok && remote != nil && v.remote.refreshUnknownKID() {
			remote = v.remote.current()
			k, ok = remote.byID[kid]
		}
		if ok {
			if k.alg != alg {
				return nil, fmt.Errorf("%w: key %q is %s, token says %s", ErrAlgorithm, kid, k.alg, clip.Quote(alg))
			}
			return k.key, nil
		}
	}
	var set jwt.VerificationKeySet
	anyKey := false // some key could serve this kid, whatever its algorithm
	for _, ks := range []*keySet{&v.static, remote} {
		if ks == nil {
			continue
		}
		for _, k := range ks.keys {
			if kid != "" && k.id != "" {
				continue // a key with an ID verifies only tokens naming it
			}
			anyKey = true
			if k.alg == alg {
				set.Keys = append(set.Keys, k.key)
			}
		}
	}
	switch {
	case !anyKey && v.remote != nil && remote == nil:
		// The key may well be in the set not fetched yet: say so, rather
		// than call a good token's signature bad.
		return nil, fmt.Errorf("%w: %v", ErrNoKeys, v.remote.Ready())
	case !anyKey:
		return nil, fmt.Errorf("%w: no key with kid %s", ErrSignature, clip.Quote(kid))
	case len(set.Keys) == 0:
		return nil, fmt.Errorf("%w: no key for alg %s", ErrAlgorithm, clip.Quote(alg))
	case len(set.Keys) == 1:
		return set.Keys[0], nil
	}
	return set, nil
}

// mapError maps an error from the jwt parser to this package's sentinels.
func mapError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Raised before the key function for an absent or unknown alg.
		return fmt.Errorf("%w: %v", ErrAlgorithm, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return fmt.Errorf("%w: %v", ErrClaims, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// checkPayload reports whether token has three parts and its payload is
// base64url of something that can be a JSON object. The jwt parser would
// accept a null payload as empty claims; checking first also spares the
// signature work for junk.
func (v *Verifier) checkPayload(token string) error {
	if n := strings.Count(token, "."); n != 2 {
		return fmt.Errorf("%w: want 3 dot-separated parts, got %d", ErrMalformed, n+1)
	}
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	b, err := v.parser.DecodeSegment(token[first+1 : last])
	if err != nil {
		return fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	if b = bytes.TrimLeft(b, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	return nil
}

// nullAsNil is raw, or nil for a JSON null, which stands for an absent
// claim.
func nullAsNil(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// checkSubject reports whether sub can name a private topic.
func checkSubject(sub string) error {
	if sub == "" {
		return nil
	}
	if err := topic.ValidateTopic(privatePrefix + sub); err != nil {
		return fmt.Errorf("%w: sub cannot name the private topic: %v", ErrClaims, err)
	}
	return nil
}

// privatePrefix starts the private topic of a subject
// (docs/protocol.md#private-topics).
const privatePrefix = "user/"

// parseGrant decodes a subscribe or publish claim: absent, null or an array
// of topics and patterns.
func parseGrant(name string, raw json.RawMessage) (acl.Grant, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return acl.Grant{}, nil
	}
	var entries []string
	if err := json.Unmarshal(raw, &entries); err != nil {
		return acl.Grant{}, fmt.Errorf("%w: %s claim is not an array of strings", ErrClaims, name)
	}
	g, err := acl.NewGrant(entries)
	if err != nil {
		return acl.Grant{}, fmt.Errorf("%w: %s claim: %v", ErrClaims, name, err)
	}
	return g, nil
}
