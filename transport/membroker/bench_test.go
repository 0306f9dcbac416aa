package membroker_test

import (
	"testing"

	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/transport/membroker"
)

// BenchmarkMemoryPublish is the Redis broker's BenchmarkRedisPublish on the embedded broker,
// for comparison. The broker has no subscribers, so this is the cost of id
// assignment, encoding and history alone, without any fan-out.
func BenchmarkMemoryPublish(b *testing.B) {
	br := membroker.New(membroker.Config{})
	defer br.Close()
	brokertest.BenchPublish(b, br)
}
