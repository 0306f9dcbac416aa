package bench

import (
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	testParse(t, "parseVmRSS", parseVmRSS, []parseCase[int64]{
		{
			name: "real layout",
			in:   "Name:\tssehub\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1245184 kB\nVmRSS:\t   10240 kB\nRssAnon:\t    4096 kB\n",
			want: 10240 << 10,
		},
		{name: "single space", in: "VmRSS: 1 kB\n", want: 1024},
		{name: "no trailing newline", in: "VmHWM:\t 99 kB\nVmRSS:\t 8 kB", want: 8 << 10},
		{name: "zero", in: "VmRSS:\t       0 kB\n", want: 0},
		{name: "large", in: "VmRSS:\t25165824 kB\n", want: 24 << 30},
		{name: "VmRSS must start the line", in: "XVmRSS:\t 5 kB\n", wantErr: true},
		{name: "zombie has no VmRSS", in: "Name:\tssehub\nState:\tZ (zombie)\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "other unit", in: "VmRSS:\t 5 MB\n", wantErr: true},
		{name: "no unit", in: "VmRSS:\t 5\n", wantErr: true},
		{name: "not a number", in: "VmRSS:\t five kB\n", wantErr: true},
		{name: "negative", in: "VmRSS:\t -5 kB\n", wantErr: true},
	})
}

func TestGeneratorRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	if rss, err := GeneratorRSS(); err != nil || rss <= 0 {
		t.Errorf("GeneratorRSS() = %d, %v; want > 0", rss, err)
	}
}

func TestParseListenAddr(t *testing.T) {
	tests := []struct {
		line   string
		want   string
		wantOK bool
	}{
		{`time=2025-01-01T00:00:00.000Z level=INFO msg="ssehub listening" addr=127.0.0.1:41234 broker=memory shards=4`, "127.0.0.1:41234", true},
		{`time=2025-01-01T00:00:00.000Z level=INFO msg="ssehub listening" addr=[::1]:80`, "[::1]:80", true},
		{`{"time":"2025-01-01T00:00:00Z","level":"INFO","msg":"ssehub listening","addr":"127.0.0.1:5000","shards":4}`, "127.0.0.1:5000", true},
		{`time=2025-01-01T00:00:00.000Z level=INFO msg="ssehub stopped" addr=127.0.0.1:1`, "", false},
		{`{"msg":"ssehub stopped","addr":"127.0.0.1:1"}`, "", false},
		{`time=2025-01-01T00:00:00.000Z level=INFO msg="ssehub listening"`, "", false},
		{`{"msg":"ssehub listening"`, "", false},
		{`gc 1 @0.003s 2%: 0.010+0.20+0.003 ms clock`, "", false},
	}
	for _, tt := range tests {
		got, ok := parseListenAddr(tt.line)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseListenAddr(%q) = %q, %t; want %q, %t", tt.line, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestReadPreamble(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
	tests := []struct {
		name    string
		stream  string
		wantErr string // substring; empty means success
	}{
		{name: "ssehub preamble", stream: head + "retry: 3000\n: ssehub\n\n"},
		{name: "comment first", stream: head + ": hi\nretry: 10\n"},
		{name: "CRLF lines", stream: head + "retry: 3000\r\n: ssehub\r\n"},
		{name: "content type with parameter", stream: "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n\r\nretry: 1\n:\n"},
		{name: "error status", stream: "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{}", wantErr: `"HTTP/1.1 400 Bad Request"`},
		{name: "wrong content type", stream: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nretry: 1\n:\n", wantErr: "text/plain"},
		{name: "no content type", stream: "HTTP/1.1 200 OK\r\n\r\nretry: 1\n:\n", wantErr: "no Content-Type"},
		{name: "no comment before EOF", stream: head + "retry: 3000\n", wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "retry not digits", stream: head + "retry: 3s\n: ssehub\n", wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "head cut short", stream: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "endless head", stream: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: 0123456789\r\n", 300), wantErr: "head over"},
	}
	for _, tt := range tests {
		// Whole, and one byte per read: a CRLF or the blank line may be
		// split across reads.
		readers := map[string]func() io.Reader{
			"whole":    func() io.Reader { return strings.NewReader(tt.stream) },
			"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tt.stream)) },
		}
		for how, r := range readers {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				err := readPreamble(r())
				if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
					t.Errorf("readPreamble(%q) = %v; want error containing %q", tt.stream, err, tt.wantErr)
				}
			})
		}
	}
}

