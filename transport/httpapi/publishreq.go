package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/transport/sse"
)

// PublishLimits bound one publish request. Zero fields take the documented defaults.
type PublishLimits struct {
	MaxBatch     int // events per request; zero means 1000
	MaxTopics    int // topics per event; zero means 64
	MaxDataBytes int // bytes of data per event; zero means 64 KiB
}

const (
	defaultMaxBatch     = 1000
	defaultMaxTopics    = 64
	defaultMaxDataBytes = 64 << 10

	// maxEventNameLen bounds the SSE event name; names are identifiers for
	// addEventListener, not payload.
	maxEventNameLen = 64
	// reservedEventPrefix is kept for events the hub itself sends
	// (ssehub.reset), so a publisher cannot forge them.
	reservedEventPrefix = "ssehub."

	mediaJSON = "application/json"
	mediaForm = "application/x-www-form-urlencoded"
)

func (l PublishLimits) withDefaults() PublishLimits {
	if l.MaxBatch <= 0 {
		l.MaxBatch = defaultMaxBatch
	}
	if l.MaxTopics <= 0 {
		l.MaxTopics = defaultMaxTopics
	}
	if l.MaxDataBytes <= 0 {
		l.MaxDataBytes = defaultMaxDataBytes
	}
	return l
}

// parsePublish parses the body of POST /publish into publications, in request
// order. Everything returned is copied out of body, which fasthttp reuses.
// The server enforces the overall body size before calling it.
func parsePublish(contentType string, body []byte, lim PublishLimits) ([]broker.Publication, *APIError) {
	lim = lim.withDefaults()
	// Parameters (charset=utf-8 and the like) are ignored: JSON is UTF-8 by
	// RFC 8259, and form data is checked for UTF-8 below.
	media, _, _ := strings.Cut(contentType, ";")
	media = strings.TrimSpace(media)
	switch {
	case strings.EqualFold(media, mediaJSON):
		return parsePublishJSON(body, lim)
	case strings.EqualFold(media, mediaForm):
		return parsePublishForm(body, lim)
	}
	if media == "" {
		return nil, unsupportedMedia("missing Content-Type; send %s or %s", mediaJSON, mediaForm)
	}
	return nil, unsupportedMedia("unsupported Content-Type %s; send %s or %s", clip.Quote(media), mediaJSON, mediaForm)
}

func unsupportedMedia(format string, args ...any) *APIError {
	return &APIError{Status: fasthttp.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType, Message: fmt.Sprintf(format, args...)}
}

func tooLarge(format string, args ...any) *APIError {
	return &APIError{Status: fasthttp.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf(format, args...)}
}

// parsePublishJSON accepts one event object or a non-empty array of them.
// A plain body takes one pass (scanPlainJSON); any other, and every
// refusal, is decoded with encoding/json (decodePublishJSON).
func parsePublishJSON(body []byte, lim PublishLimits) ([]broker.Publication, *APIError) {
	if pubs, ok := scanPlainJSON(body, lim); ok {
		return pubs, nil
	}
	return decodePublishJSON(body, lim)
}

// decodePublishJSON is parsePublishJSON for any body, with encoding/json.
func decodePublishJSON(body []byte, lim PublishLimits) ([]broker.Publication, *APIError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, badRequest(CodeInvalidJSON, "empty body; send a JSON object or an array of objects")
		}
		return nil, badRequest(CodeInvalidJSON, "invalid JSON: %v", err)
	}
	if off := dec.InputOffset(); len(bytes.TrimLeft(body[off:], " \t\r\n")) != 0 {
		return nil, badRequest(CodeInvalidJSON, "invalid JSON: unexpected data after the JSON value at offset %d", off)
	}

	switch raw[0] { // raw is a valid value, so it is non-empty with no leading space
	case '{':
		p, e := parseJSONEvent(raw, lim)
		if e != nil {
			return nil, e
		}
		return []broker.Publication{p}, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, badRequest(CodeInvalidJSON, "invalid JSON: %v", err)
		}
		if len(items) == 0 {
			return nil, badRequest(CodeEmptyBatch, "empty batch; send at least one event")
		}
		if len(items) > lim.MaxBatch {
			return nil, tooLarge("batch of %d events exceeds the limit of %d", len(items), lim.MaxBatch)
		}
		pubs := make([]broker.Publication, len(items))
		for i, item := range items {
			p, e := parseJSONEvent(item, lim)
			if e != nil {
				e.Message = fmt.Sprintf("event %d: %s", i, e.Message)
				return nil, e
			}
			pubs[i] = p
		}
		return pubs, nil
	}
	return nil, badRequest(CodeInvalidJSON, "body must be a JSON object or an array of objects")
}

