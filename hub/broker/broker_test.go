package broker

import "testing"

func TestSelectionTakes(t *testing.T) {
	// One event to a (partition 2), b (partition 0) and c (partition 1),
	// as the copy from each partition.
	copyFrom := func(p int) *Message {
		return &Message{Topics: []string{"a", "b", "c"}, Spread: []int{2, 0, 1}, Partition: p}
	}
	tests := []struct {
		name string
		sel  Selection
		from int // the partition whose copy the stream takes
	}{
		{"one topic", Selection{Topics: []string{"a"}}, 2},
		{"two topics: the lower partition's", Selection{Topics: []string{"a", "c"}}, 1},
		{"all: partition 0's", Selection{Topics: []string{"c", "b", "a"}}, 0},
		{"a pattern matching all", Selection{Patterns: []string{"*"}}, 0},
		{"a topic and a pattern", Selection{Topics: []string{"a"}, Patterns: []string{"c*"}}, 1},
		{"nothing followed", Selection{Topics: []string{"z"}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for p := range 3 {
				if got, want := tt.sel.Takes(copyFrom(p)), p == tt.from; got != want {
					t.Errorf("Takes(copy from partition %d) = %v, want %v", p, got, want)
				}
			}
		})
	}
	if !(Selection{Topics: []string{"z"}}).Takes(&Message{Topics: []string{"a"}}) {
		t.Error("Takes(a message in one partition) = false, want true: only copies are chosen among")
	}
}
