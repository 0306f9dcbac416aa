package httpapi

import (
	"encoding/json"
	"fmt"

	"github.com/valyala/fasthttp"
)

// APIError is an error answered to an HTTP client before any stream starts,
// as JSON {"error": {"code": "...", "message": "..."}}. Code is stable and
// machine-readable; Message is for people and may change.
type APIError struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// badRequest returns a 400 APIError with a formatted message.
func badRequest(code, format string, args ...any) *APIError {
	return &APIError{Status: fasthttp.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeError answers ctx with e as JSON.
func writeError(ctx *fasthttp.RequestCtx, e *APIError) {
	body, _ := json.Marshal(struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{Error: struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.Message}})
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(e.Status)
	ctx.SetBody(append(body, '\n'))
}
