package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// The cross-origin set-up of production, on one machine: the app's pages on
// app.example.test, the hub on hub.example.test. They are different origins
// but one site, so the app can set the ssehub_token cookie for the whole
// site (Domain=example.test) with the default SameSite=Lax, and the browser
// sends it to the hub with EventSource's withCredentials. (Across sites the
// cookie would need SameSite=None; Secure and third-party cookies, which
// browsers block more and more: use the query token there.) Chromium maps
// *.example.test to 127.0.0.1 itself (--host-resolver-rules).
const siteDomain = "example.test"

// readmeSnippet returns the README's browser snippet, the code block after
// the marker, without its closing call: the test makes the calls.
func readmeSnippet(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- browser snippet: TestBrowserCrossOrigin -->\\s*```js\n(.*?)```")
	m := re.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```js block after <!-- browser snippet: TestBrowserCrossOrigin -->")
	}
	code, found := strings.CutSuffix(string(m[1]), "\nsubscribe();\n")
	if !found || !strings.Contains(code, "'https://hub.example.com'") {
		t.Fatalf("README.md browser snippet: want it to use 'https://hub.example.com' and end with subscribe();, got:\n%s", m[1])
	}
	return code
}

// appPage runs the README's browser snippet, with the functions it leaves
// to the app, and shows what happens in data- attributes.
const appPage = `<!doctype html>
<meta charset="utf-8">
<title>app</title>
<ol id="events"></ol>
<script>
const record = (type, data) => {
  const li = document.createElement('li');
  li.dataset.type = type;
  li.textContent = data;
  document.getElementById('events').append(li);
};
const onNotification = (data) => record('message', data);
const onAlert = (data) => record('alert', data);
const onReset = (reset) => record('ssehub.reset', JSON.stringify(reset));
const renewToken = async () => { record('renew', ''); return null; };
// Every EventSource the snippet makes reports its state on the body.
window.EventSource = class extends EventSource {
  constructor(url, init) {
    super(url, init);
    const show = (state) => { document.body.dataset.state = state; };
    show('connecting');
    this.addEventListener('open', () => show('open'));
    this.addEventListener('error', () => show(this.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  }
};
</script>
<script>
SNIPPET
</script>
`

// app is the app's web server. It serves appPage on every origin that
// reaches it, and with ?login=1 sets the user's token cookie for the whole
// site, as the app's login would.
type app struct {
	srv  *httptest.Server
	port string
}

// newApp listens on a loopback port; start serves once the hub is known.
func newApp(t *testing.T) *app {
	t.Helper()
	a := &app{srv: httptest.NewUnstartedServer(nil)}
	_, a.port, _ = net.SplitHostPort(a.srv.Listener.Addr().String())
	return a
}

// origin returns the app's origin under the name host.example.test.
func (a *app) origin(host string) string { return "http://" + host + "." + siteDomain + ":" + a.port }

func (a *app) start(t *testing.T, page, token string) {
	t.Helper()
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("login") == "1" {
			http.SetCookie(w, &http.Cookie{Name: "ssehub_token", Value: token, Domain: siteDomain, Path: "/",
				HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	a.srv.Start()
	t.Cleanup(a.srv.Close)
}

// TestBrowserCrossOrigin runs the README's browser snippet on the app's
// origin against a hub with --auth jwt and that origin in --cors-origins.
// With the cookie (withCredentials) or a query token it receives events,
// named ones included, and an ssehub.reset on a resume history cannot
// serve; with neither the hub answers 401; from an origin not listed the
// browser blocks the stream although the cookie went along.
func TestBrowserCrossOrigin(t *testing.T) {
	token := mintWithCLI(t, "--sub", "alice", "--subscribe", "news,alerts/*")
	publisher := mintWithCLI(t, "--publish", "*")
	site := newApp(t)
	_, addr := startServing(t, nil, "--auth", "jwt", "--jwt-secret", testJWTSecret, "--cors-origins", site.origin("app"))
	_, hubPort, _ := net.SplitHostPort(addr)
	hubURL, _ := json.Marshal("http://hub." + siteDomain + ":" + hubPort)
	snippet := strings.Replace(readmeSnippet(t), "'https://hub.example.com'", string(hubURL), 1)
	site.start(t, strings.Replace(appPage, "SNIPPET", snippet, 1), token)
	client := newHTTPClient(t)
	waitReady(t, client, "http://"+addr+"/readyz", pageTimeout)
	browser := newBrowser(t, 800, 600, hostRules(siteDomain))

	type received struct{ Type, Data string }
	tests := []struct {
		name       string
		page       string // the app page's URL
		call       string // how the page subscribes
		wantStatus int64  // of the /events response the page could read; 0 for none
		wantCORS   bool   // the browser blocked the response
		want       []received
	}{
		{
			name: "listed origin, cookie", page: site.origin("app") + "/?login=1", call: `subscribe()`, wantStatus: 200,
			want: []received{{"message", "across origins"}, {"alert", "disk full"}},
		},
		{
			name: "listed origin, query token", page: site.origin("app") + "/", call: `subscribe({ token: ` + jsString(token) + ` })`, wantStatus: 200,
			want: []received{{"message", "across origins"}, {"alert", "disk full"}},
		},
		{
			name: "listed origin, cookie, resume from before the hub started", page: site.origin("app") + "/?login=1", call: `subscribe({ lastEventId: '1-0' })`, wantStatus: 200,
			want: []received{{"ssehub.reset", `{"reason":"history_lost","lastEventId":"1-0"}`}, {"message", "across origins"}, {"alert", "disk full"}},
		},
		{name: "listed origin, no credentials", page: site.origin("app") + "/", call: `subscribe()`, wantStatus: 401},
		{name: "other origin, cookie", page: site.origin("other") + "/?login=1", call: `subscribe()`, wantCORS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A tab in a browser context of its own: its own cookies.
			ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
			defer cancel()
			streams := recordStreams(t, ctx)
			page := tab{t: t, ctx: ctx}
			page.do("open the app page", chromedp.Navigate(tt.page), chromedp.Evaluate[chromedp.Void](tt.call))
			page.waitFor("the stream to open or fail", `['open', 'closed'].includes(document.body.dataset.state)`, `document.body.dataset.state`)
			state := eval[string](page, `document.body.dataset.state`)
			if wantOpen := tt.want != nil; (state == "open") != wantOpen {
				t.Fatalf("%s on %s: stream %s, want open: %v", tt.call, tt.page, state, wantOpen)
			}
			if tt.want != nil {
				publishJSON(t, client, addr, publisher, map[string]string{"topic": "news", "data": "across origins"})
				publishJSON(t, client, addr, publisher, map[string]string{"topic": "alerts/db", "event": "alert", "data": "disk full"})
				page.waitFor("the events on the app page", `document.querySelectorAll('#events li').length >= `+strconv.Itoa(len(tt.want)), `document.body.innerHTML`)
				got := eval[[]received](page, `[...document.querySelectorAll('#events li')].map((li) => ({Type: li.dataset.type, Data: li.textContent}))`)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s on %s: events mismatch (-want +got):\n%s", tt.call, tt.page, diff)
				}
			}
			reqs := streams.get()
			if len(reqs) != 1 {
				t.Fatalf("%s on %s: GET /events requests %+v, want one", tt.call, tt.page, reqs)
			}
			if r := reqs[0]; r.status != tt.wantStatus || tt.wantCORS != (r.corsError != "") {
				t.Errorf("%s on %s: GET /events status %d, CORS error %q; want status %d, a CORS error: %v",
					tt.call, tt.page, r.status, r.corsError, tt.wantStatus, tt.wantCORS)
			}
		})
	}
}
