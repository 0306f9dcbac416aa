// Package kinderr makes the errors of input validators: a message for the
// user and the sentinel error (the kind) that callers test with
// errors.Is.
package kinderr

import "fmt"

// kindError carries a user-facing message and the sentinel it wraps.
type kindError struct {
	kind error
	msg  string
}

// New returns an error whose text is the formatted message and which
// wraps kind. The message is formatted at once, so that the error does
// not hold on to the input it quotes.
func New(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
