package mercuremap_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/hub/topic/uritemplate"
	"github.com/ssehub/ssehub/hub/topic/urlpattern"
)

var topicSeeds = []string{
	"", "a", "_", "__", "_5F", "@m/", "@m/_", "*", "a b", "é", "😀", "https://example.com/books/1",
	"https://example.com/café?q=a b#x_y", "a\x00", "\xff", "a\u200b", "\u0085",
	strings.Repeat("a", 253), strings.Repeat("a", 254), strings.Repeat("a", 199) + "é" + strings.Repeat("b", 100),
	"abc" + strings.Repeat("é", 50), strings.Repeat("x", mercuremap.MaxTopicLen), strings.Repeat("x", mercuremap.MaxTopicLen+1),
}

var sentinels = []error{mercuremap.ErrEmpty, mercuremap.ErrTooLong, mercuremap.ErrInvalidUTF8, mercuremap.ErrForbiddenChar}

// FuzzMap checks Map on a and on b: errors wrap exactly one sentinel;
// results are valid topics; short forms round-trip through Unmap and long
// forms do not; distinct topics get distinct names; and a and a+b share
// the escaping of a.
func FuzzMap(f *testing.F) {
	for i, s := range topicSeeds {
		f.Add(s, topicSeeds[(i+1)%len(topicSeeds)])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ma, errA := mapOrCheck(t, a)
		mb, errB := mapOrCheck(t, b)
		if errA != nil || errB != nil {
			return
		}
		if (a == b) != (ma == mb) {
			t.Fatalf("Map(%q) = %q, Map(%q) = %q", a, ma, b, mb)
		}
		mab, err := mercuremap.Map(a + b)
		if err != nil || isLong(mab) || isLong(ma) || isLong(mb) {
			return
		}
		if want := ma + mb[len(mercuremap.Prefix):]; mab != want {
			t.Fatalf("Map(%q + %q) = %q, want Map(a) + escape(b) = %q", a, b, mab, want)
		}
	})
}

func isLong(mapped string) bool { return strings.Contains(mapped, "__") }

// mapOrCheck maps s and checks the result or the error.
func mapOrCheck(t *testing.T, s string) (string, error) {
	t.Helper()
	m, err := mercuremap.Map(s)
	b, errAppend := mercuremap.AppendMap(nil, s)
	if (err == nil) != (errAppend == nil) || string(b) != m {
		t.Fatalf("Map(%q) = %q, %v, but AppendMap = %q, %v", s, m, err, b, errAppend)
	}
	if err != nil {
		n := 0
		for _, kind := range sentinels {
			if errors.Is(err, kind) {
				n++
			}
		}
		if n != 1 || m != "" {
			t.Fatalf("Map(%q) = %q, %v, wraps %d sentinels, want \"\" and 1", s, m, err, n)
		}
		return "", err
	}
	if err := topic.ValidateTopic(m); err != nil {
		t.Fatalf("topic.ValidateTopic(Map(%q) = %q) = %v", s, m, err)
	}
	if !mercuremap.IsMapped(m) || m == mercuremap.RouteTopic {
		t.Fatalf("Map(%q) = %q, outside the namespace or RouteTopic", s, m)
	}
	orig, ok := mercuremap.Unmap(m)
	if isLong(m) {
		if ok {
			t.Fatalf("Unmap(long form Map(%q) = %q) = %q, true", s, m, orig)
		}
	} else if !ok || orig != s {
		t.Fatalf("Unmap(Map(%q) = %q) = %q, %v", s, m, orig, ok)
	}
	return m, nil
}

// FuzzUnmap checks that Unmap accepts exactly the short forms: whatever it
// decodes maps back to the same name.
func FuzzUnmap(f *testing.F) {
	for _, s := range topicSeeds {
		f.Add(s)
		if m, err := mercuremap.Map(s); err == nil {
			f.Add(m)
		}
	}
	for _, s := range []string{"@m/_", "@m/_c3_a9", "@m/_41", "@m/a_2", "@m/_0A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		orig, ok := mercuremap.Unmap(s)
		if !ok {
			if orig != "" {
				t.Fatalf("Unmap(%q) = %q, false", s, orig)
			}
			return
		}
		if m, err := mercuremap.Map(orig); err != nil || m != s {
			t.Fatalf("Unmap(%q) = %q, true, but Map(%q) = %q, %v", s, orig, orig, m, err)
		}
	})
}

// FuzzCarrier checks that the carrier of any prefix of a topic is a valid
// pattern that matches the topic's mapped name.
func FuzzCarrier(f *testing.F) {
	for i, s := range topicSeeds {
		f.Add(s, uint(i*37))
	}
	f.Fuzz(func(t *testing.T, s string, n uint) {
		m, err := mercuremap.Map(s)
		if err != nil {
			return
		}
		p := s[:n%uint(len(s)+1)]
		c := mercuremap.Carrier(p)
		if err := topic.ValidatePattern(c); err != nil || strings.IndexByte(c, '*') != len(c)-1 {
			t.Fatalf("Carrier(%q) = %q: ValidatePattern = %v, want one * at the end", p, c, err)
		}
		if !topic.Match(c, m) {
			t.Fatalf("Carrier(%q) = %q does not match Map(%q) = %q", p, c, s, m)
		}
	})
}

// FuzzTemplateCarrier checks that a template's carrier matches the mapped
// name of every topic the template matches. The topic is tried as given
// and after the template's literal prefix, where matches are likelier.
func FuzzTemplateCarrier(f *testing.F) {
	for _, tt := range [][2]string{
		{"https://example.com/books/{id}", "1"},
		{"https://example.com/{+path}", "a/b?c#d"},
		{"{scheme}://example.com/{id}", "https://example.com/1"},
		{"https://example.com/café/{id}", "x"},
		{"https://example.com/" + strings.Repeat("a", 300) + "{/p*}", "/x/y"},
	} {
		f.Add(tt[0], tt[1])
	}
	f.Fuzz(func(t *testing.T, template, s string) {
		tmpl, err := uritemplate.Parse(template)
		if err != nil {
			return
		}
		c := mercuremap.TemplateCarrier(tmpl)
		prefix, _ := tmpl.LiteralPrefix()
		for _, s := range []string{s, prefix + s} {
			if !tmpl.Match(s) {
				continue
			}
			m, err := mercuremap.Map(s)
			if err != nil {
				continue
			}
			if !topic.Match(c, m) {
				t.Fatalf("%q matches %q, but TemplateCarrier = %q does not match Map = %q", template, s, c, m)
			}
		}
	})
}

// FuzzPatternCarrier checks the guarantee NeedsRoute documents: a topic a
// URL pattern matches reaches the pattern's carrier or is routed. The
// topic is tried as given and after the pattern's literal cut at its "?".
func FuzzPatternCarrier(f *testing.F) {
	for i, p := range routePatterns {
		f.Add(p, routeTopics[i%len(routeTopics)])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		p, err := urlpattern.Parse(pattern)
		if err != nil {
			return
		}
		c := mercuremap.PatternCarrier(p)
		lit, _, _ := strings.Cut(p.Literal(), "?")
		for _, s := range []string{s, lit + s} {
			if !p.Test(s) || mercuremap.NeedsRoute(s, nil) {
				continue
			}
			m, err := mercuremap.Map(s)
			if err != nil {
				continue
			}
			if !topic.Match(c, m) {
				t.Fatalf("%q matches %q, NeedsRoute is false, but PatternCarrier = %q does not match Map = %q", pattern, s, c, m)
			}
		}
	})
}
