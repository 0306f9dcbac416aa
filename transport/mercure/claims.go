package mercure

import (
	"encoding/json"
	"fmt"

	"github.com/ssehub/ssehub/hub/topic/mercuremap"
)

// MaxClaimSelectors bounds the selectors of a token's publish or
// subscribe list (docs/mercure-design.md, "Limits"): a token is checked
// against every update, so its size is a cost.
const MaxClaimSelectors = 1024

// Claim07 is a draft-07 token's "mercure" claim (draft-07 §6.6 Payload):
// the topic selectors its holder may publish to and receive private
// updates of, and the payload subscription events carry.
type Claim07 struct {
	// Publish are the publish selectors: exact topics, URI templates or
	// "*". Nil: the token may not publish (draft-07 §6.4).
	Publish []string
	// Subscribe are the subscribe selectors, for private updates
	// (draft-07 §6.5).
	Subscribe []string
	// Payload is the claim's payload, any JSON, raw; nil when absent.
	Payload json.RawMessage
}

// ParseClaim07 parses a raw "mercure" claim (auth.Claims.Mercure). An
// absent claim grants nothing. Each selector is checked as a topic
// (mercuremap.Validate); a list longer than MaxClaimSelectors, or a
// claim of the wrong shape, refuses the token.
func ParseClaim07(raw json.RawMessage) (Claim07, error) {
	var c Claim07
	if len(raw) == 0 {
		return c, nil
	}
	var w struct {
		Publish   []string        `json:"publish"`
		Subscribe []string        `json:"subscribe"`
		Payload   json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return c, fmt.Errorf("mercure claim: %w", err)
	}
	for name, list := range map[string][]string{"publish": w.Publish, "subscribe": w.Subscribe} {
		if len(list) > MaxClaimSelectors {
			return c, fmt.Errorf("mercure claim: %d %s selectors, at most %d", len(list), name, MaxClaimSelectors)
		}
		for _, s := range list {
			if err := mercuremap.Validate(s); err != nil {
				return c, fmt.Errorf("mercure claim: %s selector: %w", name, err)
			}
		}
	}
	c.Publish, c.Subscribe = w.Publish, w.Subscribe
	if len(w.Payload) > 0 && string(w.Payload) != "null" {
		c.Payload = w.Payload
	}
	return c, nil
}
