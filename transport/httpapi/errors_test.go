package httpapi_test

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCodesMatchProtocolDoc checks that the error codes declared as Code*
// constants here and in transport/auth are exactly the codes of the table
// in docs/protocol.md#error-codes, the contract clients program against.
func TestCodesMatchProtocolDoc(t *testing.T) {
	documented := docErrorCodes(t, filepath.Join("..", "..", "docs", "protocol.md"))
	declared := append(codeConstants(t, "."), codeConstants(t, filepath.Join("..", "auth"))...)
	slices.Sort(documented)
	slices.Sort(declared)
	if diff := cmp.Diff(documented, declared); diff != "" {
		t.Errorf("Code constants differ from docs/protocol.md#error-codes (-documented +declared):\n%s", diff)
	}
	if len(slices.Compact(slices.Clone(declared))) != len(declared) {
		t.Errorf("two Code constants have the same value: %q", declared)
	}
}

// docRowRE matches a row of the error table: | status | `code` | meaning |.
var docRowRE = regexp.MustCompile("^\\| *[0-9]{3} *\\| *`([a-z_]+)` *\\|")

// docErrorCodes returns the codes of the table under "## Error codes" in
// the markdown file at path.
func docErrorCodes(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var codes []string
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Error codes"
			continue
		}
		if m := docRowRE.FindStringSubmatch(line); in && m != nil {
			codes = append(codes, m[1])
		}
	}
	if len(codes) == 0 {
		t.Fatalf("%s: no error table found under \"## Error codes\"", path)
	}
	return codes
}

// codeConstants returns the values of the exported constants named Code*
// declared with a string literal in the non-test Go files of dir.
func codeConstants(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Code") || !id.IsExported() {
						continue
					}
					var lit *ast.BasicLit
					if i < len(vs.Values) {
						lit, _ = vs.Values[i].(*ast.BasicLit)
					}
					if lit == nil || lit.Kind != token.STRING {
						t.Fatalf("%s: %s is not a string literal", fset.Position(id.Pos()), id.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					codes = append(codes, v)
				}
			}
		}
	}
	return codes
}
