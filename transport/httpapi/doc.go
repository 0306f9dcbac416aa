// Package httpapi is ssehub's HTTP front door, on fasthttp: the SSE
// endpoint (GET /events), the publish API (POST /publish), the operations
// endpoints, CORS, per-client limits, the glue between requests and
// package auth, and the demo page. Its contract with clients is
// docs/protocol.md.
//
// A stream's connection is hijacked from fasthttp and handed to the hub,
// whose shards write to it from then on: no fasthttp worker or buffer is
// parked per stream. The front door knows the hub and the broker contract
// (hub/broker), never a broker implementation (.ci/check-imports).
package httpapi
