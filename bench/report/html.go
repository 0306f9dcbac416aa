package report

import (
	"bytes"
	"html/template"
	"io"
	"slices"
	"strings"
)

// WriteHTML writes r as one self-contained HTML page for a browser: the
// verdict, the checks, the phases, and charts over time of latency,
// connected streams, deliveries, and each process's memory and CPU, with
// the phases shaded behind them. The page loads nothing else and runs no
// script; the charts are inline SVG.
//
// The page is also well-formed XML, which the tests hold it to.
func (r *Run) WriteHTML(w io.Writer) error {
	r = r.withSafeText()
	v := pageView{
		Title:   r.Title,
		Command: r.Command,
		Host:    r.Host,
		Length:  fmtElapsed(r.length()),
		Checks:  r.Checks,
		Phases:  phaseTable(r.Phases).transpose(),
	}
	verdict, detail := r.summary()
	v.Summary = verdict + detail
	if v.Title == "" {
		v.Title = "ssehub bench run"
	}
	if !r.Started.IsZero() {
		v.Started = r.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	switch {
	case len(r.Checks) == 0:
		v.Verdict, v.Class = "NO CHECKS", "none"
	case r.OK():
		v.Verdict, v.Class = "PASS", "pass"
	default:
		v.Verdict, v.Class = "FAIL", "fail"
	}
	for i := range r.Phases {
		p := &r.Phases[i]
		if len(p.Procs) > 0 {
			v.Procs = append(v.Procs, procView{Name: p.Name, Span: span(p), Table: procTable(p)})
		}
	}
	bands, length := r.bands(), r.length().Seconds()
	for _, c := range r.charts() {
		v.Charts = append(v.Charts, chartView{
			Title: c.title,
			Note:  c.note,
			// The SVG is built by chart.svg, which escapes every string
			// from the run.
			SVG: template.HTML(c.svg(bands, length)),
		})
	}

	// Render fully before writing, so that a template error leaves no
	// half page behind.
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, v); err != nil {
		return err
	}
	_, err := buf.WriteTo(w)
	return err
}

// pageView is what the page template shows.
type pageView struct {
	Title, Command, Host, Started, Length string
	// Verdict is PASS, FAIL or NO CHECKS; Class styles it; Summary says
	// it in words.
	Verdict, Class, Summary string
	Checks                  []Check
	Phases                  table
	Procs                   []procView
	Charts                  []chartView
}

// procView is one phase's table of processes.
type procView struct {
	Name, Span string
	Table      table
}

// chartView is one chart with its caption.
type chartView struct {
	Title, Note string
	SVG         template.HTML
}

