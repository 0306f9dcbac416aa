package httpapi

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
)

// corsPolicy says which browser origins may call the hub cross-origin.
type corsPolicy struct {
	anyOrigin bool            // "*": any origin, without credentials
	origins   map[string]bool // exact origins, with credentials (cookies)
}

// ValidateOrigin reports whether o can be an entry of Config.CORSOrigins:
// "*", or an origin as browsers send it, scheme://host[:port] with http or
// https and nothing after (a trailing "/" is allowed). Anything else could
// never match a browser's Origin header.
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

func newCORSPolicy(origins []string) corsPolicy {
	p := corsPolicy{origins: make(map[string]bool)}
	for _, o := range origins {
		if o == "*" {
			p.anyOrigin = true
		} else {
			p.origins[strings.TrimSuffix(o, "/")] = true
		}
	}
	return p
}

// headers returns the CORS response headers for a request from origin, or
// nil when it is not allowed (the browser then blocks the response).
// Listed origins get credentials, so EventSource's withCredentials sends
// the ssehub_token cookie; "*" may not carry credentials (Fetch standard).
func (p corsPolicy) headers(origin string) [][2]string {
	switch {
	case origin == "":
		return nil
	case p.origins[origin]:
		return [][2]string{{"Access-Control-Allow-Origin", origin}, {"Access-Control-Allow-Credentials", "true"}, {"Vary", "Origin"}}
	case p.anyOrigin:
		return [][2]string{{"Access-Control-Allow-Origin", "*"}}
	}
	return nil
}

// applyCORS sets the CORS headers for ctx's origin, and answers a preflight
// itself. It reports whether the request is done.
func (s *Server) applyCORS(ctx *fasthttp.RequestCtx) (done bool) {
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" {
		return false // not a cross-origin request
	}
	h := s.cors.headers(origin)
	for _, kv := range h {
		ctx.Response.Header.Set(kv[0], kv[1])
	}
	if string(ctx.Method()) != fasthttp.MethodOptions {
		return false
	}
	if h == nil {
		writeError(ctx, &APIError{Status: fasthttp.StatusForbidden, Code: CodeOriginNotAllowed, Message: "this origin may not call the hub; see --cors-origins"})
		return true
	}
	ctx.Response.Header.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	ctx.Response.Header.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Cache-Control")
	ctx.Response.Header.Set("Access-Control-Max-Age", "600")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return true
}

// streamHeadFor returns the stream's response head and preamble, with the
// CORS headers for origin when it is allowed.
func (s *Server) streamHeadFor(origin string) []byte {
	h := s.cors.headers(origin)
	if h == nil {
		return s.head
	}
	head := make([]byte, 0, len(s.head)+128)
	head = append(head, streamHead[:len(streamHead)-2]...) // without the blank line
	for _, kv := range h {
		head = append(head, kv[0]...)
		head = append(head, ": "...)
		head = append(head, kv[1]...)
		head = append(head, "\r\n"...)
	}
	return append(head, s.head[len(streamHead)-2:]...)
}
