package redisbroker

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/transport"
)

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestDecodeEnvelope(t *testing.T) {
	type message struct {
		ID     string
		Topics []string
		Frame  string
		Trace  string
	}
	for _, tt := range []struct {
		name, payload string
		want          message
		wantErr       bool
	}{
		{name: "untraced, as before tracing",
			payload: "1795761544779-0\nnews,user/42\n\nhello",
			want:    message{"1795761544779-0", []string{"news", "user/42"}, "id: 1795761544779-0\ndata: hello\n\n", ""}},
		{name: "traced",
			payload: "traceparent=" + testTraceparent + "\n1795761544779-3\nnews\nalert\nline1\nline2",
			want:    message{"1795761544779-3", []string{"news"}, "id: 1795761544779-3\nevent: alert\ndata: line1\ndata: line2\n\n", testTraceparent}},
		{name: "data that looks like a trace line",
			payload: "1-0\nnews\n\ntraceparent=x",
			want:    message{"1-0", []string{"news"}, "id: 1-0\ndata: traceparent=x\n\n", ""}},
		{name: "empty data", payload: "traceparent=\n7-1\na\n\n",
			want: message{"7-1", []string{"a"}, "id: 7-1\ndata: \n\n", ""}},
		{name: "trace line alone", payload: "traceparent=" + testTraceparent, wantErr: true},
		{name: "too few lines", payload: "1-0\nnews\nalert", wantErr: true},
		{name: "traced, too few lines", payload: "traceparent=x\n1-0\nnews", wantErr: true},
		{name: "bad id", payload: "x-0\nnews\n\nhi", wantErr: true},
		{name: "two trace lines", payload: "traceparent=a\ntraceparent=b\n1-0\nnews\n\nhi", wantErr: true},
		{name: "partition 0 of a fleet of one", payload: "1-0@0\nnews\n\nhi",
			want: message{"1-0", []string{"news"}, "id: 1-0\ndata: hi\n\n", ""}},
		{name: "a partition a fleet of one has not", payload: "1-0@2\nnews\n\nhi", wantErr: true},
		{name: "empty partition", payload: "1-0@\nnews\n\nhi", wantErr: true},
		{name: "partition with a leading zero", payload: "1-0@01\nnews\n\nhi", wantErr: true},
		{name: "partition not a number", payload: "1-0@x\nnews\n\nhi", wantErr: true},
		{name: "partition signed", payload: "1-0@+1\nnews\n\nhi", wantErr: true},
		{name: "two partitions", payload: "1-0@1@1\nnews\n\nhi", wantErr: true},
		{name: "empty", payload: "", wantErr: true},
		{name: "a Mercure update with its publisher's id",
			payload: "mercure={\"t\":[\"https://example.com/a b\"],\"i\":\"urn:1\",\"p\":true,\"r\":20}\n1-0\n@m/a\nping\nhi",
			want:    message{"1-0", []string{"@m/a"}, "id: urn:1\nevent: ping\ndata: hi\nretry: 20\n\n", ""}},
		{name: "a traced Mercure update without an id",
			payload: "traceparent=x\nmercure={\"t\":[\"a\"]}\n1-0\n@m/a\n\nhi",
			want:    message{"1-0", []string{"@m/a"}, "id: #1-0\ndata: hi\n\n", "x"}},
		{name: "Mercure line before the trace line", payload: "mercure={\"t\":[\"a\"]}\ntraceparent=x\n1-0\n@m/a\n\nhi", wantErr: true},
		{name: "Mercure line alone", payload: "mercure={\"t\":[\"a\"]}", wantErr: true},
		{name: "Mercure metadata not JSON", payload: "mercure={\n1-0\n@m/a\n\nhi", wantErr: true},
		{name: "Mercure update without topics", payload: "mercure={\"t\":[]}\n1-0\n@m/a\n\nhi", wantErr: true},
		{name: "Mercure id with a line break", payload: "mercure={\"t\":[\"a\"],\"i\":\"x\\nevent: y\"}\n1-0\n@m/a\n\nhi", wantErr: true},
		{name: "Mercure retry negative", payload: "mercure={\"t\":[\"a\"],\"r\":-1}\n1-0\n@m/a\n\nhi", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeEnvelope(tt.payload)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("decodeEnvelope(%q) = %+v, want an error", tt.payload, m)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeEnvelope(%q): %v", tt.payload, err)
			}
			got := message{m.ID.String(), m.Topics, string(m.Frame), m.Trace}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decodeEnvelope(%q) mismatch (-want +got):\n%s", tt.payload, diff)
			}
		})
	}
}

