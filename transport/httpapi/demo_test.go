package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/transport/httpapi"
)

// TestDemoPage: with Demo the page and its files are served with a strict
// content security policy; without it / is a text hint and the files are
// not there. The page itself runs in a browser in cmd/ssehub's tests.
func TestDemoPage(t *testing.T) {
	on := startHub(t, hubOptions{server: httpapi.Config{Demo: true}})
	off := startHub(t, hubOptions{})
	tests := []struct {
		name     string
		hub      *testHub
		method   string
		path     string
		status   int
		typ      string
		contains string
		csp      bool
	}{
		{"page", on, http.MethodGet, "/", 200, "text/html; charset=utf-8", `<script src="/demo/app.js" defer>`, true},
		{"script", on, http.MethodGet, "/demo/app.js", 200, "text/javascript; charset=utf-8", "new EventSource(", true},
		{"style", on, http.MethodGet, "/demo/style.css", 200, "text/css; charset=utf-8", "@media", true},
		{"head", on, http.MethodHead, "/", 200, "text/html; charset=utf-8", "", true},
		{"no such file", on, http.MethodGet, "/demo/missing.js", 404, "application/json", jsonCode(httpapi.CodeNotFound), false},
		{"directory", on, http.MethodGet, "/demo/", 404, "application/json", jsonCode(httpapi.CodeNotFound), false},
		{"post", on, http.MethodPost, "/", 405, "application/json", jsonCode(httpapi.CodeMethodNotAllowed), false},
		{"off: text index", off, http.MethodGet, "/", 200, "text/plain; charset=utf-8", "GET /events", false},
		{"off: no files", off, http.MethodGet, "/demo/app.js", 404, "application/json", jsonCode(httpapi.CodeNotFound), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.hub.url+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.typ {
				t.Fatalf("%s %s = %d %q, want %d %q; body %.200s", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.typ, body)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("%s %s body does not contain %q:\n%.300s", tt.method, tt.path, tt.contains, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); tt.csp != strings.Contains(csp, "script-src 'self'") {
				t.Errorf("%s %s Content-Security-Policy = %q, want a policy: %v", tt.method, tt.path, csp, tt.csp)
			}
			if tt.method == http.MethodHead && len(body) != 0 {
				t.Errorf("HEAD %s body = %d bytes, want none", tt.path, len(body))
			}
		})
	}
}

// jsonCode is how code appears in the JSON body of an error.
func jsonCode(code string) string {
	return `"code":"` + code + `"`
}
