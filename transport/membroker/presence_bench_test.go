package membroker_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/transport/membroker"
)

// BenchmarkPresenceQuery_100kMembers measures the embedded broker's
// presence queries on one topic that 100,000 users follow.
func BenchmarkPresenceQuery_100kMembers(b *testing.B) {
	br := membroker.New(membroker.Config{})
	defer br.Close()
	tr := br.TrackPresence(broker.PresenceConfig{})
	defer tr.Close()
	entries := make([]broker.PresenceEntry, 100_000)
	for i := range entries {
		entries[i] = broker.PresenceEntry{Topic: "big", User: fmt.Sprintf("user-%06d", i), Streams: 1}
	}
	tr.Update(0, entries)
	ctx := context.Background()
	b.Run("counts", func(b *testing.B) {
		for b.Loop() {
			_, _ = br.TopicPresence(ctx, "big")
		}
	})
	b.Run("page100", func(b *testing.B) {
		cursor := ""
		for b.Loop() {
			page, err := br.PresenceMembers(ctx, "big", cursor, 100)
			if err != nil {
				b.Fatal(err)
			}
			cursor = page.Cursor
		}
	})
}
