package mercure

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/transport/auth"
)

// tokenGrants is what a verified token of either generation grants.
type tokenGrants struct {
	gen     Generation
	claim07 Claim07 // Draft07
	details Details // Draft08
}

// TokenGeneration returns the generation of a verified token's claims
// (docs/mercure-design.md, "Auth"): a token with authorization_details is
// a draft-08 access token, and so is one typed at+jwt without a mercure
// claim (it grants nothing, but must pass draft-08's checks); any other
// is a draft-07 token, whose mercure claim (if any) says what it grants.
func TokenGeneration(c auth.Claims) Generation {
	if c.AuthorizationDetails != nil || (c.Mercure == nil && IsAccessTokenType(c.Type)) {
		return Draft08
	}
	return Draft07
}

// IsAccessTokenType reports whether typ, a JWT header's typ, is that of a
// JWT access token: "at+jwt", or "application/at+jwt", ASCII
// case-insensitively (draft-08 §6.3, RFC 7515 §4.1.9, RFC 9068 §2.1).
func IsAccessTokenType(typ string) bool {
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	return strings.EqualFold(typ, "at+jwt")
}

// grants checks a verified token against its generation's rules and
// parses what it grants. Every failure is 401 invalid_token (draft-08
// §6.2); the reason of a failed draft-08 check (typ, exp, aud) goes to the
// debug log only, as a failed signature's does.
func (d *Door) grants(c auth.Claims) (tokenGrants, error) {
	g := tokenGrants{gen: TokenGeneration(c)}
	if d.cfg.Protocol != 0 && g.gen != d.cfg.Protocol {
		return g, invalidToken(fmt.Sprintf("this hub accepts draft-%02d tokens only", d.cfg.Protocol))
	}
	if g.gen == Draft07 {
		var err error
		if g.claim07, err = ParseClaim07(c.Mercure); err != nil {
			return g, invalidToken(err.Error())
		}
		return g, nil
	}
	if reason := d.check08(c); reason != "" {
		d.cfg.Logger.Debug("mercure token refused", "code", "draft08", "err", reason)
		return g, invalidToken("the token is not valid")
	}
	var err error
	if g.details, err = ParseAuthorizationDetails(c.AuthorizationDetails, d.base); err != nil {
		return g, invalidToken(err.Error())
	}
	return g, nil
}

// check08 returns why c fails draft-08 §6.3's checks beyond the signature
// and times auth.Verifier made, or "" when it passes.
func (d *Door) check08(c auth.Claims) string {
	switch {
	case !IsAccessTokenType(c.Type):
		return fmt.Sprintf("typ %q is not at+jwt (draft-08 §6.3)", c.Type)
	case c.ExpiresAt.IsZero():
		// auth.Config.Mercure lets draft-07 tokens go without exp;
		// draft-08 §6.3 requires it.
		return "no exp (draft-08 §6.3)"
	case d.cfg.Resource == "":
		return "no resource identifier configured (--mercure-resource): draft-08 tokens cannot be checked (draft-08 §6.3)"
	case !slices.Contains(c.Audience, d.cfg.Resource):
		return fmt.Sprintf("aud %q does not contain the hub's resource identifier (draft-08 §6.3)", c.Audience)
	}
	return ""
}

// subscribe returns the grants for private updates: nil for none.
func (g tokenGrants) subscribe() (*mercure.Selectors, error) {
	if g.gen == Draft08 {
		return g.details.Subscribe, nil
	}
	if len(g.claim07.Subscribe) == 0 {
		return nil, nil
	}
	s, err := mercure.FromTopics(g.claim07.Subscribe)
	if err != nil {
		return nil, invalidToken(err.Error())
	}
	return s, nil
}

// publish returns the matchers the token may publish to, or the 403 of a
// token that may publish nowhere.
func (g tokenGrants) publish() (*mercure.Selectors, error) {
	if g.gen == Draft08 {
		if g.details.Publish == nil {
			return nil, insufficientScope("the token has no mercure authorization detail with the publish action (draft-08 §6.5)")
		}
		return g.details.Publish, nil
	}
	if len(g.claim07.Publish) == 0 {
		return nil, insufficientScope("the token's mercure.publish claim grants no topic (draft-07 §6.4)")
	}
	s, err := mercure.FromTopics(g.claim07.Publish)
	if err != nil {
		return nil, invalidToken(err.Error())
	}
	return s, nil
}

// cite names the section of the token's draft: s07 or s08.
func (g tokenGrants) cite(s07, s08 string) string {
	if g.gen == Draft08 {
		return "draft-08 " + s08
	}
	return "draft-07 " + s07
}
