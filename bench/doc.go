// Package bench is ssehub's load-test suite: it starts real ssehub
// processes (or reaches an existing deployment, or any SSE server),
// holds many concurrent SSE streams against them from several
// load-generator processes, publishes at a steady rate, and measures what
// the performance targets (docs/protocol.md#performance-targets) are stated
// in: loss, latency, memory and CPU.
//
// [Run] runs a named scenario ([ScenarioNames]) with a [Config] and
// returns a report.Run (package bench/report prints it as a table, JSON
// or HTML). A run is:
//
//   - a coordinator, the calling process: it starts a private
//     redis-server ([StartRedis]) and the hubs ([StartHub]) unless
//     Config.Remote names a deployment, then the workers, and drives the
//     phases: it publishes ([Publisher]), samples every process's
//     counters, memory and CPU once a second, and checks the results;
//   - workers ([StartWorker]): this same executable run again with
//     SSEHUB_BENCH_ROLE=worker, which [MaybeRunWorker] turns into
//     [RunWorker]. Each holds up to [MaxGeneratorStreams] raw-TCP streams
//     from its own loopback address, decodes them with bench/ssewire,
//     and tracks every topic's sequence numbers per stream, so that
//     lost, repeated and reordered events are counted exactly;
//   - the events' data ([AppendPayload]): the topic, a sequence number and
//     the time published, from which a stream also measures end-to-end
//     latency.
//
// The side-by-side scenarios, compare and flood-compare, run the same
// phases against ssehub and then the net/http reference server
// (bench/refserver), which the command cmd/ssehub-bench serves as
// "ssehub-bench ref-server", and check ssehub against it.
//
// [RunUnits] ("ssehub-bench units") is separate from the scenarios: on a
// private redis-server and without any hub, it measures what each unit of
// a fleet's work costs Redis (a published event, a connection a broadcast
// reaches, a pattern subscription, a replayed event), for a capacity
// model.
//
// Runs need Linux: the package reads /proc, and the workers read their
// streams through epoll and the raw socket interface, without a read
// buffer per stream. It builds on other systems, but its workers fail
// there.
package bench
