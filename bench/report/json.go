package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes r as indented JSON, for machines and for [ReadJSON] to
// render again later.
func (r *Run) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Phase names and commands stay readable; nothing reads this as HTML.
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// ReadJSON reads a run written by [Run.WriteJSON].
func ReadJSON(rd io.Reader) (*Run, error) {
	var r Run
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("report: read run: %w", err)
	}
	return &r, nil
}