// parseJSONEvent parses one event object. JSON null for topic, topics and
// event means absent, as encoding/json treats it; for data it is the text "null".
func parseJSONEvent(raw json.RawMessage, lim PublishLimits) (broker.Publication, *APIError) {
	if raw[0] != '{' {
		return broker.Publication{}, badRequest(CodeInvalidJSON, "an event must be a JSON object")
	}
	// A map rather than a struct: field names match exactly (encoding/json
	// matches struct fields case-insensitively), and unknown ones can be named.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return broker.Publication{}, badRequest(CodeInvalidJSON, "invalid JSON: %v", err)
	}
	var unknown []string
	for k := range fields {
		switch k {
		case "topic", "topics", "event", "data":
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown) // map order is random; name the same one every time
		return broker.Publication{}, badRequest(CodeUnknownField, "unknown field %s; allowed: topic, topics, event, data", clip.Quote(unknown[0]))
	}

	var topics []string
	if v, ok := fields["topic"]; ok && !isNull(v) {
		var s string
		if e := decodeField(v, &s, "topic", "a string", CodeInvalidTopic); e != nil {
			return broker.Publication{}, e
		}
		topics = append(topics, s)
	}
	if v, ok := fields["topics"]; ok && !isNull(v) {
		var ss []string
		if e := decodeField(v, &ss, "topics", "an array of strings", CodeInvalidTopic); e != nil {
			return broker.Publication{}, e
		}
		topics = append(topics, ss...)
	}
	var event string
	if v, ok := fields["event"]; ok && !isNull(v) {
		if e := decodeField(v, &event, "event", "a string", CodeInvalidEvent); e != nil {
			return broker.Publication{}, e
		}
	}
	v, ok := fields["data"]
	if !ok {
		return broker.Publication{}, badRequest(CodeMissingData, `missing field "data"`)
	}
	var data []byte
	if v[0] == '"' {
		var s string
		if e := decodeField(v, &s, "data", "a string", CodeInvalidData); e != nil {
			return broker.Publication{}, e
		}
		data = []byte(s)
	} else {
		// Sent as the JSON text it is, escapes and all, so nothing is
		// replaced; bytes that are not UTF-8 are refused below.
		var buf bytes.Buffer
		buf.Grow(len(v))
		if err := json.Compact(&buf, v); err != nil {
			return broker.Publication{}, badRequest(CodeInvalidJSON, "invalid JSON: %v", err)
		}
		data = buf.Bytes()
	}
	return newPublication(topics, event, data, lim)
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

// decodeField decodes v, the value of field name, into dst, a string or a
// slice of strings. A value of another type is invalid_json, saying it must
// be want; a string that is not Unicode text is code, the field's own, as the
// same bytes in a form are.
func decodeField(v json.RawMessage, dst any, name, want, code string) *APIError {
	if err := json.Unmarshal(v, dst); err != nil {
		return badRequest(CodeInvalidJSON, "field %q must be %s", name, want)
	}
	if lossyText(v) {
		return badRequest(code, `field %q is not valid UTF-8: it has bytes that are not UTF-8 or a \u escape of a lone surrogate`, name)
	}
	return nil
}

// lossyText reports whether decoding the JSON value v would replace any of
// its strings' text with U+FFFD, as encoding/json does without a word: bytes
// that are not UTF-8, and \u escapes of UTF-16 surrogates that do not form a
// pair (RFC 8259 sections 8.1 and 8.2). v must be valid JSON, where every
// backslash starts an escape.
func lossyText(v []byte) bool {
	if !utf8.Valid(v) {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		r := unicodeEscape(v[i:])
		if r < 0 { // a two-byte escape such as \n or \\: skip what it escapes
			i++
			continue
		}
		i += len(`\uXXXX`) - 1
		switch {
		case !utf16.IsSurrogate(r):
		case r >= 0xDC00: // a low surrogate with no high one before it
			return true
		default: // a high surrogate: a low one must follow at once
			if lo := unicodeEscape(v[i+1:]); lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += len(`\uXXXX`)
		}
	}
	return false
}

// unicodeEscape returns the code unit of the \uXXXX escape that b starts
// with, or -1 if it starts with none.
func unicodeEscape(b []byte) rune {
	if len(b) < len(`\uXXXX`) || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}

