package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// page is what parsePage found in a rendered page.
type page struct {
	// elements counts start tags by local name.
	elements map[string]int
	// texts is the decoded character data, in order.
	texts []string
	// byClass is the decoded character data under each class attribute
	// value, joined per element.
	byClass map[string][]string
	// paths are the d attributes of SVG paths.
	paths []string
}

// parsePage parses doc as strict XML, which a page must be, failing the
// test if it is not.
func parsePage(t *testing.T, doc []byte) *page {
	t.Helper()
	p := &page{elements: map[string]int{}, byClass: map[string][]string{}}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	var classes []string // of the open elements
	var inClass []*strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page is not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			p.elements[tok.Name.Local]++
			class := ""
			for _, a := range tok.Attr {
				switch a.Name.Local {
				case "class":
					class = a.Value
				case "d":
					if tok.Name.Local == "path" {
						p.paths = append(p.paths, a.Value)
					}
				}
			}
			classes = append(classes, class)
			inClass = append(inClass, new(strings.Builder))
		case xml.EndElement:
			n := len(classes) - 1
			if classes[n] != "" {
				p.byClass[classes[n]] = append(p.byClass[classes[n]], inClass[n].String())
			}
			classes, inClass = classes[:n], inClass[:n]
		case xml.CharData:
			p.texts = append(p.texts, string(tok))
			for i := range inClass {
				inClass[i].Write(tok)
			}
		}
	}
	if len(classes) != 0 {
		t.Fatalf("page ends with %d elements open", len(classes))
	}
	return p
}

// hasText reports whether some character data contains s.
func (p *page) hasText(s string) bool {
	return p.countText(s) > 0
}

// countText counts the character data that contain s.
func (p *page) countText(s string) int {
	n := 0
	for _, t := range p.texts {
		if strings.Contains(t, s) {
			n++
		}
	}
	return n
}

func renderHTML(t *testing.T, r *Run) (*page, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatalf("WriteHTML() = %v", err)
	}
	return parsePage(t, buf.Bytes()), buf.Bytes()
}

func TestWriteHTMLEscapesData(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	r := syntheticRun(30)
	r.Title = `Tom & "Jerry" <b>bold</b>`
	r.Command = `ssehub-bench -title '<img src=x>'`
	r.Host = "host\x00with\x1bcontrols"
	for i := range r.Samples {
		if r.Samples[i].Phase == r.Phases[1].Name {
			r.Samples[i].Phase = evil
		}
		// Few enough processes for the legends to name each.
		r.Samples[i].Procs = r.Samples[i].Procs[:5]
		r.Samples[i].Procs[0].Name = `</svg><script>1</script>`
	}
	r.Phases[1].Name = evil
	r.Phases[1].Procs[0].Name = `</svg><script>1</script>`
	r.Checks[1].Phase = evil

	doc, raw := renderHTML(t, r)
	for _, el := range []string{"script", "b", "img"} {
		if n := doc.elements[el]; n != 0 {
			t.Errorf("page has %d <%s> elements, want 0", n, el)
		}
	}
	if bytes.Contains(bytes.ToLower(raw), []byte("<script")) {
		t.Errorf("page contains a raw <script")
	}
	// Escaped, the names read back as they were: in the title and the
	// header, the phase and check tables, the chart bands and legends.
	for _, tc := range []struct {
		text string
		min  int
	}{
		{r.Title, 2},
		{r.Command, 1},
		{evil, 4},
		{`</svg><script>1</script>`, 5},
		{"host\ufffdwith\ufffdcontrols", 1},
	} {
		if got := doc.countText(tc.text); got < tc.min {
			t.Errorf("page shows %q %d times, want at least %d", tc.text, got, tc.min)
		}
	}
}

