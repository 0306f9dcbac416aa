package keyslot

import "testing"

// slotCases are keys with the slots CLUSTER KEYSLOT gives them (Redis 7.0).
var cases = []struct {
	key  string
	want int
}{
	{"", 0},
	{"foo", 12182},
	{"bar", 5061},
	{"hello", 866},
	{"123456789", 12739}, // the spec's check value: CRC16 0x31C3
	{"user1000", 3443},
	{"{user1000}.following", 3443},
	{"{user1000}.followers", 3443},
	{"ssehub:{t/1}:log", 13410}, // the tag alone is hashed
	{"t/1", 13410},
	{"foo{bar}{zap}", 5061}, // the first tag only: "bar"
	{"foo{}{bar}", 8363},    // an empty tag: the whole key
	{"foo{{bar}}zap", 4015}, // the tag is "{bar"
	{"{bar", 4015},          // no closing brace: the whole key
	{"{}", 15257},           // empty tag
	{"{", 4092},
	{"}", 12090},
}

func TestOf(t *testing.T) {
	for _, tc := range cases {
		if got := Of(tc.key); got != tc.want {
			t.Errorf("Of(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
}
