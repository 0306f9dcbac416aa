package bench

import "time"

// MaxGeneratorStreams is the most streams one load-generator process
// opens. The open-file hard limit here is 20000 and cannot be raised
// (docs/platform-notes.md#machine-limits); the rest is headroom for the
// generator's other descriptors and for sockets still closing.
const MaxGeneratorStreams = 15000

// DefaultConcurrency is how many streams each worker has connecting at
// once when Config.Concurrency is 0. The machine's listen backlog
// (somaxconn) is 4096 and tcp_max_syn_backlog 2048
// (docs/platform-notes.md#machine-limits): a few hundred in flight ramp up
// fast without overflowing them into SYN retransmits.
const DefaultConcurrency = 200

// HandshakeTimeout bounds connecting one stream: the dial, the request and
// the response head.
const HandshakeTimeout = 10 * time.Second
