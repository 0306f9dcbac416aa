package httpapi

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// nativePaths are the paths the native API answers (the demo's files are
// under /demo/): no other front door may be mounted on or under them.
var nativePaths = []string{"/events", "/publish", "/presence", "/healthz", "/readyz", "/metrics", "/demo"}

// mount is another front door on the server: it answers the requests to
// prefix and under it.
type mount struct {
	prefix string
	handle fasthttp.RequestHandler
}

// Mount has the requests whose path is prefix, or under prefix + "/", answered
// by h: another front door served by this server, such as the Mercure door
// at /.well-known/mercure. h answers them whole, CORS included: the native
// API's routing, CORS policy and errors do not apply to them. A door that
// opens streams does it with Door().Stream. The errors fasthttp meets
// before any handler (a body or headers too large, a timeout, a malformed
// request) get the native API's statuses, with their message as text/plain
// when the request's path is the door's.
//
// Mount may be called at any time, from any goroutine; a request already
// routed is not affected. It panics if prefix is not a path ("/" and a
// segment, without a trailing "/"), or if it is, is under or holds a native
// path or a mounted prefix: one door answers each path.
func (s *Server) Mount(prefix string, h fasthttp.RequestHandler) {
	if err := CheckMountPath(prefix); err != nil {
		panic(err.Error())
	}
	s.mountMu.Lock()
	defer s.mountMu.Unlock()
	var mounts []mount
	if p := s.mounts.Load(); p != nil {
		mounts = *p
	}
	for _, m := range mounts {
		if overlap(prefix, m.prefix) {
			panic(fmt.Sprintf("httpapi: Mount(%q): %s is already served", prefix, m.prefix))
		}
	}
	mounts = append(slices.Clip(mounts), mount{prefix: prefix, handle: h})
	s.mounts.Store(&mounts)
}

// CheckMountPath reports whether another front door may be mounted at
// prefix: a path ("/" and a segment, without a trailing "/") that is not,
// is not under and does not hold a native path. Configuration checks it
// before Mount would panic.
func CheckMountPath(prefix string) error {
	if !strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("httpapi: Mount(%q): want a path such as /.well-known/mercure", prefix)
	}
	for _, t := range nativePaths {
		if overlap(prefix, t) {
			return fmt.Errorf("httpapi: Mount(%q): %s is already served", prefix, t)
		}
	}
	return nil
}

// overlap reports whether one of two paths is the other or under it.
func overlap(a, b string) bool { return under([]byte(a), b) || under([]byte(b), a) }

// mounted returns the handler of the front door mounted at path, or nil for
// the native API's paths.
func (s *Server) mounted(path []byte) fasthttp.RequestHandler {
	p := s.mounts.Load()
	if p == nil {
		return nil
	}
	for _, m := range *p {
		if under(path, m.prefix) {
			return m.handle
		}
	}
	return nil
}

// under reports whether path is prefix or a path under prefix + "/".
func under(path []byte, prefix string) bool {
	return bytes.HasPrefix(path, []byte(prefix)) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}
