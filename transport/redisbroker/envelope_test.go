package redisbroker

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/hub/broker"
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
		{name: "empty", payload: "", wantErr: true},
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
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		m, err := decodeEnvelope(payload)
		if err != nil {
			return
		}
		if strings.Contains(m.Trace, "\n") {
			t.Errorf("decodeEnvelope(%q).Trace = %q, contains a line break", payload, m.Trace)
		}
		id := m.ID.String()
		if !strings.HasPrefix(string(m.Frame), "id: "+id+"\n") || !strings.HasSuffix(string(m.Frame), "\n\n") {
			t.Errorf("decodeEnvelope(%q).Frame = %q, want an event with id %s", payload, m.Frame, id)
		}
		if len(m.Topics) == 0 {
			t.Errorf("decodeEnvelope(%q) has no topics", payload)
		}
	})
}

// decodeEnvelope decodes an envelope as a broker of one partition does.
func decodeEnvelope(payload string) (*broker.Message, error) {
	return (&Broker{parts: make([]partition, 1)}).decode(payload, 0)
}
