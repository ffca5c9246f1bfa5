package docs

import (
	"bufio"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sedcc/dcc/"

// projectDirs are the top-level directories whose packages belong to this module.
var projectDirs = map[string]bool{"cmd": true, "docs": true, "fhir": true, "issuer": true, "registry": true, "signing": true}

// TestArchitecture: docs/architecture.md has a row for every package, and no package imports
// what its row forbids.
func TestArchitecture(t *testing.T) {
	rules := readRules(t)
	pkgs := packages(t)
	for dir, imports := range pkgs {
		forbidden, ok := rules[dir]
		if !ok {
			t.Errorf("docs/architecture.md has no row for %s", dir)
			continue
		}
		for _, imp := range imports {
			for _, f := range forbidden {
				if matches(f, imp) {
					t.Errorf("%s imports %s, which docs/architecture.md forbids (%s)", dir, imp, f)
				}
			}
		}
	}
	for dir := range rules {
		if _, ok := pkgs[dir]; !ok {
			t.Errorf("docs/architecture.md has a row for %s, which is no package", dir)
		}
	}
}

var cell = regexp.MustCompile("`([^`]+)`")

// readRules reads the package table: package -> forbidden import patterns (full import paths,
// with a trailing "/..." for a tree).
func readRules(t *testing.T) map[string][]string {
	f, err := os.Open("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(strings.Trim(sc.Text(), "|"), "|")
		if len(cells) != 3 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`") {
			continue
		}
		pkg := strings.Trim(strings.TrimSpace(cells[0]), "`")
		var forbidden []string
		for _, m := range cell.FindAllStringSubmatch(cells[2], -1) {
			forbidden = append(forbidden, fullPath(m[1]))
		}
		rules[pkg] = forbidden
	}
	if len(rules) < 20 {
		t.Fatalf("read only %d package rows from architecture.md", len(rules))
	}
	return rules
}

func fullPath(p string) string {
	if projectDirs[strings.SplitN(p, "/", 2)[0]] {
		return module + p
	}
	return p
}

func matches(pattern, imp string) bool {
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return imp == tree || strings.HasPrefix(imp, tree+"/")
	}
	return imp == pattern
}

// packages maps every package directory (relative to the module root) to the imports of its
// non-test files.
func packages(t *testing.T) map[string][]string {
	out := map[string][]string{}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != ".." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin" || name == "data") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel("..", filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if !projectDirs[strings.SplitN(rel, "/", 2)[0]] {
			return nil
		}
		if strings.HasSuffix(path, "_test.go") {
			// A package of tests only has a row too; test imports are not checked.
			if _, ok := out[rel]; !ok {
				out[rel] = nil
			}
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if _, ok := out[rel]; !ok {
			out[rel] = nil
		}
		for _, is := range f.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			out[rel] = append(out[rel], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
