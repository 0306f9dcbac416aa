package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/testenv"
)

// The browser tests drive a real headless Chromium (Debian's chromium
// package, installed by .ci/deps) against the real ssehub binary: the
// browser's own EventSource, cookies and CORS checks, not a model of them.

// chromiumInstall installs the browser on Debian and Ubuntu.
const chromiumInstall = "apt-get install -y chromium"

const (
	browserTimeout = 90 * time.Second       // one browser, from start to close
	pageTimeout    = 10 * time.Second       // any single wait on a page
	pagePoll       = 20 * time.Millisecond  // between evaluations of a wait
	closeTimeout   = 10 * time.Second       // a graceful browser close
	retryFast      = 300 * time.Millisecond // --retry for tests that watch reconnects
)

// newBrowser starts a headless Chromium with a fresh profile and returns a
// chromedp context on its first tab. The browser is closed when the test
// ends, and killed if it is still running after browserTimeout.
func newBrowser(t *testing.T, width, height int, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.Require(t, chromiumInstall, "chromium", "chromium-browser")),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Background tabs and hidden pages must not slow timers down: the
		// tests time EventSource reconnects.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}, flags...)
	// The deadline is the browser's whole life: a hung test ends with it.
	life, cancelLife := context.WithTimeout(context.Background(), browserTimeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, closeTimeout)
		defer ccancel()
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelAlloc() // waits for the process to exit
		cancelLife()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser and opens the tab
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// newTab opens another tab in the browser of ctx (from newBrowser), closed
// when the test ends.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The first run opens the tab, with ctx itself: a run's own deadline
	// would close the tab when it passed.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// tab is one browser tab in a test.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// do runs actions on the tab, failing the test on an error.
func (b tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression on the tab and returns its value.
func eval[T any](b tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until the JavaScript expression cond is truthy; on a
// timeout it fails the test with the value of the expression report.
func (b tab) waitFor(what, cond, report string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+cond+")",
		chromedp.WithPollingInterval(pagePoll), chromedp.WithPollingTimeout(pageTimeout)))
	if err == nil {
		return
	}
	if errors.Is(err, chromedp.ErrPollingTimeout) {
		b.t.Fatalf("%s: not within %v; page: %s", what, pageTimeout, eval[string](b, report))
	}
	b.t.Fatalf("%s: %v", what, err)
}

// fill sets fields of the form with the id form, by name.
func (b tab) fill(form string, fields map[string]string) {
	b.t.Helper()
	values, _ := json.Marshal(fields)
	b.do("fill form "+form, chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.getElementById(`+jsString(form)+`);
		for (const [name, value] of Object.entries(`+string(values)+`)) f.elements[name].value = value;
	})()`))
}

// jsString quotes s as a JavaScript string literal (JSON's is one).
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// streamRequest is one GET /events request of a tab, as the browser
// reports it.
type streamRequest struct {
	sent        bool   // it went out on a connection
	lastEventID string // its Last-Event-ID header, as sent
	status      int64  // the response status the page could read; 0 for none
	corsError   string // why the browser blocked the response, if it did
}

// streamRequests records the GET /events requests of a tab.
type streamRequests struct {
	mu       sync.Mutex
	order    []network.RequestID // requests for /events, in the order made
	requests map[network.RequestID]*streamRequest
}

// recordStreams starts recording the tab's GET /events requests.
func recordStreams(t *testing.T, ctx context.Context) *streamRequests {
	t.Helper()
	r := &streamRequests{requests: map[network.RequestID]*streamRequest{}}
	at := func(id network.RequestID) *streamRequest {
		if r.requests[id] == nil {
			r.requests[id] = &streamRequest{}
		}
		return r.requests[id]
	}
	// The browser reports a request in several events, in no set order:
	// every request is noted, and those for /events listed.
	err := chromedp.Listen(ctx, func(ev any) {
		r.mu.Lock()
		defer r.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if u, err := url.Parse(e.Request.URL); err == nil && u.Path == "/events" {
				at(e.RequestID)
				r.order = append(r.order, e.RequestID)
			}
		case *network.EventRequestWillBeSentExtraInfo:
			req := at(e.RequestID)
			req.sent = true
			for k, v := range e.Headers {
				if strings.EqualFold(k, "Last-Event-ID") {
					req.lastEventID, _ = v.(string)
				}
			}
		case *network.EventResponseReceived:
			at(e.RequestID).status = e.Response.Status
		case *network.EventLoadingFailed:
			if e.CorsErrorStatus != nil {
				at(e.RequestID).corsError = string(e.CorsErrorStatus.CorsError)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// get returns the GET /events requests so far, in order.
func (r *streamRequests) get() []streamRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]streamRequest, len(r.order))
	for i, id := range r.order {
		out[i] = *r.requests[id]
	}
	return out
}

// hostRules maps host names onto the loopback address inside the browser,
// so that one machine can play several sites without DNS.
func hostRules(domain string) chromedp.ExecAllocatorOption {
	return chromedp.Flag("host-resolver-rules", fmt.Sprintf("MAP *.%s 127.0.0.1", strings.TrimPrefix(domain, ".")))
}
