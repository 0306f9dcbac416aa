package mercure

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ssehub/ssehub/hub/topic/urlpattern"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/mercure"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/transport/auth"
)

// Active subscriptions (draft-07 §8, draft-08 §8; docs/mercure-design.md,
// "Active subscriptions"): each selector of a stream is a subscription,
// whose id is the topic of its subscription events and the path of its
// document in the API:
//
//	draft-07: <path>/subscriptions/{topic}/{subscriber}
//	draft-08: <path>/subscriptions/{match_type}/{match}/{subscriber}
//
// each variable percent-encoded once, as a whole (escapeVar).

// jsonLDContext is the fixed @context of the documents (draft-07 §8.1,
// draft-08 §8.1).
const jsonLDContext = "https://mercure.rocks/"

// MaxPayload bounds the payload a subscription document carries: a
// token's payload larger than this is left out of the documents (JSON
// cannot be cut), so that a token cannot make every event and record of
// its subscriptions large.
const MaxPayload = 4 << 10

// subscriptionsSegment follows the hub's path in every id and API URL.
const subscriptionsSegment = "/subscriptions"

// matchType is draft-08's name of a selector's kind (draft-08 §4): exact
// or urlpattern.
func matchType(k mercure.Kind) string {
	if k == mercure.URLPattern {
		return "urlpattern"
	}
	return "exact"
}

// isMatchType reports whether s names a draft-08 matcher type, as the
// first segment after /subscriptions.
func isMatchType(s string) bool { return s == "exact" || s == "urlpattern" }

// escapeVar percent-encodes s as RFC 6570 expands a simple variable:
// every byte but the unreserved ones (ALPHA, DIGIT, "-", ".", "_", "~")
// as %XX with upper-case hex, "%" included, so that an already encoded
// value is encoded again, never decoded (draft-08 §8.1: "exactly once").
func escapeVar(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// subscriberID is the {subscriber} of a stream's subscriptions (draft-08
// §8.1): derived from the validated iss and sub claims when the token has
// a subject, so that a subscriber's streams share it, and without showing
// the subject to the readers of subscription events; else a random URN
// per stream. Nothing a client sends can choose it.
func subscriberID(c auth.Claims) string {
	if c.Subject == "" {
		return randomURN()
	}
	h := sha256.New()
	// Length-prefixed, so that no issuer and subject pair can be spelt
	// as another.
	fmt.Fprintf(h, "%d:%s%d:%s", len(c.Issuer), c.Issuer, len(c.Subject), c.Subject)
	return "urn:ssehub:" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:20]))
}

// randomURN returns a random (version 4) urn:uuid.
func randomURN() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// subscriptionPayload is the one place where a subscription's payload is
// chosen (draft-07 §6.6, draft-08 §6.8): for a draft-07 token, its
// mercure.payload, the same for every selector; for a draft-08 token, the
// payload of the first subscribe detail whose matchers match sel's text
// (Details.PayloadFor). None for an anonymous subscriber (g is zero). A
// payload over MaxPayload is left out.
func subscriptionPayload(g tokenGrants, sel mercure.Selector) json.RawMessage {
	p := g.claim07.Payload
	if g.gen == Draft08 {
		p = g.details.PayloadFor(sel.Value)
	}
	if len(p) > MaxPayload {
		return nil
	}
	return p
}

