package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/transport/auth"
)

// The demo page (transport/demo) in a real browser: live events, the
// publish form, named events, tokens, and a hub restart in fleet mode.

var demoScreenshot = flag.String("demo-screenshot", "", "write the screenshot of TestBrowserDemoResumeAfterHubRestart to this PNG file (make demo-screenshot)")

// pageEvent is one notification as the demo page shows it.
type pageEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Data    string `json:"data"`
	Resumed bool   `json:"resumed"`
	At      int64  `json:"at"` // browser clock at arrival, unix milliseconds
}

// demoEventsJS lists the page's notifications, oldest first.
const demoEventsJS = `[...document.querySelectorAll('#events .event')].reverse().map((li) => ({
	id: li.dataset.id, type: li.dataset.type, data: li.querySelector('.data').textContent,
	resumed: li.dataset.resumed === 'true', at: Number(li.dataset.at)}))`

// demoReportJS is what a failed wait shows of the page.
const demoReportJS = `JSON.stringify({
	state: document.getElementById('state').dataset.state,
	reconnects: document.getElementById('state').dataset.reconnects,
	log: [...document.querySelectorAll('#log li')].reverse().map((li) => li.textContent),
	published: document.getElementById('publish-result').textContent,
	events: ` + demoEventsJS + `})`

// demoPage is the hub's demo page in a tab.
type demoPage struct{ tab }

// openDemo opens the demo page of the hub at addr with query (user, topics,
// events: the page fills its form from them) and waits for its stream.
func openDemo(t *testing.T, ctx context.Context, addr, query string) demoPage {
	t.Helper()
	p := demoPage{tab{t: t, ctx: ctx}}
	p.do("open the demo page", chromedp.Navigate("http://"+addr+"/?"+query))
	p.waitState("open", 0)
	return p
}

// waitState waits until the page shows the connection state and the number
// of reconnects.
func (p demoPage) waitState(state string, reconnects int) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("page state %s after %d reconnects", state, reconnects),
		fmt.Sprintf(`document.getElementById('state').dataset.state === %s && document.getElementById('state').dataset.reconnects === '%d'`,
			jsString(state), reconnects), demoReportJS)
}

func (p demoPage) events() []pageEvent { return eval[[]pageEvent](p.tab, demoEventsJS) }

// waitEvent waits until the page shows the event with id and returns it.
func (p demoPage) waitEvent(id string) pageEvent {
	p.t.Helper()
	p.waitFor("event "+id+" on the page", `document.querySelector(`+jsString(`#events [data-id="`+id+`"]`)+`)`, demoReportJS)
	for _, e := range p.events() {
		if e.ID == id {
			return e
		}
	}
	p.t.Fatalf("event %s vanished from the page", id)
	return pageEvent{}
}

// publishForm publishes data (and an event name) with the page's own form
// and returns the id the page reports.
func (p demoPage) publishForm(topic, event, data string) string {
	p.t.Helper()
	p.fill("publish", map[string]string{"topic": topic, "event": event, "data": data})
	p.do("publish with the form",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('publish-result').textContent = ''`),
		chromedp.Click(chromedp.CSS(`#publish button[type=submit]`)))
	p.waitFor("the form's publish answer", `document.getElementById('publish-result').textContent.startsWith('published ')`, demoReportJS)
	return strings.TrimPrefix(eval[string](p.tab, `document.getElementById('publish-result').textContent`), "published ")
}

// pageIDs returns the ids of the page's events.
func pageIDs(evs []pageEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// publishedIDs returns the ids of published events.
func publishedIDs(evs []published) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.id
	}
	return out
}

// publishJSON posts one JSON publication through the hub at addr and
// returns its id.
func publishJSON(t *testing.T, client *http.Client, addr, token string, body any) string {
	t.Helper()
	raw, _ := json.Marshal(body)
	code, resp := postJSON(t, client, addr, token, string(raw))
	var out struct{ IDs []string }
	if code != http.StatusOK || json.Unmarshal([]byte(resp), &out) != nil || len(out.IDs) != 1 {
		t.Fatalf("POST %s/publish %s = %d %s, want 200 {\"ids\":[ID]}", addr, raw, code, resp)
	}
	return out.IDs[0]
}

