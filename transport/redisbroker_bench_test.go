package transport_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/transport"
	"github.com/ssehub/ssehub/transport/redistest"
)

// publishBatch is the batch size of the batch=100 shapes: a publish request
// carrying 100 events, which the Redis broker sends as one pipeline.
const publishBatch = 100

// benchPublication is one event of a typical size (64 bytes of data) on one
// exact topic.
func benchPublication() broker.Publication {
	return broker.Publication{Topics: []string{"bench"}, Data: []byte(strings.Repeat("x", 64))}
}

// benchPublish runs the publish shapes against b: one event per call, 100
// events per call, and one event per call from parallel goroutines. Each
// reports events/s so the shapes compare directly.
func benchPublish(b *testing.B, br broker.Broker) {
	ctx := context.Background()
	one := []broker.Publication{benchPublication()}
	batch := make([]broker.Publication, publishBatch)
	for i := range batch {
		batch[i] = benchPublication()
	}
	eventsPerSec := func(b *testing.B, events int) {
		b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	}

	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Publish(ctx, one); err != nil {
				b.Fatal(err)
			}
		}
		eventsPerSec(b, b.N)
	})
	b.Run("batch=100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Publish(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		eventsPerSec(b, b.N*publishBatch)
	})
	b.Run("parallel", func(b *testing.B) {
		// GOMAXPROCS goroutines, each publishing one event per call: what
		// concurrent publish requests on one hub look like.
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := br.Publish(ctx, one); err != nil {
					b.Error(err)
					return
				}
			}
		})
		eventsPerSec(b, b.N)
	})
}

// BenchmarkRedisPublish measures the Redis broker's publish path against a
// real, private redis-server: one EVALSHA of the publish script per event
// (id, history append and trim, PUBLISH), pipelined per call. The topic's
// history fills up to its 1,000-event cap during the run, so most
// iterations also trim.
func BenchmarkRedisPublish(b *testing.B) {
	srv := redistest.Start(b)
	br, err := transport.NewRedisBroker(context.Background(), transport.RedisBrokerConfig{Client: srv.Client(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	benchPublish(b, br)
}

// BenchmarkMemoryPublish is BenchmarkRedisPublish on the embedded broker,
// for comparison. The broker has no subscribers, so this is the cost of id
// assignment, encoding and history alone, without any fan-out.
func BenchmarkMemoryPublish(b *testing.B) {
	br := transport.NewMemoryBroker(transport.MemoryBrokerConfig{})
	defer br.Close()
	benchPublish(b, br)
}
