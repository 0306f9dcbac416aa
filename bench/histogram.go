package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ssehub/ssehub/bench/report"
)

// Latencies are recorded in microseconds, from 1µs to 10 minutes, with
// three significant digits: an HDR histogram of that range is about 30 KiB
// and its percentiles are exact to 0.1%.
const (
	histMin     = 1
	histMax     = int64(10 * time.Minute / time.Microsecond)
	histSigFigs = 3
)

// histogram is an HDR histogram of durations that many goroutines record
// into.
type histogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newHistogram() *histogram {
	return &histogram{h: hdrhistogram.New(histMin, histMax, histSigFigs)}
}

// record adds one duration; out-of-range values are clamped.
func (h *histogram) record(d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	h.mu.Lock()
	_ = h.h.RecordValue(us) // cannot fail: us is in range
	h.mu.Unlock()
}

// percentiles summarizes what was recorded so far.
func (h *histogram) percentiles() report.Percentiles {
	h.mu.Lock()
	defer h.mu.Unlock()
	return latencySum{h.h}.percentiles()
}

// takeEncoded returns the histogram in HDR's compressed encoding and
// empties it, so the next take covers only what was recorded after.
func (h *histogram) takeEncoded() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		panic("bench: encode histogram: " + err.Error()) // only for an unknown version
	}
	h.h.Reset()
	return b
}

// latencySum accumulates histograms decoded from workers. It is owned by
// one goroutine.
type latencySum struct {
	h *hdrhistogram.Histogram
}

func newLatencySum() latencySum {
	return latencySum{h: hdrhistogram.New(histMin, histMax, histSigFigs)}
}

// addEncoded merges an encoded histogram from takeEncoded.
func (s latencySum) addEncoded(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	other, err := hdrhistogram.Decode(b)
	if err != nil {
		return err
	}
	s.h.Merge(other)
	return nil
}

// add merges another sum into s.
func (s latencySum) add(other latencySum) { s.h.Merge(other.h) }

// percentiles summarizes the sum.
func (s latencySum) percentiles() report.Percentiles {
	n := s.h.TotalCount()
	if n == 0 {
		return report.Percentiles{}
	}
	at := func(q float64) time.Duration { return time.Duration(s.h.ValueAtQuantile(q)) * time.Microsecond }
	return report.Percentiles{
		Count: n,
		P50:   at(50),
		P90:   at(90),
		P99:   at(99),
		P999:  at(99.9),
		Max:   time.Duration(s.h.Max()) * time.Microsecond,
	}
}
