// Package transport holds what ssehub's brokers share, and its
// subpackages are the hub's edges:
//
//   - transport/membroker: the embedded broker (ids, history and fan-out in
//     process memory);
//   - transport/redisbroker: the Redis broker, which lets a fleet of hub
//     processes act as one;
//   - transport/httpapi: the HTTP front door over fasthttp (the SSE
//     endpoint, the publish API, CORS, limits, the demo page);
//   - transport/sse: the SSE wire format (encoder and parser);
//   - transport/auth: JWT verification for the front door.
//
// "Transport" is meant as Mercure uses it for its backends: the brokers
// implement [broker.Broker] and know nothing of HTTP. This package gives
// them one encoding of an event, one vocabulary of reset events and one
// way to merge history reads, so that both answer a resume the same way
// (docs/protocol.md#resets).
package transport
