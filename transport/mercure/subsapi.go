package mercure

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/internal/telemetry"
)

// MaxListed bounds the subscriptions of a collection answer (draft-08
// §8.2 lets a hub truncate collections; draft-07 §8.2 says nothing of a
// bound, and we keep one).
const MaxListed = 1000

// apiTimeout bounds the store reads of one API request.
const apiTimeout = 5 * time.Second

// collectionDoc is a collection's JSON-LD document (draft-07 §8.2,
// draft-08 §8.2). The last event id is under both drafts' names: a
// collection of every subscription is of neither generation, and the
// extra property is allowed by both.
type collectionDoc struct {
	Context       string            `json:"@context"`
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	LastEventID   string            `json:"lastEventID"`
	LastEventID08 string            `json:"last_event_id"`
	Subscriptions []json.RawMessage `json:"subscriptions"`
}

// subscriptionsAPI answers GET <path>/subscriptions[/...] (draft-07 §8.2,
// draft-08 §8.2): the token's subscribe selectors must match the request's
// canonical path, as they would the topic of a subscription event, else
// 401 or 403; a single subscription that no live hub has is 404.
func (d *Door) subscriptionsAPI(ctx *fasthttp.RequestCtx) {
	_, span := d.front.StartSpan(ctx, d.cfg.Path+subscriptionsSegment)
	defer func() { telemetry.EndServer(span, ctx.Response.StatusCode()) }()
	if !ctx.IsGet() {
		ctx.Response.Header.Set("Allow", "GET")
		writeError(ctx, &Error{Status: http.StatusMethodNotAllowed, Message: "the subscriptions API is read with GET"})
		return
	}
	p, ok := ParseAPIPath(d.cfg.Path, string(ctx.URI().PathOriginal()))
	if !ok {
		writeError(ctx, &Error{Status: http.StatusNotFound, Message: "not found"})
		return
	}
	// The grants are the token's subscribe selectors (draft-07) or
	// subscribe details (draft-08), checked as for private updates, with
	// the same token rules (generation, typ, exp, aud).
	_, g, err := d.authorize(ctx, d.cfg.Subscribers, true)
	if err != nil {
		writeError(ctx, err)
		return
	}
	grants, err := g.subscribe()
	if err != nil {
		writeError(ctx, err)
		return
	}
	if grants == nil || !grants.MatchesAny([]string{p.Path}) {
		writeError(ctx, insufficientScope("no subscribe selector of the token matches "+p.Path+" (draft-07 §8.2, draft-08 §8.2)"))
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	head, err := d.cfg.Subscriptions.Head(rctx)
	if err != nil {
		d.unavailable(ctx, err)
		return
	}
	last := "earliest"
	if !head.IsZero() {
		last = "#" + head.String()
	}
	if p.ID != "" {
		rec, found, err := d.cfg.Subscriptions.MercureSubscription(rctx, p.ID)
		if err != nil {
			d.unavailable(ctx, err)
			return
		}
		if found {
			writeLD(ctx, withLastEventID(rec.Doc, last))
			return
		}
		if p.Prefix == "" {
			writeError(ctx, &Error{Status: http.StatusNotFound, Message: "no such subscription"})
			return
		}
	}
	recs, err := d.cfg.Subscriptions.MercureSubscriptions(rctx, p.Prefix, MaxListed)
	if err != nil {
		d.unavailable(ctx, err)
		return
	}
	doc := collectionDoc{Context: jsonLDContext, ID: p.Path, Type: "Subscriptions", LastEventID: last, LastEventID08: last,
		Subscriptions: make([]json.RawMessage, 0, len(recs))}
	for _, r := range recs {
		if json.Valid(r.Doc) { // a store's record is not trusted to be JSON
			doc.Subscriptions = append(doc.Subscriptions, r.Doc)
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeLD(ctx, body)
}

// withLastEventID adds the last event id to doc, a subscription's
// document, under both drafts' names (draft-07 §8.2 lastEventID,
// draft-08 §8.2 last_event_id).
func withLastEventID(doc []byte, last string) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return doc
	}
	id, _ := json.Marshal(last)
	m["lastEventID"], m["last_event_id"] = id, id
	out, err := json.Marshal(m)
	if err != nil {
		return doc
	}
	return out
}

// writeLD answers 200 with body, a JSON-LD document.
func writeLD(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetContentType("application/ld+json")
	ctx.Response.Header.Set("Cache-Control", "must-revalidate")
	ctx.SetBody(body)
}

// unavailable answers 503 when the store did not answer.
func (d *Door) unavailable(ctx *fasthttp.RequestCtx, err error) {
	if !errors.Is(err, context.Canceled) {
		d.cfg.Logger.Warn("mercure subscriptions API", "err", err)
	}
	ctx.Response.Header.Set("Retry-After", "1")
	writeError(ctx, &Error{Status: http.StatusServiceUnavailable, Message: "the subscription store did not answer; retry"})
}
