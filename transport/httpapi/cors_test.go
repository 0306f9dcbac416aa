package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/transport/httpapi"
)

func TestCORS(t *testing.T) {
	th := startHub(t, hubOptions{server: httpapi.Config{CORSOrigins: []string{"https://app.example.com"}}})

	allowed := th.subscribe(t, "topic=news", "Origin: https://app.example.com")
	if got := allowed.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("stream for an allowed origin: Access-Control-Allow-Origin = %q, want the origin", got)
	}
	if got := allowed.resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("stream for an allowed origin: Access-Control-Allow-Credentials = %q, want true (cookie auth)", got)
	}
	th.publish(t, `{"topic":"news","data":"x"}`)
	allowed.expectData("x") // the head with CORS lines is still a valid stream

	other := th.subscribe(t, "topic=news", "Origin: https://evil.example.com")
	if got := other.resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("stream for another origin: Access-Control-Allow-Origin = %q, want none", got)
	}

	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://app.example.com", http.StatusNoContent},
		{"https://evil.example.com", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodOptions, th.url+"/publish", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("preflight from %s = %d, want %d", tc.origin, resp.StatusCode, tc.status)
		}
		if tc.status == http.StatusNoContent && !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight allows headers %q, want Authorization among them", resp.Header.Get("Access-Control-Allow-Headers"))
		}
	}
}
