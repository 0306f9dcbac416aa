package auth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub/acl"
)

// DefaultMintTTL is the lifetime of a minted token when MintClaims.TTL is
// zero.
const DefaultMintTTL = time.Hour

// MintClaims are the claims of a development token made by [Mint].
type MintClaims struct {
	// Subject is the sub claim. Empty means none.
	Subject string
	// Subscribe and Publish are the subscribe and publish claims: topics and
	// patterns. Nil means the claim is left out.
	Subscribe, Publish []string
	// TTL is how long the token is valid from now. Zero means
	// DefaultMintTTL; negative is an error.
	TTL time.Duration
	// Issuer and Audience are the iss and aud claims. Empty means none.
	Issuer, Audience string
}

// mintPayload is the JSON payload Mint signs.
type mintPayload struct {
	jwt.RegisteredClaims
	Subscribe []string `json:"subscribe,omitempty"`
	Publish   []string `json:"publish,omitempty"`
}

// Mint makes an HS256 token signed with key.Secret (key.Algorithm must be
// HS256 or empty), for development and tests (the `ssehub token` command).
// The header carries key.ID as kid when set. It checks the claims as
// [Verifier.Verify] would, so it never mints a token the hub would refuse
// for its claims.
func Mint(key KeyConfig, c MintClaims) (string, error) {
	if key.Algorithm != "" && key.Algorithm != HS256 {
		return "", fmt.Errorf("auth: mint: algorithm %q, only HS256 is supported", key.Algorithm)
	}
	key.Algorithm = HS256
	vk, err := loadKey(key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	if c.TTL < 0 {
		return "", fmt.Errorf("auth: mint: ttl=%s is negative", c.TTL)
	}
	if c.TTL == 0 {
		c.TTL = DefaultMintTTL
	}
	if err := checkSubject(c.Subject); err != nil {
		return "", err // already "auth: invalid claims: ..."
	}
	for _, g := range []struct {
		name    string
		entries []string
	}{{"subscribe", c.Subscribe}, {"publish", c.Publish}} {
		if _, err := acl.NewGrant(g.entries); err != nil {
			return "", fmt.Errorf("auth: mint: %s: %w", g.name, err)
		}
	}
	now := time.Now()
	p := mintPayload{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			Issuer:    c.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
		},
		Subscribe: c.Subscribe,
		Publish:   c.Publish,
	}
	if c.Audience != "" {
		p.Audience = jwt.ClaimStrings{c.Audience}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, p)
	if key.ID != "" {
		t.Header["kid"] = key.ID
	}
	s, err := t.SignedString(vk.key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}
