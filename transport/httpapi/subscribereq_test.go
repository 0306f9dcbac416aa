package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub/topic"
)

// manyTopicsQuery returns a query with n distinct topic parameters.
func manyTopicsQuery(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "topic=t%d&", i)
	}
	return b.String()
}

func TestParseSubscribe(t *testing.T) {
	long := strings.Repeat("i", 200)
	tests := []struct {
		name       string
		query      string
		header     string
		maxTopics  int
		want       subscribeRequest
		wantStatus int // 0 means success
		wantCode   string
	}{
		{name: "one topic", query: "topic=news",
			want: subscribeRequest{Topics: []string{"news"}}},
		{name: "topics and patterns in order", query: "topic=b&topic=news/*&topic=a&topic=*:x",
			want: subscribeRequest{Topics: []string{"b", "a"}, Patterns: []string{"news/*", "*:x"}}},
		{name: "duplicates removed", query: "topic=a&topic=n/*&topic=a&topic=n/*&topic=b",
			want: subscribeRequest{Topics: []string{"a", "b"}, Patterns: []string{"n/*"}}},
		{name: "percent-encoded topic", query: "topic=news%2Fsports&topic=user%40example",
			want: subscribeRequest{Topics: []string{"news/sports", "user@example"}}},
		{name: "unknown parameters ignored", query: "_=1700000000&topic=a&token=secret&topic%5B%5D=b",
			want: subscribeRequest{Topics: []string{"a"}}},
		{name: "at the limit, duplicates not counted", query: "topic=a&topic=a&topic=b*&topic=b*", maxTopics: 2,
			want: subscribeRequest{Topics: []string{"a"}, Patterns: []string{"b*"}}},
		{name: "default limit", query: manyTopicsQuery(64),
			want: subscribeRequest{Topics: func() []string {
				var ts []string
				for i := range 64 {
					ts = append(ts, fmt.Sprintf("t%d", i))
				}
				return ts
			}()}},

		// Last-Event-ID.
		{name: "header", query: "topic=a", header: "1700000000000-0",
			want: subscribeRequest{Topics: []string{"a"}, LastEventID: "1700000000000-0"}},
		{name: "query", query: "topic=a&lastEventId=abc",
			want: subscribeRequest{Topics: []string{"a"}, LastEventID: "abc"}},
		{name: "header wins over query", query: "topic=a&lastEventId=fromquery", header: "fromheader",
			want: subscribeRequest{Topics: []string{"a"}, LastEventID: "fromheader"}},
		{name: "empty query id", query: "topic=a&lastEventId=",
			want: subscribeRequest{Topics: []string{"a"}}},
		{name: "long header cut, not refused", query: "topic=a", header: long,
			want: subscribeRequest{Topics: []string{"a"}, LastEventID: long[:128]}},
		{name: "long query id cut, not refused", query: "topic=a&lastEventId=" + long,
			want: subscribeRequest{Topics: []string{"a"}, LastEventID: long[:128]}},
		{name: "id with CR LF NUL kept, not refused", query: "topic=a&lastEventId=a%0D%0Ab%00c",
			want: subscribeRequest{Topics: []string{"a"}, LastEventID: "a\r\nb\x00c"}},

		// No topic: not refused here (a user follows user/<sub> without
		// naming it), and the resume point is read all the same.
		{name: "no query", query: "", want: subscribeRequest{}},
		{name: "only other parameters", query: "lastEventId=1&_=2",
			want: subscribeRequest{LastEventID: "1"}},
		{name: "no topic, resume from the header", query: "token=x", header: "1795761544779-0",
			want: subscribeRequest{LastEventID: "1795761544779-0"}},
		{name: "topic[] is not topic", query: "topic[]=a", want: subscribeRequest{}},

		// Errors.
		{name: "empty topic", query: "topic=",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic with space", query: "topic=a+b",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic in the Mercure namespace", query: "topic=%40m%2Fa",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "pattern in the Mercure namespace", query: "topic=%40m%2F*",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic with CRLF", query: "topic=a%0D%0Ab",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic with LF", query: "topic=ok&topic=a%0Ab",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic with NUL", query: "topic=a%00b",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "other glob character", query: "topic=news%3F",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "glob class", query: "topic=%5Babc%5D",
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic too long", query: "topic=" + strings.Repeat("t", topic.MaxLen+1),
			wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "too many topics", query: "topic=a&topic=b*&topic=c", maxTopics: 2,
			wantStatus: 400, wantCode: CodeTooManyTopics},
		{name: "too many topics by default", query: manyTopicsQuery(65),
			wantStatus: 400, wantCode: CodeTooManyTopics},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args fasthttp.Args
			args.Parse(tt.query)
			var header []byte
			if tt.header != "" {
				header = []byte(tt.header)
			}
			got, apiErr := parseSubscribe(&args, header, tt.maxTopics)
			if tt.wantStatus == 0 {
				if apiErr != nil {
					t.Fatalf("parseSubscribe(%.80q, %q) error = %v, want success", tt.query, tt.header, apiErr)
				}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("parseSubscribe(%.80q, %q) mismatch (-want +got):\n%s", tt.query, tt.header, diff)
				}
				return
			}
			if apiErr == nil {
				t.Fatalf("parseSubscribe(%.80q, %q) = %+v, want error %d %s", tt.query, tt.header, got, tt.wantStatus, tt.wantCode)
			}
			if apiErr.Status != tt.wantStatus || apiErr.Code != tt.wantCode || apiErr.Message == "" {
				t.Errorf("parseSubscribe(%.80q, %q) error = %v, want %d %s with a message", tt.query, tt.header, apiErr, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

// fasthttp reuses the request buffers, so nothing returned may alias them.
func TestParseSubscribeCopiesRequest(t *testing.T) {
	var args fasthttp.Args
	args.Parse("topic=news&topic=a/*")
	header := []byte("1-2")
	got, apiErr := parseSubscribe(&args, header, 0)
	if apiErr != nil {
		t.Fatalf("parseSubscribe() error = %v", apiErr)
	}
	args.Parse("topic=XXXX&topic=X/*")
	copy(header, "XXX")
	want := subscribeRequest{Topics: []string{"news"}, Patterns: []string{"a/*"}, LastEventID: "1-2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSubscribe() result changed with the request (-want +got):\n%s", diff)
	}
}

func FuzzParseSubscribe(f *testing.F) {
	for _, s := range []struct{ query, lastEventID string }{
		{"topic=news", ""},
		{"topic=a&topic=b/*&topic=a&topic=*", "1700000000000-3"},
		{"topic=news&lastEventId=abc", ""},
		{"topic=news&lastEventId=fromquery", "fromheader"},
		{"topic=a%0D%0Ab", ""},
		{"topic=a%00&topic=[x]", "a\r\nb"},
		{"topic=news?", ""},
		{"topic=a&topic=b&topic=c&topic=d", strings.Repeat("x", 300)},
		{"_=123&token=t&topic%5B%5D=a", ""},
		{"topic=%ZZ&topic=%", "\x00\xff"},
		{"", ""},
	} {
		f.Add(s.query, s.lastEventID)
	}
	f.Fuzz(func(t *testing.T, query, lastEventID string) {
		var args fasthttp.Args
		args.Parse(query)
		const maxTopics = 3
		got, apiErr := parseSubscribe(&args, []byte(lastEventID), maxTopics)
		if apiErr != nil {
			if apiErr.Status != 400 || apiErr.Code == "" || apiErr.Message == "" {
				t.Errorf("parseSubscribe(%q, %q) error = %#v, want 400 with a code and a message", query, lastEventID, apiErr)
			}
			return
		}
		if n := len(got.Topics) + len(got.Patterns); n > maxTopics {
			t.Errorf("parseSubscribe(%q, %q) returned %d topics and patterns, want at most %d", query, lastEventID, n, maxTopics)
		}
		seen := make(map[string]bool)
		for _, tp := range got.Topics {
			if topic.ValidateTopic(tp) != nil || topic.IsPattern(tp) || seen[tp] {
				t.Errorf("parseSubscribe(%q, %q) topic %q: want a valid exact topic, once", query, lastEventID, tp)
			}
			seen[tp] = true
		}
		for _, p := range got.Patterns {
			if topic.ValidatePattern(p) != nil || !topic.IsPattern(p) || seen[p] {
				t.Errorf("parseSubscribe(%q, %q) pattern %q: want a valid pattern, once", query, lastEventID, p)
			}
			seen[p] = true
		}
		src := lastEventID
		if src == "" {
			src = string(args.Peek("lastEventId"))
		}
		if len(got.LastEventID) > maxLastEventIDLen || !strings.HasPrefix(src, got.LastEventID) ||
			(len(src) <= maxLastEventIDLen && got.LastEventID != src) {
			t.Errorf("parseSubscribe(%q, %q) LastEventID = %q, want %q cut to %d bytes", query, lastEventID, got.LastEventID, src, maxLastEventIDLen)
		}
	})
}
