package uritemplate

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// referenceRegexp writes the language that Match accepts for t as a
// regular expression, built from the parsed template independently of the
// automaton in compile.go, for differential tests. It gives up (false) on
// templates whose expression would be slow to compile: more than 8
// expressions, more than 4 variables in one (it spells out their ordered
// selections), or prefixes over 8 (it unrolls them).
func referenceRegexp(t *Template) (*regexp.Regexp, bool) {
	if len(t.exprs) > 8 {
		return nil, false
	}
	var b strings.Builder
	b.WriteString(`\A`)
	for i, e := range t.exprs {
		b.WriteString(regexp.QuoteMeta(t.lits[i]))
		re, ok := refExpression(e)
		if !ok {
			return nil, false
		}
		b.WriteString(re)
	}
	b.WriteString(regexp.QuoteMeta(t.lits[len(t.lits)-1]))
	b.WriteString(`\z`)
	re, err := regexp.Compile(b.String())
	return re, err == nil
}

const (
	refU   = `A-Za-z0-9\-._~`
	refR   = `:/?#\[\]@!$&'()*+,;=`
	refPct = `%[0-9A-Fa-f]{2}`
)

func refRun(chars string) string      { return `(?:[` + chars + `]|` + refPct + `)*` }
func refNonEmpty(chars string) string { return `(?:[` + chars + `]|` + refPct + `)+` }

// refCounted is min to max characters: bytes of chars, triplets, or
// percent-encoded UTF-8 sequences.
func refCounted(chars string, min, max int) string {
	const h, c = `[0-9A-Fa-f]`, `%[89ABab][0-9A-Fa-f]`
	unit := `(?:[` + chars + `]|` + refPct + `|%[CDcd]` + h + c + `|%[Ee]` + h + c + c + `|%[Ff][0-7]` + c + c + c + `)`
	return unit + `{` + strconv.Itoa(min) + `,` + strconv.Itoa(max) + `}`
}

func refExpression(e expression) (string, bool) {
	if len(e.vars) > 4 {
		return "", false
	}
	info := opInfos[e.op]
	items := make([]string, len(e.vars))
	for i, v := range e.vars {
		if v.prefix > 8 {
			return "", false
		}
		items[i] = refItem(info, v)
	}
	sep := regexp.QuoteMeta(string(info.sep))
	// choose(i): a non-empty, ordered selection of the variables from i on.
	var choose func(i int) string
	choose = func(i int) string {
		if i == len(items)-1 {
			return items[i]
		}
		return `(?:` + items[i] + `(?:` + sep + choose(i+1) + `)?|` + choose(i+1) + `)`
	}
	first := ""
	if info.first != 0 {
		first = regexp.QuoteMeta(string(info.first))
	}
	return `(?:` + first + choose(0) + `)?`, true
}

func refItem(info opInfo, v varspec) string {
	chars := refU
	if info.reserved {
		chars += refR
	}
	sep := regexp.QuoteMeta(string(info.sep))
	if !info.named {
		switch {
		case v.prefix > 0:
			return refCounted(chars, 0, v.prefix)
		case !v.explode:
			return refRun(chars + ",")
		case info.reserved:
			return refRun(chars)
		}
		val, key := refRun(chars), refNonEmpty(chars)
		return `(?:` + val + `(?:` + sep + val + `)*|` + key + `=` + val + `(?:` + sep + key + `=` + val + `)*)`
	}
	name := regexp.QuoteMeta(v.name)
	switch {
	case v.prefix > 0 && info.ifemp:
		return name + `=` + refCounted(chars, 0, v.prefix)
	case v.prefix > 0:
		return name + `(?:=` + refCounted(chars, 1, v.prefix) + `)?`
	case !v.explode && info.ifemp:
		return name + `=` + refRun(chars+",")
	case !v.explode:
		return name + `(?:=` + refNonEmpty(chars+",") + `)?`
	}
	member := refNonEmpty(chars) + `=` + refRun(chars)
	if !info.ifemp {
		member = refNonEmpty(chars) + `(?:=` + refNonEmpty(chars) + `)?`
	}
	return member + `(?:` + sep + member + `)*`
}

// FuzzEngines checks the scan plan, the automaton and the reference
// regular expression against one another on arbitrary templates and
// strings.
func FuzzEngines(f *testing.F) {
	for _, c := range [][2]string{
		{"https://example.com/books/{id}", "https://example.com/books/1"},
		{"https://example.com/users/{user}/books/{+rest}", "https://example.com/users/a/books/b/c"},
		{"{id}.json", "a.b.json"},
		{"{?x,y}", "?y=1"},
		{"{;x,y*}", ";x;a=1;b"},
		{"{/list*,path:4}", "/red/green/blue/%2Ffoo"},
		{"{+a:3}", "%C3%A9%F0%9F%98%80x"},
		{"X{.a,b}{#c}", "X.1.2#x"},
		{"{a}{b}", "xy"},
		{"{&k*}", "&a=&b=1"},
		{"x{.keys*}", "x.semi=%3B.dot=.."},
		{"{+x:2}", "%C3x"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, template, s string) {
		tmpl, err := Parse(template)
		if err != nil {
			return
		}
		got := tmpl.Match(s)
		if prog := MatchProg(tmpl, s); prog != got {
			t.Fatalf("Parse(%q).Match(%q) = %v, but the automaton says %v (plan: %v)", template, s, got, prog, HasPlan(tmpl))
		}
		if re, ok := referenceRegexp(tmpl); ok {
			if want := re.MatchString(s); got != want {
				t.Fatalf("Parse(%q).Match(%q) = %v, reference %s says %v", template, s, got, re, want)
			}
		}
	})
}