// subscriptionDoc is a subscription's JSON-LD document, its fields in the
// order the drafts show them; active comes before payload, which
// endedDoc relies on.
type subscriptionDoc struct {
	Context    string          `json:"@context"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Topic      string          `json:"topic,omitempty"`      // draft-07
	MatchType  string          `json:"match_type,omitempty"` // draft-08
	Match      string          `json:"match,omitempty"`      // draft-08
	Subscriber string          `json:"subscriber"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// subscriptionRecord returns the record of the subscription of sel, a
// selector of a stream of generation gen whose subscriber is subscriber,
// for a hub at path: its id and its document, active.
func subscriptionRecord(path string, gen Generation, sel mercure.Selector, subscriber string, payload json.RawMessage) broker.MercureSubscription {
	d := subscriptionDoc{Context: jsonLDContext, Type: "Subscription", Subscriber: subscriber, Active: true, Payload: payload}
	if gen == Draft08 {
		d.MatchType, d.Match = matchType(sel.Kind), sel.Value
		d.ID = path + subscriptionsSegment + "/" + d.MatchType + "/" + escapeVar(sel.Value) + "/" + escapeVar(subscriber)
	} else {
		d.Topic = sel.Value
		d.ID = path + subscriptionsSegment + "/" + escapeVar(sel.Value) + "/" + escapeVar(subscriber)
	}
	doc, err := json.Marshal(d)
	if err != nil {
		// Only the payload can fail, and it is a verified token's JSON.
		d.Payload = nil
		doc, _ = json.Marshal(d)
	}
	return broker.MercureSubscription{ID: d.ID, Doc: doc}
}

// activeTrue is how an active document says so; the first occurrence in a
// document is its own field, since every field before it is a JSON string
// (which cannot hold an unescaped quote) and the payload comes after it.
var activeTrue = []byte(`"active":true`)

// endedDoc returns the document doc (active) with active set to false.
func endedDoc(doc []byte) []byte {
	i := bytes.Index(doc, activeTrue)
	if i < 0 {
		return doc
	}
	out := make([]byte, 0, len(doc)+1)
	out = append(out, doc[:i]...)
	out = append(out, `"active":false`...)
	return append(out, doc[i+len(activeTrue):]...)
}

// subscriptionEvent returns the private update that announces doc, the
// document of the subscription id (draft-07 §8.1, draft-08 §8.1), on
// topic id, routed as the door routes an update (publication), so that
// relative URL patterns reach it.
func subscriptionEvent(id string, doc []byte, base *urlpattern.Base) (broker.Publication, error) {
	return publication(Update{Topics: []string{id}, Data: string(doc), Private: true}, base)
}

// APIPath is a parsed request path of the subscriptions API (draft-07
// §8.2, draft-08 §8.2), canonical: its variables decoded and encoded again
// as escapeVar does, so that it compares with the ids of subscriptions.
type APIPath struct {
	// Path is the canonical path: what the request's authorization is
	// checked against and the collection's id.
	Path string
	// Prefix, for a collection, is what the ids of its subscriptions start
	// with; empty for a single subscription.
	Prefix string
	// ID, for a single subscription, is its id; for a two-segment path
	// that could be either, the draft-07 subscription that is tried first
	// (Prefix is then the draft-08 collection's).
	ID string
	// Generation is the generation the path is of, 0 for the whole
	// collection (either).
	Generation Generation
}

// ParseAPIPath parses raw, the request's path as sent (still
// percent-encoded), for a hub at path. It returns false for a path that
// is not under path + "/subscriptions", has an empty segment, an invalid
// escape, or a variable that is not a valid topic or subscriber (invalid
// UTF-8, control characters; mercuremap.Validate), or more segments than
// a subscription's: nothing is there (404).
func ParseAPIPath(path, raw string) (APIPath, bool) {
	base := path + subscriptionsSegment
	rest, ok := strings.CutPrefix(raw, base)
	if !ok || rest != "" && rest[0] != '/' {
		return APIPath{}, false
	}
	if rest == "" {
		return APIPath{Path: base, Prefix: base + "/"}, true
	}
	segs := strings.Split(rest[1:], "/")
	if len(segs) > 3 {
		return APIPath{}, false
	}
	canon := make([]string, len(segs))
	for i, s := range segs {
		v, err := url.PathUnescape(s)
		if err != nil || v == "" || !utf8.ValidString(v) || mercuremap.Validate(v) != nil {
			return APIPath{}, false
		}
		canon[i] = escapeVar(v)
	}
	p := base + "/" + strings.Join(canon, "/")
	switch {
	case len(segs) == 1:
		return APIPath{Path: p, Prefix: p + "/", Generation: Draft07}, true
	case len(segs) == 2 && isMatchType(segs[0]):
		return APIPath{Path: p, Prefix: p + "/", ID: p, Generation: Draft08}, true
	case len(segs) == 2:
		return APIPath{Path: p, ID: p, Generation: Draft07}, true
	case isMatchType(segs[0]):
		return APIPath{Path: p, ID: p, Generation: Draft08}, true
	}
	return APIPath{}, false
}
