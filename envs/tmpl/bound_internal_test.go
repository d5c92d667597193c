package tmpl

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// printfBound never says less than fmt.Sprintf makes, whatever the verbs,
// flags, widths, precisions, argument indexes and arguments.
func TestPrintfBoundIsAnUpperBound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(s string) string { i := r.IntN(len(s)); return s[i : i+1] }
	args := []any{"", "héllo\x00\"world\"", strings.Repeat("\x01é", 300), 0, -42, math.MaxInt64, 3.14, math.MaxFloat64,
		-math.SmallestNonzeroFloat64, true, map[string]string{"a": "\x00", "é": "b"}, []int{1, 2, 3}, nil, uint8(200)}
	for range 20000 {
		var f strings.Builder
		for range 1 + r.IntN(4) {
			f.WriteString(pick("ab %"))
			f.WriteByte('%')
			for range r.IntN(3) {
				f.WriteString(pick("#0+- "))
			}
			if r.IntN(4) == 0 {
				fmt.Fprintf(&f, "[%d]", r.IntN(len(args)+2))
			}
			switch r.IntN(3) {
			case 0:
				fmt.Fprintf(&f, "%d", r.IntN(300))
			case 1:
				f.WriteByte('*')
			}
			if r.IntN(2) == 0 {
				fmt.Fprintf(&f, ".%d", r.IntN(300))
			}
			f.WriteString(pick("vsdqxXeEfgGbcoOUTtp%"))
		}
		a := make([]any, r.IntN(5))
		for i := range a {
			a[i] = args[r.IntN(len(args))]
		}
		if r.IntN(3) == 0 {
			a = append(a, r.IntN(500))
		}
		got, bound := len(fmt.Sprintf(f.String(), a...)), printfBound(f.String(), a)
		if got > bound {
			t.Fatalf("Sprintf(%q, %#v) is %d bytes, bound %d", f.String(), a, got, bound)
		}
	}
}

// The bounds of the other string functions hold for awkward arguments.
func TestFuncBoundsAreUpperBounds(t *testing.T) {
	args := []any{"", "<a href='x'>&\"\x00\u2028é", strings.Repeat("\x7f<", 50), -42, math.MaxFloat64, 1e-320, true, nil,
		map[string]string{"<": "\x00", "é": "&"}, []any{nil, 1.5, "x"}, struct{ A, b string }{"<", ">"}}
	b := NewBudget(DefaultLimits)
	f := b.funcs()
	for i := range args {
		for j := range args {
			a := []any{args[i], args[j], args[(i+j)%len(args)]}
			for name, bound := range map[string]int{"print": argsSize(a), "println": argsSize(a) + 1,
				"html": 6 * argsSize(a), "js": 6 * argsSize(a), "urlquery": 3 * argsSize(a)} {
				out, err := f[name].(func(...any) (string, error))(a...)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) > bound {
					t.Errorf("%s(%#v) is %d bytes, bound %d", name, a, len(out), bound)
				}
			}
		}
	}
}
