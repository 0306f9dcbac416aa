package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		topic string
		seq   uint64
		sent  time.Time
		pad   int
	}{
		{"bench/all", 1, time.Unix(1732700000, 123456789), 0},
		{"user/123", 42, time.Unix(0, 0), 0},
		{"feed/3/1", 7, time.Unix(0, math.MaxInt64), 1},
		{"a", 9_999_999_999_999_999_999, time.Unix(1, 1), 4096},
		{"x.y:z@w_-", 1_000_000, time.Unix(1700000000, 0), 3},
	}
	for _, tt := range tests {
		prefix := []byte("keep:")
		data := AppendPayload(prefix, tt.topic, tt.seq, tt.sent, tt.pad)
		if !bytes.HasPrefix(data, []byte("keep:")) {
			t.Fatalf("AppendPayload(%q, ...) = %q; dropped what dst held", prefix, data)
		}
		data = data[len("keep:"):]
		topic, seq, sent, ok := ParsePayload(data)
		if !ok || string(topic) != tt.topic || seq != tt.seq || sent != tt.sent.UnixNano() {
			t.Errorf("ParsePayload(%q) = %q, %d, %d, %t; want %q, %d, %d, true",
				data, topic, seq, sent, ok, tt.topic, tt.seq, tt.sent.UnixNano())
		}
		if tt.pad > 0 && !bytes.HasSuffix(data, append([]byte{payloadSep}, strings.Repeat("x", tt.pad)...)) {
			t.Errorf("AppendPayload(pad %d) = %q; want it to end in %d bytes of padding after a separator", tt.pad, data, tt.pad)
		}
		base := len(AppendPayload(nil, tt.topic, tt.seq, tt.sent, 0))
		if want := base + min(tt.pad, 1) + tt.pad; len(data) != want {
			t.Errorf("AppendPayload(pad %d) is %d bytes, want %d", tt.pad, len(data), want)
		}
	}
}

func TestParsePayloadRejects(t *testing.T) {
	for _, data := range []string{
		"",
		"bench/all",                              // no separator
		"|1|5",                                   // no topic
		"t|1",                                    // no send time
		"t||5",                                   // no sequence number
		"t|0|5",                                  // sequences start at 1
		"t|x|5",                                  // not a number
		"t|+1|5",                                 // a sign
		"t|1 |5",                                 // a space
		"t|1|",                                   // empty send time
		"t|1|-5",                                 // negative send time
		"t|1|5x",                                 // trailing junk
		"t|1|5x|pad",                             // trailing junk before padding
		"t|10000000000000000000|5",               // 20 digits
		"t|1|9223372036854775808",                // over int64
		"t|1|9999999999999999999",                // 19 digits, over int64
		"a|b|1|5",                                // a topic with the separator
		"user/1|18446744073709551616|1700000000", // over uint64
	} {
		if topic, seq, sent, ok := ParsePayload([]byte(data)); ok {
			t.Errorf("ParsePayload(%q) = %q, %d, %d, true; want not ok", data, topic, seq, sent)
		}
	}
	// Edges that are fine: empty padding, padding with separators, the
	// largest values.
	for _, data := range []string{"t|1|5|", "t|1|5|a|b", "t|9999999999999999999|9223372036854775807"} {
		if _, _, _, ok := ParsePayload([]byte(data)); !ok {
			t.Errorf("ParsePayload(%q) = not ok, want ok", data)
		}
	}
}

func TestParsePayloadAllocs(t *testing.T) {
	data := AppendPayload(nil, "user/42", 17, time.Now(), 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, _, ok := ParsePayload(data); !ok {
			t.Fatal("ParsePayload: not ok")
		}
	})
	if allocs != 0 {
		t.Errorf("ParsePayload allocates %.1f times per call, want 0", allocs)
	}
}

// FuzzParsePayload checks ParsePayload on data as any server might send it:
// it must not panic, and what it accepts must be a payload AppendPayload
// makes again with the same fields.
func FuzzParsePayload(f *testing.F) {
	for _, seed := range []string{
		"bench/all|1|1732700000123456789",
		"user/42|17|1732700000123456789|xxxx",
		"t|007|0",
		"t|1|9223372036854775807",
		"t|1|9223372036854775808",
		"|1|5", "t||", "||||", "t|1|5|",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		topic, seq, sent, ok := ParsePayload(data)
		if !ok {
			if topic != nil || seq != 0 || sent != 0 {
				t.Fatalf("ParsePayload(%q) = %q, %d, %d, false; want zero values when not ok", data, topic, seq, sent)
			}
			return
		}
		if len(topic) == 0 || bytes.IndexByte(topic, payloadSep) >= 0 || &topic[0] != &data[0] {
			t.Fatalf("ParsePayload(%q): topic %q, want a non-empty prefix of data without %q", data, topic, payloadSep)
		}
		if seq == 0 || sent < 0 {
			t.Fatalf("ParsePayload(%q): seq %d, sent %d; want seq > 0, sent >= 0", data, seq, sent)
		}
		again := AppendPayload(nil, string(topic), seq, time.Unix(0, sent), 0)
		t2, s2, n2, ok := ParsePayload(again)
		if !ok || !bytes.Equal(t2, topic) || s2 != seq || n2 != sent {
			t.Fatalf("ParsePayload(AppendPayload(%q, %d, %d)) = %q, %d, %d, %t; want the same fields",
				topic, seq, sent, t2, s2, n2, ok)
		}
	})
}
