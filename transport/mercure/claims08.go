package mercure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
	"github.com/ssehub/ssehub/internal/clip"
)

// Limits on a draft-08 token's authorization_details (draft-08 §6.4 asks
// for implementation-defined maximums; docs/mercure-design.md, "Limits").
// A token is checked against every update its stream is offered, so its
// size is a cost; both bounds are far above what an app mints.
const (
	// MaxDetails is the most "mercure" authorization details of a token.
	MaxDetails = 64
	// MaxDetailMatchers is the most topic matchers of all of a token's
	// "mercure" details together.
	MaxDetailMatchers = 1024
)

// DetailType is the authorization detail type draft-08 §6.4 defines.
// Details of other types are another resource's business and ignored.
const DetailType = "mercure"

// Action is a set of the actions a detail grants (draft-08 §6.4).
type Action uint8

const (
	// ActionPublish is the "publish" action (draft-08 §6.5).
	ActionPublish Action = 1 << iota
	// ActionSubscribe is the "subscribe" action, for private updates
	// (draft-08 §6.6).
	ActionSubscribe
)

// Detail is one "mercure" authorization detail of a draft-08 token.
type Detail struct {
	// Actions are the actions it grants that the hub knows; zero when it
	// lists only unknown ones (which grant nothing, §6.4).
	Actions Action
	// Topics are its topic matchers (§6.7), in token order.
	Topics []mercure.Selector
	// Payload is its payload, a JSON object, raw; nil when absent. It only
	// means something with ActionSubscribe (§6.8).
	Payload json.RawMessage

	set *mercure.Selectors // Topics, compiled
}

// Matches reports whether one of the detail's topic matchers matches
// topic (draft-08 §4: "*" anything, exact byte for byte, urlpattern as
// the pattern says). A Detail not made by ParseAuthorizationDetails
// matches nothing.
func (d *Detail) Matches(topic string) bool {
	return d.set != nil && d.set.MatchesAny([]string{topic})
}

// Details is a parsed authorization_details claim: its "mercure" details
// and the grants they add up to.
type Details struct {
	// Details are the "mercure" details, in token order (the order
	// decides payloads, §6.8).
	Details []Detail
	// Publish are the matchers of the details granting "publish"; nil
	// when none does (the token may not publish, §6.5).
	Publish *mercure.Selectors
	// Subscribe are the matchers of the details granting "subscribe": the
	// private updates the token may receive (§6.6); nil when none.
	Subscribe *mercure.Selectors
}

// MayPublish reports whether the token may publish an update of topic
// (draft-08 §6.5: a publish detail must match the update's one topic).
func (d Details) MayPublish(topic string) bool {
	return d.Publish != nil && d.Publish.MatchesAny([]string{topic})
}

// PayloadFor returns the payload of the subscription whose matcher is
// match (the match or match_<type> query parameter's value), as
// subscription events and the subscription API carry it (draft-08 §6.8):
// that of the first subscribe detail one of whose topic matchers matches
// match, taken as if it were a topic. The first matching detail decides
// even when it has no payload (then nil): §6.8 names its payload, not the
// first payload found. The caller must not modify the result.
func (d Details) PayloadFor(match string) json.RawMessage {
	for i := range d.Details {
		det := &d.Details[i]
		if det.Actions&ActionSubscribe != 0 && det.Matches(match) {
			return det.Payload
		}
	}
	return nil
}

// ErrDetails is wrapped by every error of ParseAuthorizationDetails: the
// token must be refused as a whole with 401 invalid_token (draft-08 §6.4,
// §6.7), never used in part.
var ErrDetails = errors.New("authorization_details")

