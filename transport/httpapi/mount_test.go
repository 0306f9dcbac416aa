package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/shard"
	"github.com/ssehub/ssehub/transport/frontdoor"
	"github.com/ssehub/ssehub/transport/httpapi"
	"github.com/ssehub/ssehub/transport/sse"
)

// mountTestDoor mounts at /door a front door of its own, as the Mercure
// door will be: its own CORS policy, which exposes a header of its stream
// heads, and streams opened through the server's Door with that header.
// GET /door?topic=T opens a stream; other paths under /door are its 404.
func mountTestDoor(th *testHub, origins []string) {
	door := th.server.Door()
	cors := frontdoor.NewCORS(origins, frontdoor.CORSOptions{AllowMethods: "GET, OPTIONS", ExposeHeaders: []string{"Door-Last-Event-ID"}})
	th.server.Mount("/door", func(ctx *fasthttp.RequestCtx) {
		if done, allowed := cors.Apply(ctx); done {
			if !allowed {
				ctx.Error("origin not allowed\n", fasthttp.StatusForbidden)
			}
			return
		}
		if string(ctx.Path()) != "/door" {
			ctx.Error("the test door's 404\n", fasthttp.StatusNotFound)
			return
		}
		_, span := door.StartSpan(ctx, "/door")
		door.Stream(ctx, span, hub.StreamRequest{Stream: shard.Stream{
			Selection: broker.Selection{Topics: []string{string(ctx.QueryArgs().Peek("topic"))}},
		}}, cors, [][2]string{{"Door-Last-Event-ID", string(ctx.QueryArgs().Peek("last"))}})
	})
}

// openAt opens a stream at path (with its query) with extra header lines,
// and returns it once its head has arrived.
func openAt(t *testing.T, th *testHub, path string, headers ...string) *stream {
	t.Helper()
	conn := sendRaw(t, th, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: ssehub\r\nAccept: text/event-stream\r\n%s\r\n",
		path, strings.Join(append(headers, ""), "\r\n")))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return &stream{t: t, conn: conn, resp: resp, r: sse.NewReader(resp.Body)}
}

// A front door mounted on the server answers its paths whole and opens
// streams through the server's Door, with its own CORS policy and header
// lines; the native API's paths, heads and CORS answers stay as they were,
// and the stream limits count both doors' streams together.
func TestMountedDoor(t *testing.T) {
	const origin = "https://app.example.com"
	th := startHub(t, hubOptions{server: httpapi.Config{CORSOrigins: []string{origin}, MaxStreamsPerIP: 2, Retry: time.Second}})
	mountTestDoor(th, []string{origin})

	mounted := openAt(t, th, "/door?topic=news&last=%231-0%0D%0AX-Injected:%201", "Origin: "+origin)
	native := th.subscribe(t, "topic=news", "Origin: "+origin)
	for k, want := range map[string]string{
		"Content-Type":                  "text/event-stream",
		"Access-Control-Allow-Origin":   origin,
		"Door-Last-Event-ID":            "#1-0  X-Injected: 1",
		"Access-Control-Expose-Headers": "Door-Last-Event-ID",
		"X-Injected":                    "",
	} {
		if got := mounted.resp.Header.Get(k); got != want {
			t.Errorf("mounted door's stream: %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"Door-Last-Event-ID", "Access-Control-Expose-Headers"} {
		if got := native.resp.Header.Get(k); got != "" {
			t.Errorf("native stream: %s = %q, want none", k, got)
		}
	}
	th.publish(t, `{"topic":"news","data":"x"}`)
	mounted.expectData("x")
	native.expectData("x")
	if ms, ok := mounted.r.Retry(); !ok || ms != 1000 {
		t.Errorf("mounted door's stream: retry = %d, %v; want the server's 1000", ms, ok)
	}
	expectRefusedStream(t, openAt(t, th, "/door?topic=news"), 10000) // the third stream of this address
	expectRefusedStream(t, th.subscribe(t, "topic=news"), 10000)

	for _, tt := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, "/door/elsewhere", http.StatusNotFound, "the test door's 404\n"},
		{http.MethodOptions, "/door", http.StatusNoContent, ""},
		{http.MethodGet, "/doorway", http.StatusNotFound, `"code":"not_found"`},
		{http.MethodOptions, "/publish", http.StatusNoContent, ""},
	} {
		req, _ := http.NewRequest(tt.method, th.url+tt.path, nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
			t.Errorf("%s %s = %d %q, want %d with %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
		if tt.method == http.MethodOptions {
			want := frontdoor.DefaultAllowMethods
			if tt.path == "/door" {
				want = "GET, OPTIONS"
			}
			if got := resp.Header.Get("Access-Control-Allow-Methods"); got != want {
				t.Errorf("%s %s: Access-Control-Allow-Methods = %q, want %q", tt.method, tt.path, got, want)
			}
		}
	}
}

// A request to a mounted door that fasthttp refuses before any handler
// (a body over the limit) gets the native status, as text for the door
// and as the native JSON elsewhere.
func TestMountedDoorEarlyErrors(t *testing.T) {
	th := startHub(t, hubOptions{server: httpapi.Config{MaxBodyBytes: 1024}})
	mountTestDoor(th, nil)
	for _, tt := range []struct {
		path, contentType, body string
	}{
		{"/door", "text/plain; charset=utf-8", "request body exceeds the limit of 1024 bytes\n"},
		{"/publish", "application/json", `"code":"too_large"`},
	} {
		resp, err := http.Post(th.url+tt.path, "application/x-www-form-urlencoded", strings.NewReader(strings.Repeat("x", 4096)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != tt.contentType || !strings.Contains(string(body), tt.body) {
			t.Errorf("POST %s, 4 KiB = %d %s %q; want 413 %s with %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.contentType, tt.body)
		}
	}
}

func TestMountRefusesPathsThatAreServed(t *testing.T) {
	th := startHub(t, hubOptions{})
	mountTestDoor(th, nil)
	for _, prefix := range []string{"", "door", "/", "/door/", "/door", "/door/sub", "/events", "/demo", "/demo/app.js", "/metrics"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Mount(%q) did not panic, want a refusal", prefix)
				}
			}()
			th.server.Mount(prefix, func(*fasthttp.RequestCtx) {})
		}()
	}
	th.server.Mount("/.well-known/mercure", func(*fasthttp.RequestCtx) {}) // beside /door
	// Served, so that the server is surely serving when the test ends and
	// shuts it down.
	waitStatus(t, th.url+"/healthz", http.StatusOK)
}