// TestBrowserDemoLive: the demo page connects; an event published over
// HTTP is in its DOM within a second; it follows user/<user> and only what
// it subscribed to; its form publishes; it fits a phone's screen.
func TestBrowserDemoLive(t *testing.T) {
	_, addr := startServing(t, nil)
	client := newHTTPClient(t)
	waitReady(t, client, "http://"+addr+"/readyz", pageTimeout)
	p := openDemo(t, newBrowser(t, 1280, 900), addr, "user=alice&topics=news")
	p.waitFor("the Online card to say presence is off", `document.getElementById('presence').dataset.state === 'off'`, presenceReportJS)

	sent := time.Now()
	first := mustPublish(t, client, addr, "news", "hello, browser")
	got := p.waitEvent(first.id)
	lag := time.UnixMilli(got.At).Sub(sent)
	t.Logf("published to in the DOM: %v", lag)
	if lag > time.Second {
		t.Errorf("event %s in the DOM %v after it was published, want within 1s", first.id, lag)
	}
	if want := (pageEvent{ID: first.id, Type: "message", Data: "hello, browser", At: got.At}); got != want {
		t.Errorf("page shows %+v, want %+v", got, want)
	}

	// Not followed, then the private topic: once the second is on the page,
	// the first would have been too (one stream, in order).
	mustPublish(t, client, addr, "sports", "not followed")
	mine := mustPublish(t, client, addr, "user/alice", "for alice")
	p.waitEvent(mine.id)

	formID := p.publishForm("news", "", "typed in the form")
	if e := p.waitEvent(formID); e.Data != "typed in the form" || e.Type != "message" {
		t.Errorf("event published with the form shows as %+v, want a message \"typed in the form\"", e)
	}
	if diff := cmp.Diff([]string{first.id, mine.id, formID}, pageIDs(p.events())); diff != "" {
		t.Errorf("page events mismatch (-want +got):\n%s", diff)
	}

	// A phone: one column, nothing wider than the screen.
	p.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	layout := eval[struct {
		ScrollWidth, Width    int
		EventLeft, EventRight float64
	}](p.tab, `(() => {
		const r = document.querySelector('#events .event').getBoundingClientRect();
		return {ScrollWidth: document.documentElement.scrollWidth, Width: window.innerWidth, EventLeft: r.left, EventRight: r.right};
	})()`)
	if layout.ScrollWidth > layout.Width || layout.EventLeft < 0 || layout.EventRight > float64(layout.Width) {
		t.Errorf("on a 390px screen: page %dpx wide in a %dpx window, a notification spans %.0f-%.0fpx; want all within the window",
			layout.ScrollWidth, layout.Width, layout.EventLeft, layout.EventRight)
	}
}

// TestBrowserDemoNamedEvents: an event named "alert" reaches the page's
// addEventListener('alert', ...) handler; a name nobody listens to reaches
// no handler (not even onmessage), until the page listens for it.
func TestBrowserDemoNamedEvents(t *testing.T) {
	_, addr := startServing(t, nil)
	client := newHTTPClient(t)
	waitReady(t, client, "http://"+addr+"/readyz", pageTimeout)
	p := openDemo(t, newBrowser(t, 1280, 900), addr, "topics=news&events=alert")

	alert := publishJSON(t, client, addr, "", map[string]string{"topic": "news", "event": "alert", "data": "storm warning"})
	if e := p.waitEvent(alert); e.Type != "alert" || e.Data != "storm warning" {
		t.Errorf("alert shows as %+v, want type alert, data \"storm warning\"", e)
	}

	unheard := publishJSON(t, client, addr, "", map[string]string{"topic": "news", "event": "update", "data": "no listener"})
	plain := mustPublish(t, client, addr, "news", "plain")
	p.waitEvent(plain.id)
	// Publishing with the form listens for the form's event name first.
	heard := p.publishForm("news", "update", "now with a listener")
	if e := p.waitEvent(heard); e.Type != "update" {
		t.Errorf("update published with the form shows as %+v, want type update", e)
	}
	if diff := cmp.Diff([]string{alert, plain.id, heard}, pageIDs(p.events())); diff != "" {
		t.Errorf("page events mismatch (-want +got), %s (update, no listener yet) must not show:\n%s", unheard, diff)
	}
}

