package kinderr_test

import (
	"errors"
	"testing"

	"github.com/ssehub/ssehub/internal/kinderr"
)

func TestNew(t *testing.T) {
	errBad := errors.New("bad")
	input := []byte("abc")
	err := kinderr.New(errBad, "input %q at %d", input, 2)
	input[0] = 'x' // the message was formatted already
	if err.Error() != `input "abc" at 2` || !errors.Is(err, errBad) {
		t.Errorf("New = %q (Is bad: %v)", err, errors.Is(err, errBad))
	}
}
