package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/internal/redistest"
)

// mercurePage subscribes with EventSource as Mercure's docs show, from
// another origin than the hub's, and lists what arrives.
const mercurePage = `<!doctype html>
<meta charset="utf-8">
<title>mercure app</title>
<ol id="events"></ol>
<script>
let source;
function subscribe(hubURL, query, withCredentials) {
  const url = new URL(hubURL);
  for (const [k, v] of query) url.searchParams.append(k, v);
  document.body.dataset.state = 'connecting';
  source = new EventSource(url, { withCredentials });
  source.onopen = () => { document.body.dataset.state = 'open'; };
  source.onerror = () => { document.body.dataset.state = source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'; };
  source.onmessage = (e) => {
    const li = document.createElement('li');
    li.dataset.id = e.lastEventId;
    li.textContent = e.data;
    document.getElementById('events').append(li);
  };
}
function unsubscribe() { source.close(); document.body.dataset.state = 'closed'; }
</script>
`

// TestMercureBrowser: a page on another origin than a two-hub Redis fleet
// subscribes with EventSource, one with the mercureAuthorization cookie to
// a topic and a URI template, another with a query token to a URL pattern.
// A private update reaches only the page whose token's subscribe selectors
// match it; the first page closes its stream while updates go on and
// reconnects through the other hub from the last id it saw (lastEventID in
// the query, as Mercure's docs show for a new EventSource), and gets the
// rest, nothing lost or repeated.
func TestMercureBrowser(t *testing.T) {
	site := newApp(t)
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	hubs := startFleet(t, client, 2, "--redis-url", srv.URL(), "--mercure", "--mercure-publisher-jwt-secret", mercureSecret,
		"--cors-origins", site.origin("app"))
	reader := mercureToken(t, map[string]any{"subscribe": []string{"https://example.com/books/{id}", "https://example.com/news"}})
	stranger := mercureToken(t, map[string]any{"subscribe": []string{"https://example.com/other"}})
	publisher := mercureToken(t, map[string]any{"publish": []string{"*"}})
	hubURL := func(i int) string {
		_, port, _ := net.SplitHostPort(hubs[i].addr)
		return "http://hub" + strconv.Itoa(i) + "." + siteDomain + ":" + port + "/.well-known/mercure"
	}
	site.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("login") == "1" {
			// What the app's login does: the token for the whole site.
			http.SetCookie(w, &http.Cookie{Name: "mercureAuthorization", Value: reader, Domain: siteDomain, Path: "/",
				HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(mercurePage))
	})
	site.srv.Start()
	t.Cleanup(site.srv.Close)
	browser := newBrowser(t, 800, 600, hostRules(siteDomain))

	open := func(page, call string) tab {
		t.Helper()
		// A tab in a browser context of its own: its own cookies. The
		// first run opens it, with ctx itself: a run's own deadline would
		// close the tab when it passed.
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx); err != nil {
			t.Fatalf("open a tab: %v", err)
		}
		p := tab{t: t, ctx: ctx}
		p.do("open the app page", chromedp.Navigate(page), chromedp.Evaluate[chromedp.Void](call))
		p.waitFor("the stream to open", `document.body.dataset.state === 'open'`, `document.body.dataset.state`)
		return p
	}
	query := func(pairs ...string) string {
		var q [][2]string
		for i := 0; i < len(pairs); i += 2 {
			q = append(q, [2]string{pairs[i], pairs[i+1]})
		}
		b, _ := json.Marshal(q)
		return string(b)
	}
	cookiePage := open(site.origin("app")+"/?login=1", `subscribe(`+jsString(hubURL(0))+`, `+
		query("topic", "https://example.com/books/{id}", "topic", "https://example.com/news")+`, true)`)
	queryPage := open(site.origin("app")+"/", `subscribe(`+jsString(hubURL(0))+`, `+
		query("match_urlpattern", "https://example.com/books/:id", "authorization", stranger)+`, false)`)

	publish := func(hub int, topic, id string, private bool) {
		t.Helper()
		form := url.Values{"topic": {topic}, "data": {id}, "id": {id}}
		if private {
			form.Set("private", "on")
		}
		if status, body := mercurePublish(t, client, hubs[hub].addr, publisher, form); status != 200 {
			t.Fatalf("publish %s: %d %q", id, status, body)
		}
	}
	received := func(p tab, n int) []string {
		t.Helper()
		p.waitFor("the updates on the page", `document.querySelectorAll('#events li').length >= `+strconv.Itoa(n), `document.body.innerHTML`)
		return eval[[]string](p, `[...document.querySelectorAll('#events li')].map((li) => li.dataset.id + ' ' + li.textContent)`)
	}
	publish(1, "https://example.com/books/1", "urn:1", false)
	publish(1, "https://example.com/books/2", "urn:2", true)
	publish(0, "https://example.com/news", "urn:3", false)
	publish(1, "https://example.com/books/9", "urn:marker", false)
	if diff := cmp.Diff([]string{"urn:1 urn:1", "urn:2 urn:2", "urn:3 urn:3", "urn:marker urn:marker"}, received(cookiePage, 4)); diff != "" {
		t.Errorf("the page with the cookie (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"urn:1 urn:1", "urn:marker urn:marker"}, received(queryPage, 2)); diff != "" {
		t.Errorf("the page with a token granting nothing here: public updates only (-want +got):\n%s", diff)
	}

	cookiePage.do("close the stream", chromedp.Evaluate[chromedp.Void](`unsubscribe()`))
	publish(1, "https://example.com/books/3", "urn:4", false)
	publish(0, "https://example.com/books/4", "urn:5", true)
	cookiePage.do("reconnect through the other hub", chromedp.Evaluate[chromedp.Void](`subscribe(`+jsString(hubURL(1))+`, `+
		query("topic", "https://example.com/books/{id}", "topic", "https://example.com/news", "lastEventID", "urn:marker")+`, true)`))
	cookiePage.waitFor("the stream to open again", `document.body.dataset.state === 'open'`, `document.body.dataset.state`)
	want := []string{"urn:1 urn:1", "urn:2 urn:2", "urn:3 urn:3", "urn:marker urn:marker", "urn:4 urn:4", "urn:5 urn:5"}
	if diff := cmp.Diff(want, received(cookiePage, len(want))); diff != "" {
		t.Errorf("the page with the cookie, after reconnecting through the other hub (-want +got):\n%s", diff)
	}
	// Nothing more comes: the resumed stream repeated nothing.
	publish(1, "https://example.com/news", "urn:6", false)
	if got := received(cookiePage, len(want)+1); len(got) != len(want)+1 || got[len(want)] != "urn:6 urn:6" {
		t.Errorf("after the resume, the page has %q; want it to end with urn:6 alone", got)
	}
}
