package httpapi

import (
	"embed"
	"fmt"
	"io/fs"
	"path"

	"github.com/valyala/fasthttp"
)

// demoFS is the demo page served at / with Config.Demo: plain HTML,
// CSS and JavaScript, embedded so that the binary needs no files beside it
// and the page no build step.
//
//go:embed demo
var demoFS embed.FS

// demoFile is one file of the demo page, ready to serve.
type demoFile struct {
	contentType string
	body        []byte
}

// demoFiles maps request paths to the demo page's files: / is index.html,
// the others are /demo/<name>.
var demoFiles = loadDemoFiles()

// demoTypes are the content types of the demo page's files, spelled out
// rather than taken from mime.TypeByExtension, which reads the machine's
// own tables.
var demoTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".png":  "image/png",
	".svg":  "image/svg+xml",
}

func loadDemoFiles() map[string]demoFile {
	files := make(map[string]demoFile)
	err := fs.WalkDir(demoFS, "demo", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := demoFS.ReadFile(name)
		if err != nil {
			return err
		}
		route := "/" + name
		if name == "demo/index.html" {
			route = "/"
		}
		typ, ok := demoTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("%s: no content type for its extension", name)
		}
		files[route] = demoFile{contentType: typ, body: body}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("transport: embedded demo page: %v", err)) // the embed is part of the binary
	}
	return files
}

// demoCSP keeps the page to its own files and its own hub: no inline
// script, nothing loaded from elsewhere, no framing.
const demoCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveDemo answers a request for a file of the demo page and reports
// whether it did: false when the demo is off or the path is not one of its
// files.
func (s *Server) serveDemo(ctx *fasthttp.RequestCtx) bool {
	if !s.cfg.Demo {
		return false
	}
	f, ok := demoFiles[string(ctx.Path())]
	if !ok {
		return false
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		writeError(ctx, &APIError{Status: fasthttp.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "use GET for " + string(ctx.Path())})
		return true
	}
	ctx.Response.Header.Set("Content-Security-Policy", demoCSP)
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	// Small and served from memory: always fresh beats stale after an upgrade.
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetContentType(f.contentType)
	ctx.SetBody(f.body)
	return true
}
