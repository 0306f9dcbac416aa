// Package bench is ssehub's load generator: it starts real ssehub processes,
// drives them over loopback TCP with many concurrent SSE streams, and
// measures what the product targets in PRODUCT.md are stated in.
//
// The pieces are meant to be combined by scenarios:
//
//   - [StartHub] runs an ssehub binary as a child process and reads its
//     resident memory from /proc ([HubProcess.RSS]).
//   - [StartRedis] runs a private redis-server for hubs in Redis mode
//     (--redis-url) and reads its CPU time ([RedisProcess.CPU]).
//   - [OpenStreams] opens many raw-TCP SSE streams at a bounded pace and keeps
//     them drained.
//   - A scenario such as [RunIdle] or [RunResumeStorm] uses them and returns
//     a result that can be printed as a table ([IdleResult.WriteTable]) or
//     JSON.
//
// The command cmd/ssehub-bench runs the scenarios; later scenarios
// (broadcast, targeted, fleet) add their own Run function and result type
// here and a subcommand there.
//
// The package is Linux-only: it reads /proc and uses the raw socket
// interface to drain streams without a read buffer per stream.
package bench
