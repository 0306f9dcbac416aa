package bench

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/topic"
)

// TestAppendPublishBody decodes the batch as ssehub's POST /publish does
// (transport/httpapi/publishreq.go): a JSON array of objects with exactly the
// fields topic and data, both strings, a valid topic each, at most the
// hub's default batch.
func TestAppendPublishBody(t *testing.T) {
	now := time.Unix(1732700000, 123456789)
	many := make([]pubEvent, maxPublishBatch)
	for i := range many {
		many[i] = pubEvent{topic: UserTopic(i), seq: uint64(i + 1)}
	}
	tests := []struct {
		name  string
		batch []pubEvent
		pad   int
	}{
		{"one", []pubEvent{{"bench/all", 1}}, 0},
		{"mixed topics", []pubEvent{{"bench/all", 7}, {"user/3", 1}, {"feed/2/1", 42}, {"a.b:c@d_-", 9}}, 0},
		{"padded", []pubEvent{{"bench/all", 1}, {"bench/all", 2}}, 4096},
		{"full batch", many, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scratch := []byte("left over from the request before")
			body := appendPublishBody(scratch[:0], tt.batch, now, tt.pad)
			var events []map[string]json.RawMessage
			if err := json.Unmarshal(body, &events); err != nil {
				t.Fatalf("appendPublishBody = %.200q: %v", body, err)
			}
			if len(events) != len(tt.batch) || len(events) > maxPublishBatch {
				t.Fatalf("appendPublishBody: %d events, want %d (at most %d)", len(events), len(tt.batch), maxPublishBatch)
			}
			for i, ev := range events {
				if keys := slices.Sorted(maps.Keys(ev)); !slices.Equal(keys, []string{"data", "topic"}) {
					t.Fatalf("event %d has fields %q, want data and topic", i, keys)
				}
				var name, data string
				if err := json.Unmarshal(ev["topic"], &name); err != nil {
					t.Fatalf("event %d: topic %s: %v", i, ev["topic"], err)
				}
				if err := json.Unmarshal(ev["data"], &data); err != nil {
					t.Fatalf("event %d: data %s: %v", i, ev["data"], err)
				}
				want := tt.batch[i]
				if name != want.topic || topic.ValidateTopic(name) != nil {
					t.Errorf("event %d: topic %q, want %q (valid: %v)", i, name, want.topic, topic.ValidateTopic(name))
				}
				got, seq, sent, ok := ParsePayload([]byte(data))
				if !ok || string(got) != want.topic || seq != want.seq || sent != now.UnixNano() {
					t.Errorf("event %d: ParsePayload(%.80q) = %q, %d, %d, %t; want %q, %d, %d",
						i, data, got, seq, sent, ok, want.topic, want.seq, now.UnixNano())
				}
				if data != string(AppendPayload(nil, want.topic, want.seq, now, tt.pad)) {
					t.Errorf("event %d: data is not AppendPayload's, padding included", i)
				}
			}
		})
	}
}

// LaneTopics gives each lane exactly one topic, so that publishing to
// them round robin keeps every lane busy.
func TestLaneTopics(t *testing.T) {
	for _, n := range []int{1, 2, 16, 64} {
		topics := LaneTopics("flood", n)
		lanes := make(map[int]string)
		for _, tp := range topics {
			k := laneOf(tp, n)
			if prev, ok := lanes[k]; ok {
				t.Errorf("LaneTopics(flood, %d): %q and %q share lane %d", n, prev, tp, k)
			}
			lanes[k] = tp
		}
		if len(topics) != n || len(lanes) != n {
			t.Errorf("LaneTopics(flood, %d) = %d topics on %d lanes, want %d", n, len(topics), len(lanes), n)
		}
	}
}