func TestWriteHTMLShapes(t *testing.T) {
	empty := &Run{Title: "nothing yet"}
	one := syntheticRun(6)
	one.Samples = one.Samples[2:3] // in the baseline, with deliveries
	tests := []struct {
		name string
		run  *Run
		// check holds what is particular to the shape.
		check func(t *testing.T, doc *page, raw []byte)
	}{
		{"empty", empty, func(t *testing.T, doc *page, _ []byte) {
			if got := doc.countText("no data"); got != 5 {
				t.Errorf(`"no data" shown %d times, want 5 (every chart)`, got)
			}
			if got := doc.byClass["badge none"]; len(got) != 1 || got[0] != "NO CHECKS" {
				t.Errorf("badge = %q, want [NO CHECKS]", got)
			}
		}},
		{"one sample", one, func(t *testing.T, doc *page, _ []byte) {
			// A lone value has no neighbour to join: it is drawn as a dot.
			// Latency (5), connected, deliveries and RSS (14 processes
			// summed into 3 roles) have one; CPU needs two samples.
			if got, want := doc.elements["circle"], 5+1+1+3; got != want {
				t.Errorf("<circle> elements = %d, want %d", got, want)
			}
			if got := doc.countText("no data"); got != 1 {
				t.Errorf(`"no data" shown %d times, want 1 (the CPU chart)`, got)
			}
		}},
		{"an hour", syntheticRun(3600), func(t *testing.T, doc *page, raw []byte) {
			if len(doc.paths) == 0 {
				t.Fatal("no <path> drawn")
			}
			for _, d := range doc.paths {
				if n := strings.Count(d, "M") + strings.Count(d, "L"); n > maxPoints {
					t.Errorf("a path has %d points, want at most %d", n, maxPoints)
				}
			}
			if len(raw) > 1<<20 {
				t.Errorf("page is %d bytes, want at most 1 MiB", len(raw))
			}
			if got := doc.byClass["badge fail"]; len(got) != 1 || got[0] != "FAIL" {
				t.Errorf("badge = %q, want [FAIL]", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, raw := renderHTML(t, tc.run)
			if got, want := doc.elements["svg"], 5; got != want {
				t.Errorf("<svg> elements = %d, want %d", got, want)
			}
			tc.check(t, doc, raw)
		})
	}
}

func TestWriteHTMLContent(t *testing.T) {
	r := syntheticRun(120)
	r.Checks = r.Checks[:2] // both pass
	doc, _ := renderHTML(t, r)
	if got := doc.byClass["badge pass"]; len(got) != 1 || got[0] != "PASS" {
		t.Errorf("badge = %q, want [PASS]", got)
	}
	if got := doc.byClass["pass"]; len(got) != 2 {
		t.Errorf("PASS cells = %q, want 2", got)
	}
	for _, want := range []string{
		r.Command,
		"End-to-end latency", "Connected streams", "Deliveries per second", "Resident memory (RSS)", "CPU",
		"p50", "p90", "p99", "p99.9", "max", // latency legend
		"connect", "baseline", "slow-consumers", // bands and tables
		"1,004", // evicted, in the phase table
		"hub-6", // process table
	} {
		if !doc.hasText(want) {
			t.Errorf("page has no text %q", want)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	r := syntheticRun(12)
	for name, write := range map[string]func(io.Writer) error{
		"WriteTable": r.WriteTable,
		"WriteJSON":  r.WriteJSON,
		"WriteHTML":  r.WriteHTML,
	} {
		if err := write(failingWriter{}); err == nil {
			t.Errorf("%s(failing writer) = nil, want an error", name)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// FuzzWriteHTML holds the page to well-formed XML without script elements
// whatever the names in the run.
func FuzzWriteHTML(f *testing.F) {
	for _, s := range []string{"<script>", "\x00\x1b[K", "\xff\xfe", "]]>", "&amp;", `"'`, "\ufffe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := &Run{
			Title: s, Command: s, Host: s,
			Phases: []Phase{{Name: s, Server: s, End: time.Second, Procs: []Proc{{Name: s, Role: s}}}},
			Samples: []Sample{
				{At: time.Second / 2, Phase: s, Connected: 1, Procs: []Proc{{Name: s, Role: s, RSS: 1}}},
				{At: time.Second, Phase: s, Connected: 2, Procs: []Proc{{Name: s, Role: s, RSS: 2, CPU: 1}}},
			},
			Checks: []Check{{Phase: s, Name: s, Target: s, Value: s}},
		}
		doc, _ := renderHTML(t, r)
		if n := doc.elements["script"]; n != 0 {
			t.Errorf("page has %d <script> elements", n)
		}
	})
}
