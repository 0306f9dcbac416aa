package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Plain bodies, what publishers send, take the one-pass scan.
func TestScanPlainJSONTakesPlainBodies(t *testing.T) {
	for _, body := range []string{
		`{"topic":"news","data":"hello"}`,
		" \r\n\t{ \"topic\" : \"news\" , \"data\" : \"x\" }\n",
		`{"data":"x","event":"alert","topics":["a/b","c:d"],"topic":"e"}`,
		`{"topic":"a","topics":["b","a"],"data":""}`,
		`{"topic":"a","event":"","data":"x"}`,
		`{"topic":"a","event":"message","data":"x"}`,
		`{"topic":"a","data":"é ✓ 😀"}`,
		`[{"topic":"a","data":"1"}]`,
		`[ {"topic":"a","data":"1"} , {"topics":["b","c"],"data":"2"} ]`,
		benchBody(12),
	} {
		if _, ok := scanPlainJSON([]byte(body), PublishLimits{}.withDefaults()); !ok {
			t.Errorf("scanPlainJSON(%q) = false, want a plain body scanned", body)
		}
		checkScanAgrees(t, []byte(body), PublishLimits{})
	}
}

// Anything else goes the general way, which words the refusals.
func TestScanPlainJSONLeavesTheRest(t *testing.T) {
	lim := PublishLimits{MaxBatch: 2, MaxTopics: 2, MaxDataBytes: 8}
	for _, body := range []string{
		``,
		`null`,
		`[]`,
		`{}`,
		`{"topic":"a","data":"x"} trailing`,
		`{"topic":"a","data":"x"}{}`,
		`[{"topic":"a","data":"x"}`,
		`[{"topic":"a","data":"x"},]`,
		`{"topic":"a","data":"x",}`,
		`{"topic":"a","data":"line\nbreak"}`,
		`{"topic":"a","data":"\u0041"}`,
		"{\"topic\":\"a\",\"data\":\"tab\there\"}",
		"{\"topic\":\"a\",\"data\":\"\xff\"}",
		`{"topic":"a","data":{"k":1}}`,
		`{"topic":"a","data":1}`,
		`{"topic":"a","data":null}`,
		`{"topic":null,"topics":["a"],"data":"x"}`,
		`{"topic":"a","topics":[],"data":"x"}`,
		`{"topic":"a","topic":"b","data":"x"}`,
		`{"Topic":"a","data":"x"}`,
		`{"topic":"a","data":"x","id":"1"}`,
		`{"topic":"a"}`,
		`{"data":"x"}`,
		`{"topic":"a/*","data":"x"}`,
		`{"topic":"a","event":"ssehub.reset","data":"x"}`,
		`{"topic":"a","data":"123456789"}`,
		`{"topics":["a","b","c"],"data":"x"}`,
		`[{"topic":"a","data":"1"},{"topic":"a","data":"2"},{"topic":"a","data":"3"}]`,
		`[{"topic":"a","data":"1"},"x"]`,
		"\ufeff{\"topic\":\"a\",\"data\":\"x\"}",
	} {
		if pubs, ok := scanPlainJSON([]byte(body), lim.withDefaults()); ok {
			t.Errorf("scanPlainJSON(%q) = %v, true; want false", body, pubs)
		}
	}
}

// FuzzScanPlainJSON checks that whatever the scan takes, the general way
// takes too, with the same result.
func FuzzScanPlainJSON(f *testing.F) {
	for _, s := range []string{
		`{"topic":"news","data":"hello"}`,
		`[{"topic":"a","data":"1"},{"topics":["b","c"],"event":"e","data":"2"}]`,
		`{"topic":"a","topics":["b","a"],"event":"message","data":""}`,
		`{"topic":"a","data":"x","topic":"b"}`,
		"{\"topic\":\"a\",\"data\":\"\xe6\x97\"}",
		`{"topic":"a","data":"\u00e9"}`,
		benchBody(3),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, lim := range []PublishLimits{{}, {MaxBatch: 2, MaxTopics: 3, MaxDataBytes: 64}} {
			checkScanAgrees(t, body, lim)
		}
	})
}

// checkScanAgrees fails t if scanPlainJSON takes body and
// decodePublishJSON gives another result for it.
func checkScanAgrees(t *testing.T, body []byte, lim PublishLimits) {
	t.Helper()
	lim = lim.withDefaults()
	got, ok := scanPlainJSON(body, lim)
	if !ok {
		return
	}
	want, apiErr := decodePublishJSON(body, lim)
	if apiErr != nil {
		t.Fatalf("scanPlainJSON(%q) = %v, but decodePublishJSON refuses it: %v", body, got, apiErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scanPlainJSON(%q) differs from decodePublishJSON (-decode +scan):\n%s", body, diff)
	}
}

// benchBody is a batch of n events as the bench's publisher sends them.
func benchBody(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"topic":"user/%d","data":"user/%d|%d|1764720000123456789"}`, 1000+7*i, 1000+7*i, i+1)
	}
	b.WriteByte(']')
	return b.String()
}

// A dozen events a request is what the bench's targeted phases send at
// 5,000 events/s.
func BenchmarkParsePublishJSON_12Events(b *testing.B) {
	body := []byte(benchBody(12))
	lim := PublishLimits{}.withDefaults()
	for _, bc := range []struct {
		name  string
		parse func() bool
	}{
		{"scan", func() bool { _, ok := scanPlainJSON(body, lim); return ok }},
		{"decode", func() bool { _, e := decodePublishJSON(body, lim); return e == nil }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !bc.parse() {
					b.Fatal("not parsed")
				}
			}
		})
	}
}
