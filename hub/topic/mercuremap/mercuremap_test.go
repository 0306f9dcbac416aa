package mercuremap_test

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub/topic"
	"github.com/ssehub/ssehub/hub/topic/mercuremap"
)

// The numbers of the long form, from docs/mercure-design.md: the escaped
// prefix it keeps and its hash, in bytes.
const (
	longPrefixMax = 200
	hashLen       = 26
)

// longForm builds the long form of t independently of the package: the
// escaped prefix is given by the caller, the hash computed here.
func longForm(escapedPrefix, t string) string {
	sum := sha256.Sum256([]byte(t))
	h := strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))
	return mercuremap.Prefix + escapedPrefix + "__" + h[:hashLen]
}

func TestMap(t *testing.T) {
	a := strings.Repeat
	tests := []struct {
		name, in, want string
	}{
		{"URL", "https://example.com/books/1", "@m/https://example.com/books/1"},
		{"plain bytes", "AZaz09-.:/@", "@m/AZaz09-.:/@"},
		{"space", "a b", "@m/a_20b"},
		{"underscore", "a_b", "@m/a_5Fb"},
		{"two underscores", "__", "@m/_5F_5F"},
		{"percent", "https://example.com/a%3Ab", "@m/https://example.com/a_253Ab"},
		{"query", "https://example.com/s?q=1&r=2", "@m/https://example.com/s_3Fq_3D1_26r_3D2"},
		{"fragment", "https://example.com/a#b", "@m/https://example.com/a_23b"},
		{"star", "*", "@m/_2A"},
		{"glob characters", `?[]\^`, "@m/_3F_5B_5D_5C_5E"},
		{"Unicode", "é", "@m/_C3_A9"},
		{"Unicode in a URL", "https://example.com/café", "@m/https://example.com/caf_C3_A9"},
		{"four-byte rune", "😀", "@m/_F0_9F_98_80"},
		{"tilde and plus", "~+", "@m/_7E_2B"},
		{"high ASCII punctuation", "{}|", "@m/_7B_7D_7C"},
		{"the prefix itself", "@m/x", "@m/@m/x"},
		{"route lookalike", "_", "@m/_5F"},
		{"253 plain bytes: 256 mapped", a("a", 253), "@m/" + a("a", 253)},
		{"252 plain bytes: 255 mapped", a("a", 252), "@m/" + a("a", 252)},
		{"escape ending at 256", a("a", 250) + " ", "@m/" + a("a", 250) + "_20"},
		{"254 plain bytes: long", a("a", 254), longForm(a("a", 200), a("a", 254))},
		{"escape ending at 257: long", a("a", 251) + " ", longForm(a("a", 200), a("a", 251)+" ")},
		{"long, cut before an escape", a("a", 199) + "é" + a("b", 100), longForm(a("a", 199), a("a", 199)+"é"+a("b", 100))},
		{"long, escape ending at 200", a("a", 197) + " " + a("b", 100), longForm(a("a", 197)+"_20", a("a", 197)+" "+a("b", 100))},
		{"long, all escapes", a("é", 50), longForm(a("_C3_A9", 33), a("é", 50))},
		{"long, cut inside a rune", "abc" + a("é", 50), longForm("abc"+a("_C3_A9", 32)+"_C3", "abc"+a("é", 50))},
		{"MaxTopicLen bytes", a("x", mercuremap.MaxTopicLen), longForm(a("x", 200), a("x", mercuremap.MaxTopicLen))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mercuremap.Map(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("Map(%q) = %q, %v, want %q, nil", tt.in, got, err, tt.want)
			}
			if err := topic.ValidateTopic(got); err != nil {
				t.Errorf("topic.ValidateTopic(Map(%q)) = %v", tt.in, err)
			}
			if b, err := mercuremap.AppendMap([]byte("x"), tt.in); err != nil || string(b) != "x"+tt.want {
				t.Errorf("AppendMap(%q, %q) = %q, %v, want %q, nil", "x", tt.in, b, err, "x"+tt.want)
			}
			orig, ok := mercuremap.Unmap(got)
			short := len(got) <= topic.MaxLen && !strings.Contains(got, "__")
			if short && (!ok || orig != tt.in) {
				t.Errorf("Unmap(%q) = %q, %v, want %q, true", got, orig, ok, tt.in)
			}
			if !short && ok {
				t.Errorf("Unmap(%q) of a long form = %q, true, want false", got, orig)
			}
		})
	}
}

