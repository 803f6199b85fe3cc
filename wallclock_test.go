package handoff_test

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// A jump of the wall clock (NTP stepping it, an operator's `date -s`) can
// only disturb a deadline or a duration built from a time that carries no
// monotonic reading: one made by time.Unix, time.Date or time.Parse, or
// stripped by Round(0), or compared as Unix() numbers. time.Now() and
// everything derived from it (Add, Sub, Since, Until, timers, tickers,
// context deadlines, net.Conn deadlines) use the monotonic clock. The wall
// clock cannot be stepped inside a test's namespace (time namespaces cover
// CLOCK_MONOTONIC and CLOCK_BOOTTIME only), so this test holds the line in
// the code instead: it fails on every wall-clock-only construction in the
// module's non-test code, except the few below, each safe whatever the
// clock does.
func TestNoDeadlineFromTheWallClock(t *testing.T) {
	allowed := map[string]string{
		"time.Unix(1, 0)":        "a deadline in the past, to wake a blocked read or accept: it stays in the past after any jump",
		"at.UnixNano()":          "internal/metrics.Timestamp: the last upgrade's time (the supervisor's and the library's), reported to Prometheus as a wall-clock timestamp by design",
		"time.Now().UnixMicro()": "internal/launch: MONOTONIC_USEC's fallback if clock_gettime(CLOCK_MONOTONIC) fails",
	}
	wallOnly := map[string]bool{"Unix": true, "UnixMilli": true, "UnixMicro": true, "Date": true, "Parse": true, "ParseInLocation": true}
	asNumber := map[string]bool{"Unix": true, "UnixNano": true, "UnixMilli": true, "UnixMicro": true}
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, _ := sel.X.(*ast.Ident)
			name := sel.Sel.Name
			bad := pkg != nil && pkg.Name == "time" && wallOnly[name] ||
				(pkg == nil || pkg.Name != "time") && asNumber[name] && len(call.Args) == 0 ||
				name == "Round" && len(call.Args) == 1 && isZero(call.Args[0])
			if !bad {
				return true
			}
			src := exprString(fset, path, call)
			if _, ok := allowed[src]; !ok {
				t.Errorf("%s: %s builds a time without a monotonic reading: a wall clock jump moves what it measures", fset.Position(call.Pos()), src)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files: the walk missed the module", checked)
	}
}

func isZero(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Value == "0"
}

// exprString returns the source text of e.
func exprString(fset *token.FileSet, path string, e ast.Expr) string {
	var b strings.Builder
	if err := printer.Fprint(&b, fset, e); err != nil {
		return path
	}
	return b.String()
}
