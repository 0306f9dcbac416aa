package httpapi

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/transport/sse"
)

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

// pub builds a publication for wanted results.
func pub(event, data string, topics ...string) broker.Publication {
	return broker.Publication{Topics: topics, Event: event, Data: []byte(data)}
}

// manyTopicsJSON returns a JSON array of n distinct topic names.
func manyTopicsJSON(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%q", fmt.Sprintf("t%d", i))
	}
	return "[" + strings.Join(names, ",") + "]"
}

func TestParsePublish(t *testing.T) {
	small := PublishLimits{MaxBatch: 2, MaxTopics: 2, MaxDataBytes: 8}
	tests := []struct {
		name        string
		contentType string
		body        string
		lim         PublishLimits
		want        []broker.Publication
		wantStatus  int    // 0 means success
		wantCode    string // with wantStatus
		wantMsg     string // substring of the message, when it matters
	}{
		// JSON successes.
		{name: "json single", contentType: ctJSON,
			body: `{"topic":"news","data":"hello"}`,
			want: []broker.Publication{pub("", "hello", "news")}},
		{name: "json media type case and charset", contentType: "Application/JSON ; charset=utf-8",
			body: `{"topic":"news","data":"hello"}`,
			want: []broker.Publication{pub("", "hello", "news")}},
		{name: "json surrounding whitespace", contentType: ctJSON,
			body: " \r\n\t{\"topic\":\"news\",\"data\":\"x\"}\n",
			want: []broker.Publication{pub("", "x", "news")}},
		{name: "json topics array", contentType: ctJSON,
			body: `{"topics":["a/b","c:d","e@f"],"event":"alert","data":"x"}`,
			want: []broker.Publication{pub("alert", "x", "a/b", "c:d", "e@f")}},
		{name: "json topic and topics combined, duplicates removed in order", contentType: ctJSON,
			body: `{"topic":"a","topics":["b","a","c","b"],"data":"x"}`,
			want: []broker.Publication{pub("", "x", "a", "b", "c")}},
		{name: "json null topic is absent", contentType: ctJSON,
			body: `{"topic":null,"topics":["a"],"event":null,"data":"x"}`,
			want: []broker.Publication{pub("", "x", "a")}},
		{name: "json event message is the default", contentType: ctJSON,
			body: `{"topic":"a","event":"message","data":"x"}`,
			want: []broker.Publication{pub("", "x", "a")}},
		{name: "json event of 64 bytes", contentType: ctJSON,
			body: `{"topic":"a","event":"` + strings.Repeat("e", 64) + `","data":"x"}`,
			want: []broker.Publication{pub(strings.Repeat("e", 64), "x", "a")}},
		{name: "json data string escapes decoded", contentType: ctJSON,
			body: `{"topic":"a","data":"line1\nline2 \u00e9 \"q\""}`,
			want: []broker.Publication{pub("", "line1\nline2 é \"q\"", "a")}},
		{name: "json data empty string", contentType: ctJSON,
			body: `{"topic":"a","data":""}`,
			want: []broker.Publication{pub("", "", "a")}},
		{name: "json data object compacted", contentType: ctJSON,
			body: `{"topic":"a","data":{ "a" : 1, "b" : "x y" }}`,
			want: []broker.Publication{pub("", `{"a":1,"b":"x y"}`, "a")}},
		{name: "json data array", contentType: ctJSON,
			body: `{"topic":"a","data":[1, "two", {"three": [3]}]}`,
			want: []broker.Publication{pub("", `[1,"two",{"three":[3]}]`, "a")}},
		{name: "json data number", contentType: ctJSON,
			body: `{"topic":"a","data":-1.5e3}`,
			want: []broker.Publication{pub("", "-1.5e3", "a")}},
		{name: "json data true", contentType: ctJSON,
			body: `{"topic":"a","data":true}`,
			want: []broker.Publication{pub("", "true", "a")}},
		{name: "json data false", contentType: ctJSON,
			body: `{"topic":"a","data":false}`,
			want: []broker.Publication{pub("", "false", "a")}},
		{name: "json data null", contentType: ctJSON,
			body: `{"topic":"a","data":null}`,
			want: []broker.Publication{pub("", "null", "a")}},
		{name: "json batch of 3 keeps order", contentType: ctJSON,
			body: `[{"topic":"a","data":"1"},{"topics":["b","c"],"event":"e","data":2},{"topic":"a","data":{"n":3}}]`,
			want: []broker.Publication{
				pub("", "1", "a"),
				pub("e", "2", "b", "c"),
				pub("", `{"n":3}`, "a"),
			}},
		{name: "json batch at the limit", contentType: ctJSON, lim: small,
			body: `[{"topic":"a","data":"1"},{"topic":"b","data":"2"}]`,
			want: []broker.Publication{pub("", "1", "a"), pub("", "2", "b")}},
		{name: "json topics at the limit, duplicates not counted", contentType: ctJSON, lim: small,
			body: `{"topic":"a","topics":["b","a","b"],"data":"x"}`,
			want: []broker.Publication{pub("", "x", "a", "b")}},
		{name: "json default topic limit", contentType: ctJSON,
			body: `{"topics":` + manyTopicsJSON(64) + `,"data":"x"}`,
			want: func() []broker.Publication {
				p := pub("", "x")
				for i := range 64 {
					p.Topics = append(p.Topics, fmt.Sprintf("t%d", i))
				}
				return []broker.Publication{p}
			}()},
		{name: "json data at the limit", contentType: ctJSON, lim: small,
			body: `{"topic":"a","data":"12345678"}`,
			want: []broker.Publication{pub("", "12345678", "a")}},
		{name: "json data multi-byte UTF-8", contentType: ctJSON,
			body: `{"topic":"a","data":"日本語 ✓"}`,
			want: []broker.Publication{pub("", "日本語 ✓", "a")}},
		{name: "json data surrogate pair escapes decoded", contentType: ctJSON,
			body: `{"topic":"a","data":"\ud83d\ude00 \uD83D\uDE00"}`,
			want: []broker.Publication{pub("", "😀 😀", "a")}},
		{name: "json data U+FFFD sent as itself", contentType: ctJSON,
			body: `{"topic":"a","data":"\ufffd �"}`,
			want: []broker.Publication{pub("", "� �", "a")}},
		{name: "json data escaped backslash before u is no escape", contentType: ctJSON,
			body: `{"topic":"a","data":"\\ud800"}`,
			want: []broker.Publication{pub("", `\ud800`, "a")}},
		{name: "json object data keeps its escapes as sent", contentType: ctJSON,
			body: `{"topic":"a","data":{"k":"\ud800"}}`,
			want: []broker.Publication{pub("", `{"k":"\ud800"}`, "a")}},

		// Form successes.
		{name: "form", contentType: ctForm,
			body: "topic=news&topic=a%2Fb&data=hello+world%21&type=alert",
			want: []broker.Publication{pub("alert", "hello world!", "news", "a/b")}},
		{name: "form media type case and charset", contentType: "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8",
			body: "topic=news&data=x",
			want: []broker.Publication{pub("", "x", "news")}},
		{name: "form data with line breaks and UTF-8", contentType: ctForm,
			body: "data=a%0D%0Ab%0Ac%20%C3%A9&topic=news",
			want: []broker.Publication{pub("", "a\r\nb\nc é", "news")}},
		{name: "form empty data, duplicate topics, empty pairs", contentType: ctForm,
			body: "&topic=a&&topic=b&topic=a&data=&",
			want: []broker.Publication{pub("", "", "a", "b")}},
		{name: "form data without equals sign", contentType: ctForm,
			body: "topic=a&data",
			want: []broker.Publication{pub("", "", "a")}},
		{name: "form type message is the default", contentType: ctForm,
			body: "topic=a&data=x&type=message",
			want: []broker.Publication{pub("", "x", "a")}},

		// Media type.
		{name: "missing content type", contentType: "",
			body: `{"topic":"a","data":"x"}`, wantStatus: 415, wantCode: CodeUnsupportedMediaType, wantMsg: "application/json"},
		{name: "text/plain", contentType: "text/plain",
			body: "x", wantStatus: 415, wantCode: CodeUnsupportedMediaType, wantMsg: "application/x-www-form-urlencoded"},
		{name: "json-like suffix", contentType: "application/jsonx",
			body: `{}`, wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "multipart", contentType: "multipart/form-data; boundary=x",
			body: "", wantStatus: 415, wantCode: CodeUnsupportedMediaType},

		// Malformed JSON.
		{name: "json empty body", contentType: ctJSON,
			body: "", wantStatus: 400, wantCode: CodeInvalidJSON},
		{name: "json whitespace body", contentType: ctJSON,
			body: " \n", wantStatus: 400, wantCode: CodeInvalidJSON},
		{name: "json truncated", contentType: ctJSON,
			body: `{"topic":"a",`, wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "invalid JSON: "},
		{name: "json syntax error", contentType: ctJSON,
			body: `{"topic" "a"}`, wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "invalid character"},
		{name: "json trailing garbage", contentType: ctJSON,
			body: `{"topic":"a","data":"x"} x`, wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "after the JSON value"},
		{name: "json two values", contentType: ctJSON,
			body: `{"topic":"a","data":"x"}{"topic":"a","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidJSON},
		{name: "json string body", contentType: ctJSON,
			body: `"hello"`, wantStatus: 400, wantCode: CodeInvalidJSON},
		{name: "json number body", contentType: ctJSON,
			body: `5`, wantStatus: 400, wantCode: CodeInvalidJSON},
		{name: "json batch of non-objects", contentType: ctJSON,
			body: `[{"topic":"a","data":"x"}, 1]`, wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "event 1: "},
		{name: "json topic not a string", contentType: ctJSON,
			body: `{"topic":5,"data":"x"}`, wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: `"topic"`},
		{name: "json topics not an array", contentType: ctJSON,
			body: `{"topics":"a","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: `"topics"`},
		{name: "json topics element not a string", contentType: ctJSON,
			body: `{"topics":["a",1],"data":"x"}`, wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: `"topics"`},
		{name: "json event not a string", contentType: ctJSON,
			body: `{"topic":"a","event":true,"data":"x"}`, wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: `"event"`},

		// JSON fields.
		{name: "json empty batch", contentType: ctJSON,
			body: `[]`, wantStatus: 400, wantCode: CodeEmptyBatch},
		{name: "json empty batch with space", contentType: ctJSON,
			body: ` [ ] `, wantStatus: 400, wantCode: CodeEmptyBatch},
		{name: "json unknown field", contentType: ctJSON,
			body: `{"topic":"a","data":"x","id":"1"}`, wantStatus: 400, wantCode: CodeUnknownField, wantMsg: `"id"`},
		{name: "json field name not UTF-8", contentType: ctJSON,
			body: "{\"topic\":\"a\",\"data\xff\":\"x\"}", wantStatus: 400, wantCode: CodeUnknownField},
		{name: "json field names are case-sensitive", contentType: ctJSON,
			body: `{"Topic":"a","data":"x"}`, wantStatus: 400, wantCode: CodeUnknownField, wantMsg: `"Topic"`},
		{name: "json missing data", contentType: ctJSON,
			body: `{"topic":"a"}`, wantStatus: 400, wantCode: CodeMissingData},
		{name: "json missing topic", contentType: ctJSON,
			body: `{"data":"x"}`, wantStatus: 400, wantCode: CodeMissingTopic},
		{name: "json empty topics", contentType: ctJSON,
			body: `{"topics":[],"data":"x"}`, wantStatus: 400, wantCode: CodeMissingTopic},

		// Topics.
		{name: "empty topic", contentType: ctJSON,
			body: `{"topic":"","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic with space", contentType: ctJSON,
			body: `{"topic":"a b","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic in the Mercure namespace", contentType: ctJSON,
			body: `{"topics":["ok","@m/a"],"data":"x"}`, wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "pattern as publish topic", contentType: ctJSON,
			body: `{"topic":"news/*","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic with CRLF", contentType: ctJSON,
			body: `{"topic":"a\r\nb","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic with NUL", contentType: ctJSON,
			body: `{"topics":["ok","a\u0000b"],"data":"x"}`, wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "topic not UTF-8", contentType: ctJSON,
			body: "{\"topic\":\"a\xff\",\"data\":\"x\"}", wantStatus: 400, wantCode: CodeInvalidTopic, wantMsg: "UTF-8"},
		{name: "topics element lone surrogate escape", contentType: ctJSON,
			body: `{"topics":["ok","\ud800"],"data":"x"}`, wantStatus: 400, wantCode: CodeInvalidTopic, wantMsg: "UTF-8"},
		{name: "topic too long", contentType: ctJSON,
			body: `{"topic":"` + strings.Repeat("t", topic.MaxLen+1) + `","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "form topic with CRLF", contentType: ctForm,
			body: "topic=a%0D%0Ab&data=x", wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "form pattern topic", contentType: ctForm,
			body: "topic=*&data=x", wantStatus: 400, wantCode: CodeInvalidTopic},
		{name: "too many topics", contentType: ctJSON, lim: small,
			body: `{"topic":"a","topics":["b","c"],"data":"x"}`, wantStatus: 400, wantCode: CodeTooManyTopics},
		{name: "too many topics by default", contentType: ctJSON,
			body: `{"topics":` + manyTopicsJSON(65) + `,"data":"x"}`, wantStatus: 400, wantCode: CodeTooManyTopics},
		{name: "form too many topics", contentType: ctForm, lim: small,
			body: "topic=a&topic=b&topic=c&data=x", wantStatus: 400, wantCode: CodeTooManyTopics},

		// Event names.
		{name: "event with LF", contentType: ctJSON,
			body: `{"topic":"a","event":"a\nb","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidEvent},
		{name: "event with CR", contentType: ctJSON,
			body: `{"topic":"a","event":"a\rdata: injected","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidEvent},
		{name: "event with NUL", contentType: ctJSON,
			body: `{"topic":"a","event":"a\u0000b","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidEvent},
		{name: "event too long", contentType: ctJSON,
			body: `{"topic":"a","event":"` + strings.Repeat("e", 65) + `","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidEvent},
		{name: "event with reserved prefix", contentType: ctJSON,
			body: `{"topic":"a","event":"ssehub.reset","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidEvent, wantMsg: "ssehub."},
		{name: "form event with LF", contentType: ctForm,
			body: "topic=a&type=a%0Aid:%201&data=x", wantStatus: 400, wantCode: CodeInvalidEvent},
		{name: "form event not UTF-8", contentType: ctForm,
			body: "topic=a&type=%FF&data=x", wantStatus: 400, wantCode: CodeInvalidEvent},
		{name: "json event not UTF-8", contentType: ctJSON,
			body: "{\"topic\":\"a\",\"event\":\"e\xfe\",\"data\":\"x\"}", wantStatus: 400, wantCode: CodeInvalidEvent, wantMsg: "UTF-8"},
		{name: "json event lone surrogate escape", contentType: ctJSON,
			body: `{"topic":"a","event":"e\udfff","data":"x"}`, wantStatus: 400, wantCode: CodeInvalidEvent, wantMsg: "UTF-8"},

		// Data.
		{name: "form data not UTF-8", contentType: ctForm,
			body: "topic=a&data=ok%FF%FE", wantStatus: 400, wantCode: CodeInvalidData},
		// encoding/json would replace these with U+FFFD without a word.
		{name: "json data not UTF-8", contentType: ctJSON,
			body: "{\"topic\":\"a\",\"data\":\"ok\xff\xfe\"}", wantStatus: 400, wantCode: CodeInvalidData},
		{name: "json data truncated UTF-8 sequence", contentType: ctJSON,
			body: "{\"topic\":\"a\",\"data\":\"\xe6\x97\"}", wantStatus: 400, wantCode: CodeInvalidData},
		{name: "json data lone high surrogate escape", contentType: ctJSON,
			body: `{"topic":"a","data":"x\ud800"}`, wantStatus: 400, wantCode: CodeInvalidData},
		{name: "json data lone low surrogate escape", contentType: ctJSON,
			body: `{"topic":"a","data":"\uDC00x"}`, wantStatus: 400, wantCode: CodeInvalidData},
		{name: "json data high surrogate then another escape", contentType: ctJSON,
			body: `{"topic":"a","data":"\ud800\u0041"}`, wantStatus: 400, wantCode: CodeInvalidData},
		{name: "json data two high surrogates then a low one", contentType: ctJSON,
			body: `{"topic":"a","data":"\ud800\ud800\udc00"}`, wantStatus: 400, wantCode: CodeInvalidData},
		{name: "json data high surrogate then an escaped backslash", contentType: ctJSON,
			body: `{"topic":"a","data":"\ud800\\udc00"}`, wantStatus: 400, wantCode: CodeInvalidData},
		{name: "json object data not UTF-8", contentType: ctJSON,
			body: "{\"topic\":\"a\",\"data\":{\"k\":\"\xff\"}}", wantStatus: 400, wantCode: CodeInvalidData},
		{name: "json batch data not UTF-8 names the index", contentType: ctJSON,
			body: `[{"topic":"a","data":"1"},{"topic":"a","data":"\udc00"}]`, wantStatus: 400, wantCode: CodeInvalidData, wantMsg: "event 1: "},
		{name: "json data too large", contentType: ctJSON, lim: small,
			body: `{"topic":"a","data":"123456789"}`, wantStatus: 413, wantCode: CodeTooLarge},
		{name: "json compacted data too large", contentType: ctJSON, lim: small,
			body: `{"topic":"a","data":[1,2,3,4,5]}`, wantStatus: 413, wantCode: CodeTooLarge},
		{name: "json data too large by default", contentType: ctJSON,
			body: `{"topic":"a","data":"` + strings.Repeat("d", 64<<10+1) + `"}`, wantStatus: 413, wantCode: CodeTooLarge},
		{name: "form data too large", contentType: ctForm, lim: small,
			body: "topic=a&data=123456789", wantStatus: 413, wantCode: CodeTooLarge},
		{name: "batch too large", contentType: ctJSON, lim: small,
			body: `[{"topic":"a","data":"1"},{"topic":"a","data":"2"},{"topic":"a","data":"3"}]`, wantStatus: 413, wantCode: CodeTooLarge},
		{name: "batch too large by default", contentType: ctJSON,
			body: "[" + strings.Repeat(`{"topic":"a","data":"1"},`, 1000) + `{"topic":"a","data":"1"}]`, wantStatus: 413, wantCode: CodeTooLarge},
		{name: "batch error names the index", contentType: ctJSON,
			body:       `[{"topic":"a","data":"1"},{"topic":"a","data":"2"},{"topic":"a","data":"3"},{"topic":"a b","data":"4"}]`,
			wantStatus: 400, wantCode: CodeInvalidTopic, wantMsg: "event 3: "},
		{name: "batch missing data names the index", contentType: ctJSON,
			body: `[{"topic":"a","data":"1"},{"topic":"a"}]`, wantStatus: 400, wantCode: CodeMissingData, wantMsg: "event 1: "},

		// Form fields.
		{name: "form missing data", contentType: ctForm,
			body: "topic=a", wantStatus: 400, wantCode: CodeMissingData},
		{name: "form missing topic", contentType: ctForm,
			body: "data=x", wantStatus: 400, wantCode: CodeMissingTopic},
		{name: "form empty body", contentType: ctForm,
			body: "", wantStatus: 400, wantCode: CodeMissingData},
		{name: "form id refused", contentType: ctForm,
			body: "topic=a&data=x&id=42", wantStatus: 400, wantCode: CodeUnknownField, wantMsg: "assigned by the hub"},
		{name: "form private refused", contentType: ctForm,
			body: "topic=a&data=x&private=on", wantStatus: 400, wantCode: CodeUnknownField, wantMsg: "not supported"},
		{name: "form retry refused", contentType: ctForm,
			body: "topic=a&data=x&retry=10", wantStatus: 400, wantCode: CodeUnknownField, wantMsg: `"retry"`},
		{name: "form unknown field", contentType: ctForm,
			body: "topic=a&data=x&colour=red", wantStatus: 400, wantCode: CodeUnknownField, wantMsg: `"colour"`},
		{name: "form bad escape in value", contentType: ctForm,
			body: "topic=a&data=%ZZ", wantStatus: 400, wantCode: CodeInvalidForm},
		{name: "form truncated escape", contentType: ctForm,
			body: "topic=a&data=x%4", wantStatus: 400, wantCode: CodeInvalidForm},
		{name: "form bad escape in name", contentType: ctForm,
			body: "top%G1c=a&data=x", wantStatus: 400, wantCode: CodeInvalidForm},
		{name: "form data twice", contentType: ctForm,
			body: "topic=a&data=x&data=y", wantStatus: 400, wantCode: CodeInvalidForm},
		{name: "form type twice", contentType: ctForm,
			body: "topic=a&data=x&type=a&type=b", wantStatus: 400, wantCode: CodeInvalidForm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, apiErr := parsePublish(tt.contentType, []byte(tt.body), tt.lim)
			if tt.wantStatus == 0 {
				if apiErr != nil {
					t.Fatalf("parsePublish(%q, %.80q) error = %v, want success", tt.contentType, tt.body, apiErr)
				}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("parsePublish(%q, %.80q) mismatch (-want +got):\n%s", tt.contentType, tt.body, diff)
				}
				return
			}
			if apiErr == nil {
				t.Fatalf("parsePublish(%q, %.80q) = %v, want error %d %s", tt.contentType, tt.body, got, tt.wantStatus, tt.wantCode)
			}
			if apiErr.Status != tt.wantStatus || apiErr.Code != tt.wantCode {
				t.Errorf("parsePublish(%q, %.80q) error = %v, want %d %s", tt.contentType, tt.body, apiErr, tt.wantStatus, tt.wantCode)
			}
			if apiErr.Message == "" || !strings.Contains(apiErr.Message, tt.wantMsg) {
				t.Errorf("parsePublish(%q, %.80q) message = %q, want it to contain %q", tt.contentType, tt.body, apiErr.Message, tt.wantMsg)
			}
			if got != nil {
				t.Errorf("parsePublish(%q, %.80q) = %v with an error, want nil", tt.contentType, tt.body, got)
			}
		})
	}
}

// An error message repeats at most 64 bytes of any input, so a huge field
// name cannot make a huge error response.
func TestParsePublishQuotesAtMost64Bytes(t *testing.T) {
	long := strings.Repeat("k", 900<<10)
	for _, tt := range []struct{ name, contentType, body string }{
		{"form unknown field", ctForm, "topic=a&data=x&" + long + "=1"},
		{"form field name with a bad escape", ctForm, "topic=a&data=x&" + long + "%ZZ=1"},
		{"form field value with a bad escape", ctForm, "topic=a&data=x&" + long + "=%ZZ"},
		{"json unknown field", ctJSON, `{"topic":"a","data":"x","` + long + `":1}`},
		{"content type", "application/" + long, `{"topic":"a","data":"x"}`},
		{"topic", ctJSON, `{"topic":"` + long + `","data":"x"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, apiErr := parsePublish(tt.contentType, []byte(tt.body), PublishLimits{})
			if apiErr == nil {
				t.Fatalf("parsePublish(%.40q, %.80q) = success, want an error", tt.contentType, tt.body)
			}
			if strings.Contains(apiErr.Message, long[:65]) || !strings.Contains(apiErr.Message, `"...`) {
				t.Errorf("parsePublish(%.40q, %.80q) message = %.200q (%d bytes), want at most 64 bytes of the input and a mark where it was cut",
					tt.contentType, tt.body, apiErr.Message, len(apiErr.Message))
			}
		})
	}
}

// fasthttp reuses the request body, so nothing returned may alias it.
func TestParsePublishCopiesBody(t *testing.T) {
	for _, tc := range []struct{ contentType, body string }{
		{ctJSON, `{"topic":"news","event":"e","data":"hello"}`},
		{ctJSON, `{"topic":"news","event":"e","data":{"a":"hello"}}`},
		{ctForm, `topic=news&type=e&data=hello`},
	} {
		body := []byte(tc.body)
		got, apiErr := parsePublish(tc.contentType, body, PublishLimits{})
		if apiErr != nil {
			t.Fatalf("parsePublish(%q, %q) error = %v", tc.contentType, tc.body, apiErr)
		}
		want := clonePubs(got)
		for i := range body {
			body[i] = 'X'
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parsePublish(%q, %q) result changed with the body (-before +after):\n%s", tc.contentType, tc.body, diff)
		}
	}
}

func clonePubs(ps []broker.Publication) []broker.Publication {
	out := make([]broker.Publication, len(ps))
	for i, p := range ps {
		out[i] = broker.Publication{
			Topics: append([]string(nil), p.Topics...),
			Event:  strings.Clone(p.Event),
			Data:   append([]byte(nil), p.Data...),
		}
	}
	return out
}

func FuzzParsePublish(f *testing.F) {
	for _, s := range []struct{ contentType, body string }{
		{ctJSON, `{"topic":"news","data":"hello"}`},
		{ctJSON, `{"topic":"a","topics":["b","a"],"event":"alert","data":{"k":[1,2.5,true,null]}}`},
		{ctJSON, `[{"topic":"a","data":"1"},{"topics":["b","c"],"data":2},{"topic":"d","data":null}]`},
		{ctJSON, `{"topic":"a","event":"x\ny","data":"line1\r\nline2"}`},
		{ctJSON, `{"topic":"news/*","data":"x"}`},
		{ctJSON, `{"topic":"a","event":"ssehub.reset","data":"\u0000"}`},
		{ctJSON, `{"topics":["a","\ud800"],"event":"\udc00","data":"\ud83d\ude00\\ud800\ufffd"}`},
		{ctJSON, "{\"topic\":\"a\",\"event\":\"\xff\",\"data\":\"\xe6\x97\"}"},
		{ctJSON, `[]`},
		{ctJSON, `{"topic":"a","data":"x"} trailing`},
		{ctJSON, `{"topic":"a","data":"x","id":"1"}`},
		{"application/json; charset=utf-8", `{"topics":["a","b","c","d","e"],"data":"123456789012345678901234567890123456789012345678901234567890123456789"}`},
		{ctForm, "topic=news&topic=a%2Fb&data=hello+world&type=alert"},
		{ctForm, "topic=a&data=%FF%FE"},
		{ctForm, "topic=a&data=%ZZ"},
		{ctForm, "topic=a&type=a%0Ab&data=x"},
		{ctForm, "topic=a&data=x&id=1&private=on"},
		{"text/plain", "hello"},
		{"", ""},
	} {
		f.Add(s.contentType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		for _, lim := range []PublishLimits{{}, {MaxBatch: 2, MaxTopics: 3, MaxDataBytes: 64}} {
			checkPublish(t, contentType, body, lim)
		}
	})
}

// checkPublish asserts what parsePublish promises for any input.
func checkPublish(t *testing.T, contentType string, body []byte, lim PublishLimits) {
	t.Helper()
	got, apiErr := parsePublish(contentType, body, lim)
	lim = lim.withDefaults()
	if apiErr != nil {
		switch apiErr.Status {
		case 400, 413, 415:
		default:
			t.Errorf("parsePublish(%q, %q) status = %d, want 400, 413 or 415", contentType, body, apiErr.Status)
		}
		if apiErr.Code == "" || apiErr.Message == "" {
			t.Errorf("parsePublish(%q, %q) error = %#v, want a code and a message", contentType, body, apiErr)
		}
		if got != nil {
			t.Errorf("parsePublish(%q, %q) = %v with an error, want nil", contentType, body, got)
		}
		return
	}
	// encoding/json turns text that is not Unicode into U+FFFD, which must
	// have been refused: any U+FFFD in an accepted JSON body's events was
	// sent, as itself or as an escape.
	sentFFFD := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
	isJSON := strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), mediaJSON)
	replaced := func(s string) bool { return isJSON && !sentFFFD && strings.ContainsRune(s, utf8.RuneError) }
	if len(got) < 1 || len(got) > lim.MaxBatch {
		t.Errorf("parsePublish(%q, %q) returned %d publications, want 1..%d", contentType, body, len(got), lim.MaxBatch)
	}
	for i, p := range got {
		if len(p.Topics) < 1 || len(p.Topics) > lim.MaxTopics {
			t.Errorf("parsePublish(%q, %q)[%d] has %d topics, want 1..%d", contentType, body, i, len(p.Topics), lim.MaxTopics)
		}
		seen := make(map[string]bool)
		for _, tp := range p.Topics {
			if err := topic.ValidateTopic(tp); err != nil {
				t.Errorf("parsePublish(%q, %q)[%d] topic %q invalid: %v", contentType, body, i, tp, err)
			}
			if replaced(tp) {
				t.Errorf("parsePublish(%q, %q)[%d] topic %q has a U+FFFD that was not sent", contentType, body, i, tp)
			}
			if seen[tp] {
				t.Errorf("parsePublish(%q, %q)[%d] topic %q repeated", contentType, body, i, tp)
			}
			seen[tp] = true
		}
		if e := p.Event; e != "" {
			if len(e) > maxEventNameLen || sse.ValidateField(e) != nil || !utf8.ValidString(e) ||
				strings.HasPrefix(e, reservedEventPrefix) || e == "message" {
				t.Errorf("parsePublish(%q, %q)[%d] event %q is not a valid name", contentType, body, i, e)
			}
		}
		if replaced(p.Event) || replaced(string(p.Data)) {
			t.Errorf("parsePublish(%q, %q)[%d] event %q, data %q: a U+FFFD that was not sent", contentType, body, i, p.Event, p.Data)
		}
		if len(p.Data) > lim.MaxDataBytes || !utf8.Valid(p.Data) {
			t.Errorf("parsePublish(%q, %q)[%d] data %q: want valid UTF-8 of at most %d bytes", contentType, body, i, p.Data, lim.MaxDataBytes)
		}
	}
}
