package redisbroker_test

import (
	"context"
	"testing"

	"github.com/ssehub/ssehub/internal/brokertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/redisbroker"
)

// BenchmarkRedisPublish measures the Redis broker's publish path against a
// real, private redis-server: one EVALSHA of the publish script per event
// (id, history append and trim, PUBLISH), pipelined per call. The topic's
// history fills up to its 1,000-event cap during the run, so most
// iterations also trim.
func BenchmarkRedisPublish(b *testing.B) {
	srv := redistest.Start(b)
	br, err := redisbroker.New(context.Background(), redisbroker.Config{Client: srv.Client(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	brokertest.BenchPublish(b, br)
}