func TestMapBoundaries(t *testing.T) {
	// The mapped name is 3 bytes of prefix plus the escaping; 256 is the
	// last short length.
	for _, tt := range []struct {
		in       string
		mapped   int // length of the short form, if it were allowed
		wantLong bool
	}{
		{strings.Repeat("a", 252), 255, false},
		{strings.Repeat("a", 253), 256, false},
		{strings.Repeat("a", 254), 257, true},
		{strings.Repeat("a", 250) + "_", 256, false},
		{strings.Repeat("a", 251) + "_", 257, true},
		{strings.Repeat("é", 42) + "a", 256, false},
		{strings.Repeat("é", 42) + "aa", 257, true},
	} {
		got, err := mercuremap.Map(tt.in)
		if err != nil {
			t.Fatalf("Map(%d bytes) = %v", len(tt.in), err)
		}
		isLong := strings.Contains(got, "__")
		if isLong != tt.wantLong {
			t.Errorf("Map(%d bytes, %d mapped) = %q, long form %v, want %v", len(tt.in), tt.mapped, got, isLong, tt.wantLong)
		}
		if !isLong && len(got) != tt.mapped {
			t.Errorf("len(Map(%d bytes)) = %d, want %d", len(tt.in), len(got), tt.mapped)
		}
		if err := topic.ValidateTopic(got); err != nil {
			t.Errorf("topic.ValidateTopic(Map(%d bytes)) = %v", len(tt.in), err)
		}
	}
}

func TestMapRefused(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", mercuremap.ErrEmpty},
		{"one byte over MaxTopicLen", strings.Repeat("a", mercuremap.MaxTopicLen+1), mercuremap.ErrTooLong},
		{"huge", strings.Repeat("a", 1<<20), mercuremap.ErrTooLong},
		{"invalid UTF-8", "a\xffb", mercuremap.ErrInvalidUTF8},
		{"truncated rune", "é"[:1], mercuremap.ErrInvalidUTF8},
		{"surrogate", "\xed\xa0\x80", mercuremap.ErrInvalidUTF8},
		{"NUL", "a\x00", mercuremap.ErrForbiddenChar},
		{"newline", "a\nb", mercuremap.ErrForbiddenChar},
		{"tab", "\t", mercuremap.ErrForbiddenChar},
		{"DEL", "a\x7f", mercuremap.ErrForbiddenChar},
		{"C1 control", "a\u0085", mercuremap.ErrForbiddenChar},
		{"zero-width space (Cf)", "a\u200bb", mercuremap.ErrForbiddenChar},
		{"byte order mark (Cf)", "\ufeffa", mercuremap.ErrForbiddenChar},
		{"right-to-left override (Cf)", "https://example.com/\u202egnp.exe", mercuremap.ErrForbiddenChar},
		{"soft hyphen (Cf)", "a\u00adb", mercuremap.ErrForbiddenChar},
		{"tag character (Cf)", "a\U000E0041", mercuremap.ErrForbiddenChar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mercuremap.Map(tt.in)
			if !errors.Is(err, tt.want) || got != "" {
				t.Fatalf("Map(%.40q) = %q, %v, want \"\", %v", tt.in, got, err, tt.want)
			}
			if len(err.Error()) > 256 {
				t.Errorf("Map(%.40q) error is %d bytes long: %s", tt.in, len(err.Error()), err)
			}
			dst := []byte("keep")
			b, err := mercuremap.AppendMap(dst, tt.in)
			if !errors.Is(err, tt.want) || string(b) != "keep" {
				t.Errorf("AppendMap(%q, %.40q) = %q, %v, want %q, %v", "keep", tt.in, b, err, "keep", tt.want)
			}
		})
	}
}