// pageTemplate is the page. It is written as XHTML-compatible HTML (every
// element closed, no named entities) so that an XML parser can check it.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{.Title}}</title>
<style>
body { margin: 0 auto; max-width: 1280px; padding: 24px 32px 48px; color: #1f2430; background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 22px; margin: 0 0 14px; display: flex; align-items: center; gap: 14px; flex-wrap: wrap; }
h2 { font-size: 16px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #e3e7ee; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: #6a7282; }
dd { margin: 0; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f5f8;
  padding: 1px 5px; border-radius: 4px; word-break: break-all; }
.badge { font-size: 13px; font-weight: 700; letter-spacing: .05em; padding: 3px 12px; border-radius: 999px; color: #fff; }
.badge.pass { background: #2f8a4c; }
.badge.fail { background: #c8322f; }
.badge.none { background: #8a93a3; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; white-space: nowrap; }
th, td { padding: 5px 10px; text-align: left; border-bottom: 1px solid #eceff4; }
th { font-weight: 600; color: #4a5261; background: #f6f8fb; font-size: 12.5px; }
th.n, td.n { text-align: right; }
tr.fail td { background: #fdf0ef; }
td.pass { color: #2f8a4c; font-weight: 700; }
td.fail { color: #c8322f; font-weight: 700; }
figure { margin: 0 0 26px; }
figcaption { font-weight: 600; margin-bottom: 2px; }
.muted { color: #6a7282; font-weight: 400; }
svg { display: block; width: 100%; height: auto; }
details { margin: 4px 0; }
summary { cursor: pointer; padding: 3px 0; }
</style>
</head>
<body>
<header>
<h1><span>{{.Title}}</span> <span class="badge {{.Class}}">{{.Verdict}}</span></h1>
<dl>
<dt>command</dt><dd><code>{{.Command}}</code></dd>
{{- if .Host}}
<dt>host</dt><dd>{{.Host}}</dd>
{{- end}}
{{- if .Started}}
<dt>started</dt><dd>{{.Started}}, ran {{.Length}}</dd>
{{- end}}
<dt>result</dt><dd>{{.Summary}}</dd>
</dl>
</header>
<section>
<h2>Checks</h2>
{{- if .Checks}}
<div class="scroll"><table>
<thead><tr><th>phase</th><th>check</th><th class="n">target</th><th class="n">value</th><th>result</th></tr></thead>
<tbody>
{{- range .Checks}}
<tr{{if not .OK}} class="fail"{{end}}><td>{{.Phase}}</td><td>{{.Name}}</td><td class="n">{{.Target}}</td><td class="n">{{.Value}}</td>
{{- if .OK}}<td class="pass">PASS</td>{{else}}<td class="fail">FAIL</td>{{end}}</tr>
{{- end}}
</tbody>
</table></div>
{{- else}}
<p class="muted">This run was held to no checks.</p>
{{- end}}
</section>
<section>
<h2>Phases</h2>
{{- if gt (len .Phases.Head) 1}}
{{template "table" .Phases}}
{{- else}}
<p class="muted">No phases were recorded.</p>
{{- end}}
</section>
<section>
<h2>Over time</h2>
{{- range .Charts}}
<figure>
<figcaption>{{.Title}}{{if .Note}} <span class="muted">({{.Note}})</span>{{end}}</figcaption>
{{.SVG}}
</figure>
{{- end}}
</section>
{{- if .Procs}}
<section>
<h2>Processes</h2>
{{- range .Procs}}
<details><summary>{{.Name}} <span class="muted">{{.Span}}</span></summary>
{{template "table" .Table}}
</details>
{{- end}}
</section>
{{- end}}
</body>
</html>
{{define "table"}}<div class="scroll"><table>
<thead><tr>{{range $i, $h := .Head}}<th{{if index $.Num $i}} class="n"{{end}}>{{$h}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr>{{range $i, $c := .}}<td{{if index $.Num $i}} class="n"{{end}}>{{$c}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table></div>{{end}}
`))

// withSafeText returns a copy of r whose strings hold nothing that HTML
// and XML forbid in a document, so that no name from a run can make the
// page malformed: see [xmlSafe].
func (r *Run) withSafeText() *Run {
	c := *r
	c.Title, c.Command, c.Host = xmlSafe(r.Title), xmlSafe(r.Command), xmlSafe(r.Host)
	safeProcs := func(ps []Proc) []Proc {
		ps = slices.Clone(ps)
		for i := range ps {
			ps[i].Name, ps[i].Role = xmlSafe(ps[i].Name), xmlSafe(ps[i].Role)
		}
		return ps
	}
	c.Phases = slices.Clone(r.Phases)
	for i := range c.Phases {
		p := &c.Phases[i]
		p.Name, p.Server, p.Procs = xmlSafe(p.Name), xmlSafe(p.Server), safeProcs(p.Procs)
	}
	c.Samples = slices.Clone(r.Samples)
	for i := range c.Samples {
		s := &c.Samples[i]
		s.Phase, s.Procs = xmlSafe(s.Phase), safeProcs(s.Procs)
	}
	c.Checks = slices.Clone(r.Checks)
	for i := range c.Checks {
		k := &c.Checks[i]
		k.Phase, k.Name, k.Target, k.Value = xmlSafe(k.Phase), xmlSafe(k.Name), xmlSafe(k.Target), xmlSafe(k.Value)
	}
	return &c
}

// xmlSafe replaces invalid UTF-8 and the characters that are errors in
// HTML text and illegal in XML (control characters other than tab and
// line breaks, and the noncharacters U+FFFE and U+FFFF) with U+FFFD.
func xmlSafe(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			return c
		case c < 0x20, c >= 0x7f && c <= 0x9f, c == 0xfffe, c == 0xffff:
			return '\ufffd'
		}
		return c
	}, s)
}
