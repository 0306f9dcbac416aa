// Package ssewire decodes SSE responses as raw bytes arrive from a socket:
// the HTTP/1.1 response head, the body (de-chunked when the server uses
// chunked transfer coding) and the event stream inside it, by the rules of
// the WHATWG HTML "Server-sent events" section.
//
// It exists for the load generator, whose worker processes each hold about
// 15,000 streams and parse up to a million events per second. That shapes
// it in three ways that package transport/sse, the spec parser used by the
// server's tests, does not need:
//
//   - No allocation per event. transport/sse hands out an Event of strings,
//     one allocation at least per event; here the id, type and data reach
//     the [Handler] as slices of the bytes read, valid during the call.
//   - Tiny idle state. A [Stream] is a few dozen bytes plus its last event
//     ID. Buffers are taken from a shared pool only while a line or an
//     event continues from one read into the next, and go back as soon as
//     it is complete, so idle streams pin no buffers.
//   - It starts at the socket. The bench reads raw TCP without net/http, so
//     the response head and chunked framing are decoded here too, in the
//     same incremental pass and under size limits, since a misbehaving
//     server must cost the bench an error, not its memory.
//
// transport/sse stays the reference: the tests hold this package to its
// Parser on random streams.
package ssewire
