package brokertest

import (
	"context"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
)

// publishBatch is the batch size of the batch=100 shapes: a publish request
// carrying 100 events, which the Redis broker sends as one pipeline.
const publishBatch = 100

// benchPublication is one event of a typical size (64 bytes of data) on one
// exact topic.
func benchPublication() broker.Publication {
	return broker.Publication{Topics: []string{"bench"}, Data: []byte(strings.Repeat("x", 64))}
}

// BenchPublish runs the publish shapes against br: one event per call, 100
// events per call, and one event per call from parallel goroutines. Each
// reports events/s so the shapes compare directly.
func BenchPublish(b *testing.B, br broker.Broker) {
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
			if _, err := br.Publish(ctx, one, broker.Idempotency{}); err != nil {
				b.Fatal(err)
			}
		}
		eventsPerSec(b, b.N)
	})
	b.Run("batch=100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Publish(ctx, batch, broker.Idempotency{}); err != nil {
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
				if _, err := br.Publish(ctx, one, broker.Idempotency{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		eventsPerSec(b, b.N)
	})
}