func TestMapAccepts(t *testing.T) {
	// Characters near the refused ones that draft-08 allows.
	for _, in := range []string{" ", "a b", "\u00a0", "\u200a", "\u2028", "\U0010FFFD", "\ufffd"} {
		if _, err := mercuremap.Map(in); err != nil {
			t.Errorf("Map(%q) = %v, want nil", in, err)
		}
	}
}

func TestUnmap(t *testing.T) {
	long, err := mercuremap.Map(strings.Repeat("a", 300))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"@m/https://example.com/books/1", "https://example.com/books/1", true},
		{"@m/a_20b", "a b", true},
		{"@m/_5F", "_", true},
		{"@m/_C3_A9", "é", true},
		{"@m/_2A", "*", true},
		{"@m/@m/", "@m/", true},
		{"@m/", "", false},                            // empty topic
		{"@m/_", "", false},                           // RouteTopic
		{"@m/a_2", "", false},                         // cut escape
		{"@m/a_", "", false},                          // cut escape
		{"@m/_c3_a9", "", false},                      // lower-case hex
		{"@m/_41", "", false},                         // A escaped: Map writes it as is
		{"@m/_2F", "", false},                         // / escaped
		{"@m/_G0", "", false},                         // not hex
		{"@m/_00", "", false},                         // NUL
		{"@m/_0A", "", false},                         // newline
		{"@m/_E2_80_8B", "", false},                   // zero-width space (Cf)
		{"@m/_FF", "", false},                         // invalid UTF-8
		{"@m/_C3", "", false},                         // cut rune
		{"@m/a*", "", false},                          // not in the alphabet
		{"@m/a b", "", false},                         // not in the alphabet
		{"https://example.com/", "", false},           // no prefix
		{"@M/a", "", false},                           // no prefix
		{long, "", false},                             // long form
		{"@m/" + strings.Repeat("a", 254), "", false}, // longer than a topic
		{"@m/" + strings.Repeat("a", 253), strings.Repeat("a", 253), true},
	}
	for _, tt := range tests {
		got, ok := mercuremap.Unmap(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Unmap(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestIsMapped(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"@m/x", true},
		{"@m/", true},
		{mercuremap.RouteTopic, true},
		{"@m/*", true},
		{"@m", false},
		{"@mx/a", false},
		{"x@m/a", false},
		{"@*", false}, // a pattern that can match mapped names; the shard guards those
		{"", false},
	} {
		if got := mercuremap.IsMapped(tt.in); got != tt.want {
			t.Errorf("IsMapped(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRouteTopic(t *testing.T) {
	if err := topic.ValidateTopic(mercuremap.RouteTopic); err != nil {
		t.Fatalf("topic.ValidateTopic(RouteTopic) = %v", err)
	}
	if !mercuremap.IsMapped(mercuremap.RouteTopic) {
		t.Errorf("IsMapped(RouteTopic) = false")
	}
	if got, ok := mercuremap.Unmap(mercuremap.RouteTopic); ok {
		t.Errorf("Unmap(RouteTopic) = %q, true, want false", got)
	}
	// No topic maps to it: checked over random topics in TestProperties,
	// and here over every one-byte and two-byte topic.
	for i := 0; i < 1<<16; i++ {
		for _, s := range []string{string([]byte{byte(i)}), string([]byte{byte(i >> 8), byte(i)})} {
			if m, err := mercuremap.Map(s); err == nil && m == mercuremap.RouteTopic {
				t.Fatalf("Map(%q) = RouteTopic", s)
			}
		}
	}
}

// randomTopic returns a topic made of pieces that stress the escaping:
// plain text, _, hexadecimal digits, escapes, multi-byte runes and "__",
// up to a length that gives long forms about a third of the time.
func randomTopic(r *rand.Rand) string {
	pieces := []string{"a", "b", "A", "F", "5", "_", "__", "_5F", "_20", " ", "%", "é", "😀", "/", "?", "#", "*", "@m/", "https://example.com/", strings.Repeat("x", 40)}
	n := r.IntN(60) + 1
	var b strings.Builder
	for range n {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	s := b.String()
	if len(s) > mercuremap.MaxTopicLen {
		s = s[:mercuremap.MaxTopicLen]
	}
	for len(s) > 0 && !validUTF8Tail(s) {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "a"
	}
	return s
}

func validUTF8Tail(s string) bool {
	_, err := mercuremap.Map(s)
	return err == nil
}

// mapped returns Map(s), failing the test on an error.
func mapped(t *testing.T, s string) string {
	t.Helper()
	m, err := mercuremap.Map(s)
	if err != nil {
		t.Fatalf("Map(%q) = %v", s, err)
	}
	return m
}

func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := make(map[string]string) // mapped name -> topic
	var short, long int
	for range 5000 {
		s := randomTopic(r)
		m := mapped(t, s)
		if err := topic.ValidateTopic(m); err != nil {
			t.Fatalf("topic.ValidateTopic(Map(%q)) = %v", s, err)
		}
		// Injective.
		if prev, ok := seen[m]; ok && prev != s {
			t.Fatalf("Map(%q) = Map(%q) = %q", prev, s, m)
		}
		seen[m] = s
		if m == mercuremap.RouteTopic {
			t.Fatalf("Map(%q) = RouteTopic", s)
		}
		isLong := strings.Contains(m, "__")
		if isLong {
			long++
			if len(m) > len(mercuremap.Prefix)+longPrefixMax+2+hashLen {
				t.Fatalf("long form Map(%q) = %q is %d bytes", s, m, len(m))
			}
			if _, ok := mercuremap.Unmap(m); ok {
				t.Fatalf("Unmap(long form %q) = _, true", m)
			}
			continue
		}
		short++
		// Round trip.
		if got, ok := mercuremap.Unmap(m); !ok || got != s {
			t.Fatalf("Unmap(Map(%q)) = %q, %v", s, got, ok)
		}
		// Prefix-preserving, at both ends and a few random cuts (every
		// cut would make this quadratic).
		for _, i := range []int{0, len(s), r.IntN(len(s) + 1), r.IntN(len(s) + 1)} {
			p, rest := escape(s[:i]), escape(s[i:])
			if m != mercuremap.Prefix+p+rest {
				t.Fatalf("Map(%q) = %q, but escape(%q) + escape(%q) = %q + %q", s, m, s[:i], s[i:], p, rest)
			}
		}
	}
	if short < 500 || long < 500 {
		t.Fatalf("random topics gave %d short and %d long forms; the generator no longer covers both", short, long)
	}
}

// escape is the escaping alone, written out from the design's rule for
// prefix checks: bytes of A-Z a-z 0-9 - . : / @ as is, others as _XX.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-.:/@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

func TestShortNeverHasDoubleUnderscore(t *testing.T) {
	// A _ in a short form is always followed by two hexadecimal digits, so
	// even topics full of _ never give "__", which marks long forms.
	for _, s := range []string{"_", "__", "___", "_5F", "a__b", "_" + strings.Repeat("_", 80)} {
		if m := mapped(t, s); strings.Contains(m, "__") {
			t.Errorf("Map(%q) = %q, contains __", s, m)
		}
	}
}

func TestAppendMapAllocs(t *testing.T) {
	buf := make([]byte, 0, topic.MaxLen)
	for _, s := range []string{"https://example.com/books/1", "https://example.com/café?q=a b#x_y"} {
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			if buf, err = mercuremap.AppendMap(buf[:0], s); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("AppendMap(buf, %q) allocates %v times, want 0", s, allocs)
		}
	}
}

func BenchmarkMap(b *testing.B) {
	for _, bm := range []struct{ name, topic string }{
		{"URL", "https://example.com/books/1"},
		{"Escapes", "https://example.com/café?q=a b#x_y"},
		{"LongForm", "https://example.com/" + strings.Repeat("a/", 200)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mercuremap.Map(bm.topic); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("AppendMap", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, topic.MaxLen)
		for b.Loop() {
			buf, _ = mercuremap.AppendMap(buf[:0], "https://example.com/café?q=a b#x_y")
		}
	})
}