// TestBrowserDemoToken: with --auth jwt the page says why its stream is
// refused; with a token in its field it subscribes as the token's user and
// publishes with the same token.
func TestBrowserDemoToken(t *testing.T) {
	_, addr := startServing(t, nil, "--auth", "jwt", "--jwt-secret", testJWTSecret)
	token := mintWithCLI(t, "--sub", "alice", "--subscribe", "news", "--publish", "news,user/alice")
	client := newHTTPClient(t)
	waitReady(t, client, "http://"+addr+"/readyz", pageTimeout)

	p := demoPage{tab{t: t, ctx: newBrowser(t, 1280, 900)}}
	p.do("open the demo page", chromedp.Navigate("http://"+addr+"/?user=alice&topics=news"))
	p.waitState("closed", 0)
	p.waitFor("the reason of the refusal", `[...document.querySelectorAll('#log li')].some((li) => li.textContent.includes('401 `+auth.CodeMissingToken+`'))`, demoReportJS)

	p.fill("subscribe", map[string]string{"token": token})
	p.do("connect with a token", chromedp.Click(chromedp.CSS(`#connect`)))
	p.waitState("open", 0)
	private := publishJSON(t, client, addr, token, map[string]string{"topic": "user/alice", "data": "for alice"})
	p.waitEvent(private)
	formID := p.publishForm("news", "", "signed with the token")
	p.waitEvent(formID)
}

// presenceReportJS is what a failed wait on the Online card shows.
const presenceReportJS = `JSON.stringify({
	state: document.getElementById('presence').dataset.state,
	summary: document.getElementById('presence-summary').textContent,
	users: [...document.querySelectorAll('#presence-users li')].map((li) => li.textContent)})`

// TestBrowserDemoPresence: with --presence the demo page's Online card
// shows who follows its first topic: users by name, the page's own marked,
// anonymous streams counted but not named; a user who disconnects is gone
// from another page within 2 s.
func TestBrowserDemoPresence(t *testing.T) {
	_, addr := startServing(t, nil, "--auth", "jwt", "--jwt-secret", testJWTSecret, "--presence", "--public-topics", "room")
	client := newHTTPClient(t)
	waitReady(t, client, "http://"+addr+"/readyz", pageTimeout)
	// room is public: each page first connects without a token, then signs
	// in with one.
	signIn := func(ctx context.Context, user string) demoPage {
		p := openDemo(t, ctx, addr, "user=&topics=room")
		p.fill("subscribe", map[string]string{"token": mintWithCLI(t, "--sub", user, "--subscribe", "room")})
		p.do("connect as "+user, chromedp.Click(chromedp.CSS(`#connect`)))
		p.waitState("open", 0)
		return p
	}
	alice := signIn(newBrowser(t, 1280, 900), "alice")
	bob := signIn(newTab(t, alice.ctx), "bob")
	openStream(t, addr, "topic=room") // anonymous

	alice.waitFor("alice, bob and an anonymous stream on the Online card", `(() => {
		const s = document.getElementById('presence-summary').dataset;
		const names = [...document.querySelectorAll('#presence-users li')].map((li) => li.dataset.user + ':' + li.dataset.me).sort();
		return s.streams === '3' && s.users === '2' && names.join() === 'alice:true,bob:false';
	})()`, presenceReportJS)
	if s := eval[string](alice.tab, `document.getElementById('presence-summary').textContent`); !strings.Contains(s, "1 anonymous stream") {
		t.Errorf("Online card says %q, want it to count 1 anonymous stream", s)
	}

	bob.do("disconnect bob", chromedp.Click(chromedp.CSS(`#disconnect`)))
	left := time.Now()
	alice.waitFor("bob gone from the Online card", `(() => {
		const s = document.getElementById('presence-summary').dataset;
		return s.users === '1' && !document.querySelector('#presence-users [data-user="bob"]');
	})()`, presenceReportJS)
	t.Logf("bob disconnected to gone from alice's page: %v", time.Since(left))
	if d := time.Since(left); d > 2*time.Second {
		t.Errorf("bob gone from alice's page %v after he disconnected, want within 2s", d)
	}
}

