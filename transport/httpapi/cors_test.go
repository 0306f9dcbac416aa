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

func TestValidateOrigin(t *testing.T) {
	for _, tt := range []struct {
		origin string
		msg    string // in the error; "" for valid
	}{
		{"*", ""},
		{"https://app.example.com", ""},
		{"https://app.example.com/", ""},
		{"http://localhost:3000", ""},
		{"app.example.com", `needs a scheme, such as https://app.example.com`},
		{"localhost:3000", "needs a scheme, such as https://localhost:3000"},
		{"HTTPS://app.example.com", "never matches what browsers send: write it https://app.example.com"},
		{"https://App.Example.com", "write it https://app.example.com"},
		{"https://app.example.com:443", "write it https://app.example.com"},
		{"http://app.example.com:80", "write it http://app.example.com"},
		{"https://app.example.com:8443", ""},
		{"http://[::1]:3000", ""},
		{"ftp://app.example.com", "want http:// or https://"},
		{"https://app.example.com/path", "nothing else"},
		{"https://user@app.example.com", "nothing else"},
		{"https://", "nothing else"},
		{"https://app.example.com?x=1", "nothing else"},
	} {
		err := httpapi.ValidateOrigin(tt.origin)
		switch {
		case tt.msg == "" && err != nil:
			t.Errorf("ValidateOrigin(%q) = %v, want nil", tt.origin, err)
		case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
			t.Errorf("ValidateOrigin(%q) = %v, want an error containing %q", tt.origin, err, tt.msg)
		}
	}
}