// FuzzDecodeEnvelope: decodeEnvelope reads what Redis hands it without
// panicking, and what it accepts is a well-formed message.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		"1795761544779-0\nnews,user/42\n\nhello",
		"traceparent=" + testTraceparent + "\n1-3\nnews\nalert\nline1\r\nline2",
		"traceparent=\n1-0\na\n\n",
		"1-0\nnews\n\ntraceparent=x\n",
		"traceparent=" + testTraceparent,
		"",
		"1-0@2\na,b\n\nx",
		"traceparent=x\n1-0@0\na\n\n",
		"mercure={\"t\":[\"a\"],\"i\":\"urn:1\",\"r\":5}\n1-0\n@m/a\nping\nhi",
	} {
		f.Add(s)
	}
	partitioned := &Broker{parts: newPartitions("ssehub", 3)}
	f.Fuzz(func(t *testing.T, payload string) {
		if m, err := partitioned.decode(payload, -1); err == nil {
			if m.Partition < 0 || m.Partition >= 3 || len(m.Topics) == 0 {
				t.Errorf("decode(%q) on 3 partitions = partition %d, topics %q", payload, m.Partition, m.Topics)
			}
			if m.Spread != nil && len(m.Spread) != len(m.Topics) {
				t.Errorf("decode(%q) on 3 partitions: spread %v over topics %q", payload, m.Spread, m.Topics)
			}
		}
		m, err := decodeEnvelope(payload)
		if err != nil {
			return
		}
		if strings.Contains(m.Trace, "\n") {
			t.Errorf("decodeEnvelope(%q).Trace = %q, contains a line break", payload, m.Trace)
		}
		id := m.ID.String()
		if m.Mercure != nil {
			id = transport.MercureEventID(m.Mercure, m.ID)
		}
		if strings.Count(string(m.Frame), "\nid: ") > 0 || strings.Count(string(m.Frame), "\nretry: ") > 1 {
			t.Errorf("decodeEnvelope(%q).Frame = %q: a field written twice", payload, m.Frame)
		}
		if !strings.HasPrefix(string(m.Frame), "id: "+id+"\n") || !strings.HasSuffix(string(m.Frame), "\n\n") {
			t.Errorf("decodeEnvelope(%q).Frame = %q, want an event with id %s", payload, m.Frame, id)
		}
		if len(m.Topics) == 0 {
			t.Errorf("decodeEnvelope(%q) has no topics", payload)
		}
	})
}

// TestDecodePartitionedEnvelope: on a partitioned broker, an envelope
// names its partition, or is partition 0's single copy, published in the
// single slot while the fleet moved to partitions.
func TestDecodePartitionedEnvelope(t *testing.T) {
	b := &Broker{parts: newPartitions("ssehub", 3)}
	topics := topicsInPartitions("t", 3, 3)
	all := strings.Join(topics, ",")
	for _, tt := range []struct {
		name, payload string
		channel       int // -1: a classic channel
		partition     int
		spread        []int
		wantErr       bool
	}{
		{name: "partition 2's copy", payload: "5-1@2\n" + all + "\n\nx", channel: -1, partition: 2, spread: []int{0, 1, 2}},
		{name: "partition 0's copy", payload: "5-1@0\n" + all + "\n\nx", channel: -1, partition: 0, spread: []int{0, 1, 2}},
		{name: "one partition's only", payload: "5-1@1\n" + topics[1] + "\n\nx", channel: -1, partition: 1},
		{name: "the single slot's, to topics of every partition", payload: "5-1\n" + all + "\n\nx", channel: -1, partition: 0},
		{name: "on its shard channel", payload: "5-1@1\n" + topics[1] + "\n\nx", channel: 1, partition: 1},
		{name: "on another partition's shard channel", payload: "5-1@1\n" + topics[1] + "\n\nx", channel: 2, wantErr: true},
		{name: "a partition the fleet has not", payload: "5-1@3\n" + topics[1] + "\n\nx", channel: -1, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := b.decode(tt.payload, tt.channel)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("decode(%q, %d) = %+v, want an error", tt.payload, tt.channel, m)
				}
				return
			}
			if err != nil || m.Partition != tt.partition || !slices.Equal(m.Spread, tt.spread) {
				t.Errorf("decode(%q, %d) = partition %d, spread %v, %v; want %d, %v", tt.payload, tt.channel, m.Partition, m.Spread, err, tt.partition, tt.spread)
			}
		})
	}
}

// decodeEnvelope decodes an envelope as a broker of one partition does.
func decodeEnvelope(payload string) (*broker.Message, error) {
	return (&Broker{parts: make([]partition, 1)}).decode(payload, 0)
}

// BenchmarkDecodeEnvelope: what a hub spends on each message a pub/sub
// connection brings, before handing it to its shards (an 85-byte event
// to one topic, one partition).
func BenchmarkDecodeEnvelope(b *testing.B) {
	br := &Broker{parts: make([]partition, 1)}
	payload := "1795761544779-0\nnews\n\n" + strings.Repeat("x", 85)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.decode(payload, 0); err != nil {
			b.Fatal(err)
		}
	}
}