// TestBrowserDemoResumeAfterHubRestart: a fleet of two hubs on Redis; the
// page's hub is killed and restarted on the same address. The browser's own
// EventSource reconnects with Last-Event-ID and shows the events published
// (through the other hub) while it was down, once each, marked as resumed,
// then live events again.
func TestBrowserDemoResumeAfterHubRestart(t *testing.T) {
	srv := redistest.Start(t)
	client := newHTTPClient(t)
	fleet := []string{"--redis-url", srv.URL(), "--retry", retryFast.String()}
	hubs := startFleet(t, client, 2, fleet...)
	pageHub, other := hubs[0], hubs[1]

	ctx := newBrowser(t, 1280, 860)
	streams := recordStreams(t, ctx)
	p := openDemo(t, ctx, pageHub.addr, "user=alice&topics="+url.QueryEscape("news, alerts/*")+"&events=alert")

	before := []published{
		mustPublish(t, client, pageHub.addr, "news", "Maintenance tonight from 22:00 to 22:30 UTC"),
		mustPublish(t, client, other.addr, "user/alice", "Your order #1042 has shipped"),
	}
	p.waitEvent(before[1].id)

	pageHub.kill(t)
	p.waitState("reconnecting", 0)
	missed := []published{
		mustPublish(t, client, other.addr, "news", "Release 2.4.1 is out"),
		mustPublish(t, client, other.addr, "user/alice", "Bob mentioned you in #ops"),
		mustPublish(t, client, other.addr, "news", "Status page: all systems operational"),
	}
	// A reconnect attempt fails while the hub is down; EventSource keeps
	// trying (a refused connection is not an error status).
	p.waitFor("a failed reconnect attempt", `document.getElementById('state-text').textContent.includes('try 2')`, demoReportJS)
	restarted, _ := startServing(t, nil, append([]string{"--listen", pageHub.addr}, fleet...)...)
	pageHub.proc = restarted
	p.waitState("open", 1)
	for _, e := range missed {
		p.waitEvent(e.id)
	}
	alert := publishJSON(t, client, pageHub.addr, "", map[string]string{"topic": "alerts/db", "event": "alert", "data": "Disk usage above 90% on db-2"})
	after := mustPublish(t, client, other.addr, "news", "Welcome back")
	p.waitEvent(after.id)

	got := p.events()
	wantIDs := append(append(publishedIDs(before), publishedIDs(missed)...), alert, after.id)
	if diff := cmp.Diff(wantIDs, pageIDs(got)); diff != "" {
		t.Fatalf("page events across the restart mismatch (-want +got), want each once in order:\n%s", diff)
	}
	for i, e := range got {
		wantResumed := i >= len(before) && i < len(before)+len(missed)
		if e.Resumed != wantResumed {
			t.Errorf("event %s %q resumed = %v, want %v", e.ID, e.Data, e.Resumed, wantResumed)
		}
	}
	if got[len(before)+len(missed)].Type != "alert" {
		t.Errorf("event %s type = %q, want alert", alert, got[len(before)+len(missed)].Type)
	}
	// The first connect has no id; the reconnect that reached the restarted
	// hub sends the last one the page saw. Attempts while the hub was down
	// found no connection to go out on.
	var sent []string
	for _, r := range streams.get() {
		if r.sent {
			sent = append(sent, r.lastEventID)
		}
	}
	if diff := cmp.Diff([]string{"", before[1].id}, sent); diff != "" {
		t.Errorf("Last-Event-ID of the page's GET /events requests that went out (-want +got):\n%s", diff)
	}
	t.Logf("GET /events requests: %d, %d sent", len(streams.get()), len(sent))

	shot := p.screenshot()
	if *demoScreenshot != "" {
		if err := os.WriteFile(*demoScreenshot, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", *demoScreenshot)
	}
}

// screenshot returns a PNG of the whole page, checked to decode, once
// its animations (new notifications fading in) have finished.
func (p demoPage) screenshot() []byte {
	p.t.Helper()
	p.waitFor("animations to finish", `document.getAnimations().every((a) => a.playState === 'finished')`,
		`JSON.stringify(document.getAnimations().map((a) => a.playState))`)
	ctx, cancel := context.WithTimeout(p.ctx, pageTimeout)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 300 {
		p.t.Fatalf("screenshot is %dx%d, want a page", b.Dx(), b.Dy())
	}
	return shot
}
