package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Topic layouts for scenarios.
const (
	// TopicsShared puts every stream on topic "news".
	TopicsShared = "shared"
	// TopicsUnique puts stream i on "user/i": one topic per stream.
	TopicsUnique = "unique"
)

// TopicsFor returns the topicOf function for OpenStreams of a layout.
func TopicsFor(layout string) (func(int) string, error) {
	switch layout {
	case TopicsShared, "":
		return SharedTopic("news"), nil
	case TopicsUnique:
		return UserTopic, nil
	}
	return nil, fmt.Errorf("bench: topic layout %q, want %q or %q", layout, TopicsShared, TopicsUnique)
}

// TargetRSSPerStream is the product target for hub RSS per idle stream
// (PRODUCT.md, "Targets").
const TargetRSSPerStream = 5 << 10

// IdleConfig tunes RunIdle. Zero fields take the documented defaults.
type IdleConfig struct {
	// Streams is how many streams to open. Zero means 10,000.
	Streams int
	// Topics is the topic layout, TopicsShared or TopicsUnique. Empty
	// means TopicsShared.
	Topics string
	// Sources and Concurrency are passed to OpenStreams.
	Sources     []string
	Concurrency int
	// Warmup is the wait after the hub started before the baseline is
	// measured. Zero means 2s.
	Warmup time.Duration
	// The baseline RSS is the smallest of BaselineSamples samples taken
	// BaselineInterval apart: the hub's idle floor. Zero means 5 and 500ms.
	BaselineSamples  int
	BaselineInterval time.Duration
	// Settle is the wait after the streams opened before the loaded RSS is
	// measured, for the hub's allocator and GC to settle. Zero means 10s.
	Settle time.Duration
	// The loaded RSS is the median of LoadedSamples samples taken
	// LoadedInterval apart. Zero means 5 and 1s.
	LoadedSamples  int
	LoadedInterval time.Duration
}

func (c IdleConfig) withDefaults() IdleConfig {
	setDefault(&c.Streams, defaultStreams)
	if c.Topics == "" {
		c.Topics = TopicsShared
	}
	setDefault(&c.BaselineSamples, 5)
	setDefault(&c.LoadedSamples, 5)
	setDefault(&c.Warmup, 2*time.Second)
	setDefault(&c.BaselineInterval, 500*time.Millisecond)
	setDefault(&c.Settle, 10*time.Second)
	setDefault(&c.LoadedInterval, time.Second)
	return c
}

// defaultStreams is how many streams a scenario opens when its config asks
// for none.
const defaultStreams = 10000

// setDefault sets *field to def unless it is positive: the scenario
// configs' rule that a zero (or meaningless negative) field takes the
// documented default.
func setDefault[T int | time.Duration](field *T, def T) {
	if *field <= 0 {
		*field = def
	}
}

// IdleResult is what RunIdle measured. Sizes are in bytes.
type IdleResult struct {
	Streams int    `json:"streams"` // asked for
	Topics  string `json:"topics"`
	// Connected is how many streams were open when the loaded RSS had been
	// measured: their preamble arrived and the hub has not closed them.
	Connected int `json:"connected"`
	// HubSockets is how many sockets the hub process held at that time
	// (streams plus its listener).
	HubSockets int `json:"hub_sockets"`
	// OpenError is why some streams did not open, if any did not.
	OpenError string `json:"open_error,omitempty"`

	BaselineRSS     int64   `json:"baseline_rss_bytes"`
	BaselineSamples []int64 `json:"baseline_rss_samples"`
	LoadedRSS       int64   `json:"loaded_rss_bytes"`
	LoadedSamples   []int64 `json:"loaded_rss_samples"`
	// RSSPerStream is (LoadedRSS - BaselineRSS) / Streams.
	RSSPerStream int64 `json:"rss_per_stream_bytes"`
	// GeneratorRSS is this process's RSS with every stream open.
	GeneratorRSS int64 `json:"generator_rss_bytes"`

	ConnectTime time.Duration `json:"connect_ns"`
	// ConnectRate is streams opened per second of ConnectTime.
	ConnectRate float64 `json:"connect_rate_per_s"`
}

// AllConnected reports whether every stream asked for was connected.
func (r IdleResult) AllConnected() bool { return r.Connected == r.Streams }

