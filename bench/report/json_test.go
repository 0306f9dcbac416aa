package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSONRoundTrip(t *testing.T) {
	want := syntheticRun(30)
	want.Phases[1].Name = "<b>&"
	var buf bytes.Buffer
	if err := want.WriteJSON(&buf); err != nil {
		t.Fatalf("WriteJSON() = %v", err)
	}
	if !strings.Contains(buf.String(), "\n  \"title\": ") {
		t.Errorf("WriteJSON() is not indented:\n%.200s", buf.String())
	}
	if !strings.Contains(buf.String(), `"name": "<b>&"`) {
		t.Errorf("WriteJSON() escaped a name for HTML:\n%.200s", buf.String())
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatal("WriteJSON() wrote invalid JSON")
	}
	got, err := ReadJSON(&buf)
	if err != nil {
		t.Fatalf("ReadJSON() = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("run after a JSON round trip (-want +got):\n%s", diff)
	}
}

func TestReadJSONError(t *testing.T) {
	if _, err := ReadJSON(strings.NewReader(`{"title": 3}`)); err == nil || !strings.HasPrefix(err.Error(), "report: read run: ") {
		t.Errorf("ReadJSON(bad) = %v, want a report: read run error", err)
	}
}
