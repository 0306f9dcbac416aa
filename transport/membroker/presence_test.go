package membroker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/transport/membroker"
)

// Pages hold every user once, in order of subject, whatever the page size.
func TestPresenceMembersPages(t *testing.T) {
	br := membroker.New(membroker.Config{})
	defer br.Close()
	tr := br.TrackPresence(broker.PresenceConfig{})
	defer tr.Close()
	var entries []broker.PresenceEntry
	var want []string
	for i := range 1000 {
		u := fmt.Sprintf("u%04d", (i*7919)%1000) // not in order
		entries = append(entries, broker.PresenceEntry{Topic: "big", User: u, Streams: 1})
		want = append(want, u)
	}
	slices.Sort(want)
	tr.Update(0, entries)
	for _, limit := range []int{1, 7, 999, 1000, 5000} {
		var got []string
		page := broker.PresencePage{}
		for first := true; first || page.Cursor != ""; first = false {
			var err error
			if page, err = br.PresenceMembers(context.Background(), "big", page.Cursor, limit); err != nil {
				t.Fatal(err)
			}
			if len(page.Members) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(page.Members))
			}
			for _, m := range page.Members {
				got = append(got, m.User)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: pages held %d users, want all %d in order", limit, len(got), len(want))
		}
	}
}