// ParseAuthorizationDetails parses a draft-08 token's raw
// authorization_details claim (auth.Claims.AuthorizationDetails).
//
// The claim must be a JSON array of objects, each with a string "type"
// (RFC 9396 §2). Details of another type than "mercure" are skipped. A
// "mercure" detail must have a non-empty "actions" array of strings
// (unknown actions grant nothing, §6.4), a non-empty "topics" array of
// topic matcher objects, each with a string "match" and an optional
// "match_type" the hub supports ("exact", the default, or "urlpattern";
// §6.7), and may have a "payload" object. Matchers are checked as the
// subscribe query's are (ParseSubscription): valid topics, patterns that
// parse. Anything else, more than MaxDetails "mercure" details or more
// than MaxDetailMatchers matchers refuses the whole claim (§6.4: no
// partial acceptance). An absent claim (nil) grants nothing. base is the
// hub's URL, against which relative URL patterns resolve (draft-08 §4.2);
// with a nil base they refuse the claim.
func ParseAuthorizationDetails(raw json.RawMessage, base *urlpattern.Base) (Details, error) {
	var d Details
	if len(raw) == 0 {
		return d, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return d, fmt.Errorf("%w: not a JSON array", ErrDetails)
	}
	var publish, subscribe []mercure.Selector
	matchers := 0
	for i, e := range entries {
		// A map, not a struct: encoding/json matches struct fields
		// case-insensitively, and "Type" is not "type".
		var obj map[string]json.RawMessage
		if err := unmarshalObject(e, &obj); err != nil {
			return Details{}, fmt.Errorf("%w: entry %d is not a JSON object", ErrDetails, i)
		}
		var typ string
		if err := unmarshalString(obj["type"], &typ); err != nil {
			return Details{}, fmt.Errorf("%w: entry %d has no string type (RFC 9396 §2)", ErrDetails, i)
		}
		if typ != DetailType {
			continue
		}
		if len(d.Details) == MaxDetails {
			return Details{}, fmt.Errorf("%w: more than %d mercure details", ErrDetails, MaxDetails)
		}
		det, err := parseDetail(obj)
		if err != nil {
			return Details{}, fmt.Errorf("%w: detail %d: %v", ErrDetails, i, err)
		}
		if matchers += len(det.Topics); matchers > MaxDetailMatchers {
			return Details{}, fmt.Errorf("%w: more than %d topic matchers in all", ErrDetails, MaxDetailMatchers)
		}
		if det.set, err = mercure.NewWithBase(det.Topics, base); err != nil {
			return Details{}, fmt.Errorf("%w: detail %d: %v", ErrDetails, i, err)
		}
		if det.Actions&ActionPublish != 0 {
			publish = append(publish, det.Topics...)
		}
		if det.Actions&ActionSubscribe != 0 {
			subscribe = append(subscribe, det.Topics...)
		}
		d.Details = append(d.Details, det)
	}
	var err error
	if publish != nil {
		if d.Publish, err = mercure.NewWithBase(publish, base); err != nil {
			return Details{}, fmt.Errorf("%w: %v", ErrDetails, err) // unreachable: each detail's matchers parsed
		}
	}
	if subscribe != nil {
		if d.Subscribe, err = mercure.NewWithBase(subscribe, base); err != nil {
			return Details{}, fmt.Errorf("%w: %v", ErrDetails, err)
		}
	}
	return d, nil
}

// parseDetail reads a "mercure" detail's actions, topics and payload; its
// matchers are validated as values here and compiled by the caller.
func parseDetail(obj map[string]json.RawMessage) (Detail, error) {
	var det Detail
	var actions []json.RawMessage
	if err := json.Unmarshal(obj["actions"], &actions); err != nil || len(actions) == 0 {
		return det, errors.New("actions must be a non-empty array of strings")
	}
	for _, a := range actions {
		var name string
		if err := unmarshalString(a, &name); err != nil {
			return det, errors.New("actions must be a non-empty array of strings")
		}
		switch name {
		case "publish":
			det.Actions |= ActionPublish
		case "subscribe":
			det.Actions |= ActionSubscribe
		}
		// Other actions are for future specifications: ignored (§6.4).
	}
	var topics []json.RawMessage
	if err := json.Unmarshal(obj["topics"], &topics); err != nil || len(topics) == 0 {
		return det, errors.New("topics must be a non-empty array of topic matchers")
	}
	if len(topics) > MaxDetailMatchers {
		// Checked before the work of reading them; the caller checks the
		// sum over details.
		return det, fmt.Errorf("more than %d topic matchers", MaxDetailMatchers)
	}
	det.Topics = make([]mercure.Selector, 0, len(topics))
	for j, t := range topics {
		sel, err := parseMatcher(t)
		if err != nil {
			return det, fmt.Errorf("topic matcher %d: %v", j, err)
		}
		det.Topics = append(det.Topics, sel)
	}
	if p, ok := obj["payload"]; ok && string(p) != "null" {
		var payload map[string]json.RawMessage
		if err := unmarshalObject(p, &payload); err != nil {
			return det, errors.New("payload must be a JSON object")
		}
		det.Payload = p
	}
	return det, nil
}

// parseMatcher reads one topic matcher object (draft-08 §6.7).
func parseMatcher(raw json.RawMessage) (mercure.Selector, error) {
	var obj map[string]json.RawMessage
	if err := unmarshalObject(raw, &obj); err != nil {
		return mercure.Selector{}, errors.New("not a JSON object")
	}
	var sel mercure.Selector
	m, ok := obj["match"]
	if !ok {
		return sel, errors.New("no match")
	}
	if err := unmarshalString(m, &sel.Value); err != nil {
		return sel, errors.New("match is not a string")
	}
	sel.Kind = mercure.Exact // the default type (§6.7)
	t, ok := obj["match_type"]
	if !ok {
		t, ok = obj["matchType"] // the draft's later revisions' name
	}
	if ok {
		var typ string
		if err := unmarshalString(t, &typ); err != nil {
			return sel, errors.New("match_type is not a string")
		}
		if sel.Kind, ok = MatcherKind(typ); !ok {
			// Unlike an unknown action, an unknown type cannot be
			// skipped: the grant could not be evaluated (§6.7).
			return sel, fmt.Errorf("unsupported match_type %s (exact or urlpattern)", clip.Quote(typ))
		}
	}
	if err := validateMatcher(sel.Value); err != nil {
		return sel, err
	}
	return sel, nil
}

// unmarshalObject decodes raw, which must be a JSON object (not null,
// which json.Unmarshal would take as an empty map).
func unmarshalObject(raw json.RawMessage, v *map[string]json.RawMessage) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return err
	}
	if *v == nil {
		return errors.New("not an object")
	}
	return nil
}

// unmarshalString decodes raw, which must be a JSON string (not null,
// which json.Unmarshal would take as "").
func unmarshalString(raw json.RawMessage, s *string) error {
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, s)
}