// parsePublishForm parses a Mercure-style form body: topic (repeatable), data
// and type. Decoding is strict: a malformed percent escape is an error, not
// passed through as fasthttp.Args would.
func parsePublishForm(body []byte, lim PublishLimits) ([]broker.Publication, *APIError) {
	var (
		topics            []string
		event, data       string
		haveEvt, haveData bool
	)
	for rest := string(body); rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, badRequest(CodeInvalidForm, "invalid form field name %s: %v", clip.Quote(k), err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, badRequest(CodeInvalidForm, "invalid value of form field %s: %v", clip.Quote(key), err)
		}
		switch key {
		case "topic":
			topics = append(topics, val)
		case "data":
			if haveData {
				return nil, badRequest(CodeInvalidForm, `form field "data" given more than once`)
			}
			data, haveData = val, true
		case "type":
			if haveEvt {
				return nil, badRequest(CodeInvalidForm, `form field "type" given more than once`)
			}
			event, haveEvt = val, true
		case "id":
			return nil, badRequest(CodeUnknownField, `unknown form field "id": ids are assigned by the hub`)
		case "private":
			return nil, badRequest(CodeUnknownField, `unknown form field "private": private updates are not supported`)
		case "retry":
			return nil, badRequest(CodeUnknownField, `unknown form field "retry": the reconnection delay is set by the hub`)
		default:
			return nil, badRequest(CodeUnknownField, "unknown form field %s; allowed: topic, data, type", clip.Quote(key))
		}
	}
	// data is required here too, so both encodings fail the same way on a
	// forgotten payload; an empty "data=" is accepted.
	if !haveData {
		return nil, badRequest(CodeMissingData, `missing form field "data"`)
	}
	p, e := newPublication(topics, event, []byte(data), lim)
	if e != nil {
		return nil, e
	}
	return []broker.Publication{p}, nil
}

// newPublication validates one event and builds its publication. topics are
// deduplicated keeping first-seen order; data must already be a private copy.
func newPublication(topics []string, event string, data []byte, lim PublishLimits) (broker.Publication, *APIError) {
	if len(topics) == 0 {
		return broker.Publication{}, badRequest(CodeMissingTopic, "missing topic; give topic or topics")
	}
	distinct := make([]string, 0, min(len(topics), lim.MaxTopics+1))
	for _, t := range topics {
		if err := topic.ValidateTopic(t); err != nil {
			return broker.Publication{}, badRequest(CodeInvalidTopic, "%s", err.Error())
		}
		if err := refuseMercureNamespace(t); err != nil {
			return broker.Publication{}, err
		}
		if slices.Contains(distinct, t) {
			continue
		}
		// distinct stays at most MaxTopics long, so this scan is bounded.
		if len(distinct) == lim.MaxTopics {
			return broker.Publication{}, badRequest(CodeTooManyTopics, "more than %d topics in one event", lim.MaxTopics)
		}
		distinct = append(distinct, t)
	}
	if e := validateEventName(event); e != nil {
		return broker.Publication{}, e
	}
	if event == "message" { // the default; the wire omits it
		event = ""
	}
	if len(data) > lim.MaxDataBytes {
		return broker.Publication{}, tooLarge("data of %d bytes exceeds the limit of %d", len(data), lim.MaxDataBytes)
	}
	if !utf8.Valid(data) {
		return broker.Publication{}, badRequest(CodeInvalidData, "data is not valid UTF-8")
	}
	return broker.Publication{Topics: distinct, Event: event, Data: data}, nil
}

func validateEventName(event string) *APIError {
	if event == "" {
		return nil
	}
	if len(event) > maxEventNameLen {
		return badRequest(CodeInvalidEvent, "event name of %d bytes exceeds the limit of %d", len(event), maxEventNameLen)
	}
	if sse.ValidateField(event) != nil { // its error names no value; say which
		return badRequest(CodeInvalidEvent, "event name %s contains CR, LF or NUL", clip.Quote(event))
	}
	if !utf8.ValidString(event) {
		return badRequest(CodeInvalidEvent, "event name %s is not valid UTF-8", clip.Quote(event))
	}
	if strings.HasPrefix(event, reservedEventPrefix) {
		return badRequest(CodeInvalidEvent, "event name %s uses the prefix %q reserved for the hub", clip.Quote(event), reservedEventPrefix)
	}
	return nil
}
