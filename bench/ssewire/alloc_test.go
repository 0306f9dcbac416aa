package ssewire

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
)

// typicalEvent is an event as ssehub sends it to the bench: an id, and
// data naming the topic, a sequence number and the publish time in
// nanoseconds.
const typicalEvent = "id: 1732700000000-12\ndata: user/42|17|1732700000123456789\n\n"

// counter is a Handler that only counts, as the bench's would.
type counter struct {
	events, bytes int
}

func (c *counter) Head() {}

func (c *counter) Event(id []byte, hasID bool, typ, data []byte) {
	c.events++
	c.bytes += len(id) + len(data)
}

func (c *counter) Retry(int) {}

func (c *counter) Comment([]byte) {}

// startedStream returns a Stream past its response head and preamble,
// with chunked framing if chunked.
func startedStream(t testing.TB, chunked bool) *Stream {
	head, preamble := identityHead, []byte("retry: 3000\n: ssehub\n\n")
	if chunked {
		head, preamble = chunkedHead, chunk(preamble)
	}
	s := new(Stream)
	var h counter
	if err := s.Feed(append([]byte(head), preamble...), &h); err != nil {
		t.Fatalf("Feed(head and preamble) = %v", err)
	}
	return s
}

// chunk frames b as one chunk of a chunked body.
func chunk(b []byte) []byte { return fmt.Appendf(nil, "%x\r\n%s\r\n", len(b), b) }

// TestFeedAllocs proves the steady state does not allocate per event,
// whether events arrive whole, several per read, or cut anywhere.
func TestFeedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	ev := []byte(typicalEvent)
	multi := []byte("id: 9\nevent: tick\ndata: a\ndata: b\ndata: c\n\n: heartbeat\n")
	tests := []struct {
		name    string
		chunked bool
		feeds   [][]byte
	}{
		{"whole event", false, [][]byte{ev}},
		{"ten events per read", false, [][]byte{bytes.Repeat(ev, 10)}},
		{"split in the id", false, [][]byte{ev[:10], ev[10:]}},
		{"split in the data", false, [][]byte{ev[:40], ev[40:]}},
		{"split between lines", false, [][]byte{ev[:len(ev)-1], ev[len(ev)-1:]}},
		{"byte by byte", false, splitEvery(ev, 1)},
		{"multi-line data, comment", false, [][]byte{multi}},
		{"multi-line data split", false, [][]byte{multi[:20], multi[20:]}},
		{"chunked", true, [][]byte{chunk(ev)}},
		{"chunked, split", true, [][]byte{chunk(ev)[:30], chunk(ev)[30:]}},
		{"chunked, event across chunks", true, [][]byte{append(chunk(ev[:25]), chunk(ev[25:])...)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startedStream(t, tt.chunked)
			var h counter
			allocs := testing.AllocsPerRun(1000, func() {
				for _, b := range tt.feeds {
					if err := s.Feed(b, &h); err != nil {
						t.Fatalf("Feed(%q) = %v", b, err)
					}
				}
			})
			if allocs != 0 {
				t.Errorf("Feed(%q) allocs per run = %v, want 0", tt.feeds, allocs)
			}
			if h.events == 0 {
				t.Errorf("Feed(%q) dispatched no events", tt.feeds)
			}
		})
	}
}

// BenchmarkStreamFeed measures the decoding cost per event of typical
// ssehub events, in the read patterns a worker sees: many events per read
// (a busy stream), one per read (a quiet one), events cut across reads,
// and each event in its own chunk (a chunked server such as net/http).
func BenchmarkStreamFeed(b *testing.B) {
	var many []byte
	for len(many)+len(typicalEvent) <= 4096 {
		many = append(many, typicalEvent...)
	}
	ev := []byte(typicalEvent)
	benchmarks := []struct {
		name    string
		chunked bool
		reads   [][]byte
		events  int // per round of reads
	}{
		{"events=" + strconv.Itoa(len(many)/len(ev)) + "/read", false, [][]byte{many}, len(many) / len(ev)},
		{"events=1/read", false, [][]byte{ev}, 1},
		{"split", false, [][]byte{ev[:40], ev[40:]}, 1},
		{"chunked/events=1/chunk", true, [][]byte{chunk(ev)}, 1},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			s := startedStream(b, bm.chunked)
			var h counter
			size := 0
			for _, r := range bm.reads {
				size += len(r)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range bm.reads {
					if err := s.Feed(r, &h); err != nil {
						b.Fatalf("Feed(%q) = %v", r, err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(h.events), "ns/event")
			if h.events != b.N*bm.events {
				b.Fatalf("%d events for %d rounds, want %d per round", h.events, b.N, bm.events)
			}
		})
	}
}
