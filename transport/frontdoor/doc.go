// Package frontdoor is what ssehub's front doors share: admitting an SSE
// stream and handing it to the hub, and answering requests the same way
// whichever protocol they speak. A front door (the native API in
// transport/httpapi; later the Mercure protocol) parses its own requests,
// checks its own credentials and answers its own errors; then
// [Door.Stream] applies the per-address and per-user stream limits,
// hijacks the connection, writes the stream head (with CORS headers and
// the door's own header lines) and hands the stream to the hub, or refuses
// it with a stream that tells EventSource when to retry, never an error
// status. Besides: the CORS policy, the publish rate limiter, the
// listener that lets refused requests close gracefully, and the last frame
// of a drained stream.
//
// A stream's connection is hijacked from fasthttp and handed to the hub,
// whose shards write to it from then on: no fasthttp worker or buffer is
// parked per stream. Like every front door it knows the hub and the broker
// contract (hub/broker), never a broker implementation
// (.ci/check-imports).
package frontdoor