func TestParseSources(t *testing.T) {
	if got, err := parseSources(nil); err != nil || len(got) != 1 || got[0] != nil {
		t.Errorf("parseSources(nil) = %v, %v; want [nil]", got, err)
	}
	got, err := parseSources([]string{"127.0.0.2", "127.0.0.3"})
	if err != nil || len(got) != 2 || got[1].IP.String() != "127.0.0.3" || got[1].Port != 0 {
		t.Errorf("parseSources(127.0.0.2, 127.0.0.3) = %v, %v; want two addresses, port 0", got, err)
	}
	if _, err := parseSources([]string{"127.0.0.2:80"}); err == nil {
		t.Errorf("parseSources(127.0.0.2:80) = nil error; want an error")
	}
}

// The idle scenario end to end on a small scale: a real hub built from
// this tree, 200 streams from two source addresses, the figures computed,
// and a hub shutdown noticed by every stream's drain.
func TestIdleSmall(t *testing.T) {
	ctx := startE2E(t, "builds and runs the hub")
	log := &syncWriter{w: new(strings.Builder)}
	hub := startHubs(ctx, t, 1, log, "--shards", "2")[0]

	if rss, err := hub.RSS(); err != nil || rss <= 0 {
		t.Fatalf("hub.RSS() = %d, %v; want > 0", rss, err)
	}
	const n = 200
	res, err := RunIdle(ctx, hub, IdleConfig{
		Streams:          n,
		Topics:           TopicsUnique,
		Sources:          []string{"127.0.0.2", "127.0.0.3"},
		Warmup:           100 * time.Millisecond,
		BaselineSamples:  3,
		BaselineInterval: 50 * time.Millisecond,
		Settle:           200 * time.Millisecond,
		LoadedSamples:    3,
		LoadedInterval:   50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("RunIdle: %v", err)
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("idle, %d streams:\n%s", n, table.String())
	if !res.AllConnected() || res.OpenError != "" {
		t.Errorf("connected %d of %d (%s); want all", res.Connected, res.Streams, res.OpenError)
	}
	if res.HubSockets < n+1 {
		t.Errorf("hub sockets with %d streams open = %d, want at least %d", n, res.HubSockets, n+1)
	}
	if res.BaselineRSS <= 0 || res.LoadedRSS <= 0 || res.GeneratorRSS <= 0 {
		t.Errorf("RSS baseline %d, loaded %d, generator %d; want all > 0", res.BaselineRSS, res.LoadedRSS, res.GeneratorRSS)
	}
	if want := (res.LoadedRSS - res.BaselineRSS) / n; res.RSSPerStream != want {
		t.Errorf("RSSPerStream = %d, want (%d - %d) / %d = %d", res.RSSPerStream, res.LoadedRSS, res.BaselineRSS, n, want)
	}
	if res.ConnectTime <= 0 || res.ConnectRate <= 0 {
		t.Errorf("connect time %v, rate %.0f/s; want both > 0", res.ConnectTime, res.ConnectRate)
	}

	// The hub ends every stream when it stops: each drain must notice.
	streams, err := OpenStreams(ctx, hub.Addr, 20, SharedTopic("news"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer streams.Close()
	if err := hub.Stop(ctx); err != nil {
		t.Errorf("hub.Stop: %v", err)
	}
	for streams.Live() > 0 {
		if ctx.Err() != nil {
			t.Fatalf("after the hub stopped, %d of 20 streams still look open", streams.Live())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if streams.BytesDrained() != 0 {
		t.Errorf("BytesDrained() = %d after an idle run shorter than a heartbeat, want 0", streams.BytesDrained())
	}
	if _, err := hub.RSS(); err == nil {
		t.Errorf("hub.RSS() after Stop = nil error, want one")
	}
	if t.Failed() {
		t.Logf("hub log:\n%s", log.String())
	}
}
