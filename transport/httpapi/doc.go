// Package httpapi is ssehub's HTTP front door, on fasthttp: the server,
// the SSE endpoint (GET /events), the publish API (POST /publish), the
// operations endpoints, the glue between requests and package auth, and
// the demo page. Its contract with clients is docs/protocol.md.
//
// What another front door (the Mercure protocol) shares with it is in
// package transport/frontdoor: the stream limits, CORS, the publish rate
// limiter, the hijack and the stream head, and the refusals that keep
// EventSource reconnecting. httpapi parses and authorizes a subscribe
// request, then hands it to [frontdoor.Door.Stream]. Another door is
// served by the same server, on its own paths ([Server.Mount]), with the
// same Door ([Server.Door]).
//
// A stream's connection is hijacked from fasthttp and handed to the hub,
// whose shards write to it from then on: no fasthttp worker or buffer is
// parked per stream. The front door knows the hub and the broker contract
// (hub/broker), never a broker implementation (.ci/check-imports).
package httpapi
