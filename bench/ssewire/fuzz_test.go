package ssewire

import (
	"fmt"
	"testing"
)

// Fuzz modes: how FuzzStream turns its input into a response.
const (
	fuzzRaw      = iota // the input is the whole response, head included
	fuzzIdentity        // the input is a close-delimited body
	fuzzChunked         // the input is a body, chunked in sizes picked by the seed
	fuzzModes
)

// FuzzStream checks that no input panics a Stream, that how the bytes are
// split between Feeds never changes the outcome, and that a body decodes
// as transport/sse's Parser reads it.
func FuzzStream(f *testing.F) {
	for i, tt := range streamTests {
		f.Add([]byte(tt.body), uint8(fuzzIdentity), uint32(i))
		f.Add([]byte(tt.body), uint8(fuzzChunked), uint32(i))
	}
	for i, tt := range headTests {
		// The cases over a size limit are left out: mutations of
		// kilobytes take the fuzzer ages to minimize, and find nothing the
		// small cases do not.
		if len(tt.resp) <= 512 {
			f.Add([]byte(tt.resp), uint8(fuzzRaw), uint32(i))
		}
	}
	f.Add([]byte("\xEF\xBB\xBF\r\n\r:\r\rdata\r\n\r\nid:\x00\n\nid: 1\ndata: a\ndata:b\n\n"), uint8(fuzzChunked), uint32(7))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8, seed uint32) {
		var resp []byte
		switch mode % fuzzModes {
		case fuzzRaw:
			resp = in
		case fuzzIdentity:
			resp = append([]byte(identityHead), in...)
		case fuzzChunked:
			resp = []byte(chunkedHead)
			for _, c := range randomSplit(in, seed) {
				resp = fmt.Appendf(resp, "%x\r\n%s\r\n", len(c), c)
			}
			resp = append(resp, "0\r\n\r\n"...)
		}
		want := decode([][]byte{resp})
		for name, chunks := range map[string][][]byte{
			"byte by byte": splitEvery(resp, 1),
			"random":       randomSplit(resp, seed),
		} {
			if diff := deepDiff(want, decode(chunks)); diff != "" {
				t.Fatalf("decode %q (%s) mismatch with whole (-want +got):\n%s", resp, name, diff)
			}
		}
		if mode%fuzzModes == fuzzRaw {
			return
		}
		if want.Err != "" {
			t.Fatalf("decode %q: %s", resp, want.Err)
		}
		if diff := deepDiff(parseReference(in), asReference(want)); diff != "" {
			t.Fatalf("decode %q mismatch with transport/sse (-want +got):\n%s", resp, diff)
		}
	})
}