// RunIdle measures the hub's memory per idle stream: the hub's RSS before
// and after opening cfg.Streams streams that receive nothing but heartbeats.
// The streams are closed before it returns; the hub keeps running.
//
// Streams that fail to open do not stop the measurement: the result says
// how many were connected (AllConnected) and why the others were not.
func RunIdle(ctx context.Context, hub *HubProcess, cfg IdleConfig) (IdleResult, error) {
	cfg = cfg.withDefaults()
	topicOf, err := TopicsFor(cfg.Topics)
	if err != nil {
		return IdleResult{}, err
	}
	res := IdleResult{Streams: cfg.Streams, Topics: cfg.Topics}
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return res, err
	}
	res.BaselineSamples, err = sampleRSS(ctx, hub, cfg.BaselineSamples, cfg.BaselineInterval)
	if err != nil {
		return res, err
	}
	res.BaselineRSS = slices.Min(res.BaselineSamples)

	start := time.Now()
	streams, openErr := OpenStreams(ctx, hub.Addr, cfg.Streams, topicOf, cfg.Sources, cfg.Concurrency)
	res.ConnectTime = time.Since(start)
	if streams == nil { // bad arguments: nothing opened
		return res, openErr
	}
	defer streams.Close()
	if openErr != nil {
		res.OpenError = openErr.Error()
	}
	res.ConnectRate = float64(streams.Opened()) / res.ConnectTime.Seconds()

	if err := sleep(ctx, cfg.Settle); err != nil {
		return res, err
	}
	res.LoadedSamples, err = sampleRSS(ctx, hub, cfg.LoadedSamples, cfg.LoadedInterval)
	if err != nil {
		return res, err
	}
	res.LoadedRSS = median(res.LoadedSamples)
	res.RSSPerStream = (res.LoadedRSS - res.BaselineRSS) / int64(cfg.Streams)
	res.Connected = streams.Live()
	if res.HubSockets, err = hub.Sockets(); err != nil {
		return res, err
	}
	if res.GeneratorRSS, err = GeneratorRSS(); err != nil {
		return res, err
	}
	return res, nil
}

// sampleRSS reads the hub's RSS n times, interval apart.
func sampleRSS(ctx context.Context, hub *HubProcess, n int, interval time.Duration) ([]int64, error) {
	samples := make([]int64, 0, n)
	for i := range n {
		if i > 0 {
			if err := sleep(ctx, interval); err != nil {
				return samples, err
			}
		}
		rss, err := hub.RSS()
		if err != nil {
			return samples, err
		}
		samples = append(samples, rss)
	}
	return samples, nil
}

// median returns the median of s (the upper one for an even length).
func median(s []int64) int64 {
	s = slices.Sorted(slices.Values(s))
	return s[len(s)/2]
}

// sleep waits for d, or returns ctx's error if it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteTable writes r as a Markdown table, as pasted into BENCHMARKS.md.
func (r IdleResult) WriteTable(w io.Writer) error {
	verdict := "meets"
	if r.RSSPerStream > TargetRSSPerStream {
		verdict = "misses"
	}
	rows := [][2]string{
		{"streams connected", fmt.Sprintf("%d of %d (topics %s)", r.Connected, r.Streams, r.Topics)},
		{"hub sockets", fmt.Sprintf("%d (streams + listener)", r.HubSockets)},
		{"hub RSS baseline", formatBytes(r.BaselineRSS) + fmt.Sprintf(", min of %d samples", len(r.BaselineSamples))},
		{"hub RSS loaded", formatBytes(r.LoadedRSS) + fmt.Sprintf(", median of %d samples", len(r.LoadedSamples))},
		{"hub RSS per stream", fmt.Sprintf("%d B = %.2f KiB, %s target <= %d KiB",
			r.RSSPerStream, float64(r.RSSPerStream)/1024, verdict, TargetRSSPerStream>>10)},
		{"generator RSS", formatBytes(r.GeneratorRSS)},
		{"connect time", fmt.Sprintf("%.2f s", r.ConnectTime.Seconds())},
		{"connect rate", fmt.Sprintf("%.0f streams/s", r.ConnectRate)},
	}
	if r.OpenError != "" {
		rows = append(rows, [2]string{"open errors", strings.ReplaceAll(r.OpenError, "\n", "; ")})
	}
	return writeTable(w, rows)
}

// writeTable writes metric/value rows as an aligned Markdown table.
func writeTable(w io.Writer, rows [][2]string) error {
	wk, wv := len("metric"), len("value")
	for _, row := range rows {
		wk, wv = max(wk, len(row[0])), max(wv, len(row[1]))
	}
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "| %-*s | %-*s |\n", wk, k, wv, v) }
	line("metric", "value")
	fmt.Fprintf(&b, "|%s|%s|\n", strings.Repeat("-", wk+2), strings.Repeat("-", wv+2))
	for _, row := range rows {
		line(row[0], row[1])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatBytes renders n exactly and in MiB.
func formatBytes(n int64) string {
	return fmt.Sprintf("%d B = %.1f MiB", n, float64(n)/(1<<20))
}
