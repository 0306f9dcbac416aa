package frontdoor

import (
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

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
		err := ValidateOrigin(tt.origin)
		switch {
		case tt.msg == "" && err != nil:
			t.Errorf("ValidateOrigin(%q) = %v, want nil", tt.origin, err)
		case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
			t.Errorf("ValidateOrigin(%q) = %v, want an error containing %q", tt.origin, err, tt.msg)
		}
	}
}

func TestCORSHeaders(t *testing.T) {
	native := NewCORS([]string{"https://app.example.com/", "*"}, CORSOptions{})
	exposing := NewCORS([]string{"https://app.example.com"}, CORSOptions{ExposeHeaders: []string{"Mercure-Last-Event-ID", "Last-Event-ID"}})
	for _, tt := range []struct {
		name   string
		policy *CORS
		origin string
		want   [][2]string
	}{
		{"listed origin, with credentials", native, "https://app.example.com",
			[][2]string{{"Access-Control-Allow-Origin", "https://app.example.com"}, {"Access-Control-Allow-Credentials", "true"}, {"Vary", "Origin"}}},
		{"any origin, without credentials", native, "https://other.example.com",
			[][2]string{{"Access-Control-Allow-Origin", "*"}}},
		{"same origin", native, "", nil},
		{"exposed headers", exposing, "https://app.example.com",
			[][2]string{{"Access-Control-Allow-Origin", "https://app.example.com"}, {"Access-Control-Allow-Credentials", "true"}, {"Vary", "Origin"},
				{"Access-Control-Expose-Headers", "Mercure-Last-Event-ID, Last-Event-ID"}}},
		{"origin not allowed", exposing, "https://other.example.com", nil},
		{"no policy", nil, "https://app.example.com", nil},
	} {
		if got := tt.policy.Headers(tt.origin); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Headers(%q) = %q, want %q", tt.name, tt.origin, got, tt.want)
		}
	}
}

func TestCORSPreflight(t *testing.T) {
	preflight := func(p *CORS, origin string) (*fasthttp.RequestCtx, bool, bool) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodOptions)
		ctx.Request.Header.Set("Origin", origin)
		done, allowed := p.Apply(&ctx)
		return &ctx, done, allowed
	}
	ctx, done, allowed := preflight(NewCORS([]string{"https://app.example.com"}, CORSOptions{}), "https://app.example.com")
	if !done || !allowed || ctx.Response.StatusCode() != fasthttp.StatusNoContent {
		t.Errorf("allowed preflight: done %v, allowed %v, status %d; want done, allowed, 204", done, allowed, ctx.Response.StatusCode())
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Methods": DefaultAllowMethods, "Access-Control-Allow-Headers": DefaultAllowHeaders,
		"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Max-Age": "600",
	} {
		if got := string(ctx.Response.Header.Peek(k)); got != want {
			t.Errorf("allowed preflight: %s = %q, want %q", k, got, want)
		}
	}
	ctx, _, _ = preflight(NewCORS([]string{"*"}, CORSOptions{AllowMethods: "GET, OPTIONS", AllowHeaders: "Authorization"}), "https://app.example.com")
	if m, h := string(ctx.Response.Header.Peek("Access-Control-Allow-Methods")), string(ctx.Response.Header.Peek("Access-Control-Allow-Headers")); m != "GET, OPTIONS" || h != "Authorization" {
		t.Errorf("preflight with options: methods %q, headers %q; want the options'", m, h)
	}
	ctx, done, allowed = preflight(NewCORS([]string{"https://app.example.com"}, CORSOptions{}), "https://evil.example.com")
	if !done || allowed || ctx.Response.Header.Peek("Access-Control-Allow-Origin") != nil {
		t.Errorf("preflight from another origin: done %v, allowed %v, Access-Control-Allow-Origin %q; want done, refused, none",
			done, allowed, ctx.Response.Header.Peek("Access-Control-Allow-Origin"))
	}
	var get fasthttp.RequestCtx
	get.Request.Header.Set("Origin", "https://app.example.com")
	if done, allowed := NewCORS([]string{"https://app.example.com"}, CORSOptions{}).Apply(&get); done || !allowed {
		t.Errorf("GET from an allowed origin: done %v, allowed %v; want not done, allowed", done, allowed)
	}
}
