package frontdoor

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
)

// Preflight answers, unless CORSOptions says otherwise.
const (
	// DefaultAllowMethods is a preflight's Access-Control-Allow-Methods.
	DefaultAllowMethods = "GET, POST, OPTIONS"
	// DefaultAllowHeaders is a preflight's Access-Control-Allow-Headers.
	DefaultAllowHeaders = "Authorization, Content-Type, Last-Event-ID, Cache-Control"
)

// CORSOptions adapts a [CORS] policy to a front door. Zero fields take
// the defaults.
type CORSOptions struct {
	// AllowMethods is what a preflight answers as
	// Access-Control-Allow-Methods; empty means DefaultAllowMethods.
	AllowMethods string
	// AllowHeaders is what a preflight answers as
	// Access-Control-Allow-Headers; empty means DefaultAllowHeaders.
	AllowHeaders string
	// ExposeHeaders are response headers, beyond the CORS-safelisted ones,
	// that scripts of an allowed origin may read
	// (Access-Control-Expose-Headers), such as a resumed stream's
	// Mercure-Last-Event-ID. Empty exposes none and sends no such header.
	ExposeHeaders []string
}

// CORS says which browser origins may call a front door cross-origin, and
// answers for it. It is read-only once made: safe for concurrent use.
type CORS struct {
	anyOrigin bool            // "*": any origin, without credentials
	origins   map[string]bool // exact origins, with credentials (cookies)
	methods   string
	headers   string
	expose    string // Access-Control-Expose-Headers; "" for none
}

// ValidateOrigin reports whether o can be an entry of the origins of
// [NewCORS]: "*", or an origin as browsers send it, scheme://host[:port]
// with http or https and nothing after (a trailing "/" is allowed).
// Anything else could never match a browser's Origin header.
func ValidateOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	switch {
	case err != nil || !strings.Contains(o, "://"):
		return fmt.Errorf("origin %q needs a scheme, such as https://%s", o, strings.TrimPrefix(o, "//"))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("origin %q: want http:// or https://, got %s://", o, u.Scheme)
	case u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("origin %q: want scheme://host[:port] and nothing else, such as https://app.example.com", o)
	}
	// Browsers send the origin in lower case and without the scheme's
	// default port, and the policy compares it byte for byte.
	host := strings.ToLower(u.Host)
	if port := u.Port(); port == "443" && u.Scheme == "https" || port == "80" && u.Scheme == "http" {
		host = strings.ToLower(u.Hostname())
	}
	if canonical := strings.ToLower(u.Scheme) + "://" + host; canonical != strings.TrimSuffix(o, "/") {
		return fmt.Errorf("origin %q never matches what browsers send: write it %s", o, canonical)
	}
	return nil
}

// NewCORS returns the policy that allows origins (each valid for
// [ValidateOrigin]): listed origins with credentials, any origin without
// them if "*" is among them, none if origins is empty.
func NewCORS(origins []string, opts CORSOptions) *CORS {
	p := &CORS{origins: make(map[string]bool), methods: opts.AllowMethods, headers: opts.AllowHeaders,
		expose: strings.Join(opts.ExposeHeaders, ", ")}
	if p.methods == "" {
		p.methods = DefaultAllowMethods
	}
	if p.headers == "" {
		p.headers = DefaultAllowHeaders
	}
	for _, o := range origins {
		if o == "*" {
			p.anyOrigin = true
		} else {
			p.origins[strings.TrimSuffix(o, "/")] = true
		}
	}
	return p
}

// Headers returns the CORS response headers for a request from origin, or
// nil when it is not allowed (the browser then blocks the response).
// Listed origins get credentials, so EventSource's withCredentials sends
// the ssehub_token cookie; "*" may not carry credentials (Fetch standard).
// A nil *CORS allows no origin.
func (p *CORS) Headers(origin string) [][2]string {
	var h [][2]string
	switch {
	case p == nil || origin == "":
		return nil
	case p.origins[origin]:
		h = [][2]string{{"Access-Control-Allow-Origin", origin}, {"Access-Control-Allow-Credentials", "true"}, {"Vary", "Origin"}}
	case p.anyOrigin:
		h = [][2]string{{"Access-Control-Allow-Origin", "*"}}
	default:
		return nil
	}
	if p.expose != "" {
		h = append(h, [2]string{"Access-Control-Expose-Headers", p.expose})
	}
	return h
}

// Apply sets the CORS headers for ctx's origin, and answers an allowed
// preflight itself (204). It reports whether the request is done, and
// whether its origin is allowed: a preflight from an origin that is not
// is done but unanswered, for the caller to refuse (403) in its own
// dialect. A request without an Origin is not cross-origin: not done, and
// allowed.
func (p *CORS) Apply(ctx *fasthttp.RequestCtx) (done, allowed bool) {
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" {
		return false, true // not a cross-origin request
	}
	h := p.Headers(origin)
	for _, kv := range h {
		ctx.Response.Header.Set(kv[0], kv[1])
	}
	if string(ctx.Method()) != fasthttp.MethodOptions {
		return false, h != nil
	}
	if h == nil {
		return true, false
	}
	ctx.Response.Header.Set("Access-Control-Allow-Methods", p.methods)
	ctx.Response.Header.Set("Access-Control-Allow-Headers", p.headers)
	ctx.Response.Header.Set("Access-Control-Max-Age", "600")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return true, true
}
