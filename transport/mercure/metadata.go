package mercure

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/valyala/fasthttp"
)

// metadataPrefix starts the path of a protected resource's metadata
// (RFC 9728 §3.1): it goes between the resource's host and its path.
const metadataPrefix = "/.well-known/oauth-protected-resource"

// ProtocolVersion is the Mercure revision the door implements, as
// draft-08's metadata member mercure_version says it.
const ProtocolVersion = 8

// resourceMetadata is the door's OAuth 2.0 protected resource metadata
// (RFC 9728; draft-08, "Protected Resource Metadata"): where clients learn
// the resource identifier to put in their tokens' aud, and how they may
// present them.
type resourceMetadata struct {
	path string // where it is served: metadataPrefix and the resource's path
	url  string // its absolute URL, for the challenges' resource_metadata
	doc  []byte // the JSON document
}

// newResourceMetadata returns the metadata of a hub whose resource
// identifier is resource, an absolute http(s) URL, or nil when there is
// none to serve: no resource, or one that is not such a URL (RFC 9728
// derives the metadata's location from it).
func newResourceMetadata(resource string) *resourceMetadata {
	u, err := url.Parse(resource)
	if resource == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil
	}
	m := &resourceMetadata{path: metadataPrefix + u.EscapedPath()}
	m.url = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: metadataPrefix + u.Path, RawPath: metadataPrefix + u.RawPath}).String()
	m.doc, _ = json.Marshal(struct {
		Resource               string   `json:"resource"`
		BearerMethodsSupported []string `json:"bearer_methods_supported"`
		MercureCookie          bool     `json:"mercure_cookie"`
		MercureVersion         int      `json:"mercure_version"`
	}{resource, []string{"header", "query"}, true, ProtocolVersion})
	return m
}

// challenge is the WWW-Authenticate challenge of a request without a
// token: a bare Bearer challenge (draft-08 §6.2: no error code) pointing
// to the metadata when there is some (RFC 9728 §5.1).
func (m *resourceMetadata) challenge() string {
	if m == nil {
		return "Bearer"
	}
	return `Bearer resource_metadata=` + strconv.Quote(m.url)
}

// MetadataPath is where the door's protected resource metadata is served
// (mount HandleMetadata there), or "" when Config.Resource is not an
// absolute http(s) URL and there is none.
func (d *Door) MetadataPath() string {
	if d.metadata == nil {
		return ""
	}
	return d.metadata.path
}

// HandleMetadata answers the requests to MetadataPath: GET (and HEAD) of
// the JSON document, from any origin, as public metadata is.
func (d *Door) HandleMetadata(ctx *fasthttp.RequestCtx) {
	if d.metadata == nil || string(ctx.Path()) != d.metadata.path {
		writeError(ctx, &Error{Status: http.StatusNotFound, Message: "not found"})
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		writeError(ctx, &Error{Status: http.StatusMethodNotAllowed, Message: "use GET"})
		return
	}
	ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
	ctx.Response.Header.Set("Cache-Control", "max-age=3600")
	ctx.SetContentType("application/json")
	ctx.SetBody(d.metadata.doc)
}
