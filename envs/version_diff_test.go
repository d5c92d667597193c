package envs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

// render writes a diff the way a unified diff marks its lines.
func renderDiff(lines []envs.DiffLine) string {
	var b strings.Builder
	for _, l := range lines {
		mark := map[envs.DiffOp]string{envs.DiffSame: " ", envs.DiffRemoved: "-", envs.DiffAdded: "+"}[l.Op]
		fmt.Fprintf(&b, "%s%d,%d %s\n", mark, l.Old, l.New, l.Text)
	}
	return b.String()
}

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"identical", "a\nb\n", "a\nb\n", " 1,1 a\n 2,2 b\n"},
		{"both empty", "", "", ""},
		{"from nothing", "", "a\n", "+0,1 a\n"},
		{"a line changed", "name: x\nversion: 1.0.0\nkind: demo\n", "name: x\nversion: 1.1.0\nkind: demo\n",
			" 1,1 name: x\n-2,0 version: 1.0.0\n+0,2 version: 1.1.0\n 3,3 kind: demo\n"},
		{"a line inserted", "a\nc\n", "a\nb\nc\n", " 1,1 a\n+0,2 b\n 2,3 c\n"},
		{"a line removed", "a\nb\nc\n", "a\nc\n", " 1,1 a\n-2,0 b\n 3,2 c\n"},
		{"moved lines keep the longest common run", "a\nb\nc\nd\n", "b\nc\nd\na\n",
			"-1,0 a\n 2,1 b\n 3,2 c\n 4,3 d\n+0,4 a\n"},
		{"CRLF and no final newline", "a\r\nb", "a\nb\n", " 1,1 a\n 2,2 b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderDiff(envs.LineDiff(tt.a, tt.b)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	t.Run("too large to compare line by line", func(t *testing.T) {
		var a, b strings.Builder
		for i := range 3000 {
			fmt.Fprintf(&a, "a%d\n", i)
			fmt.Fprintf(&b, "b%d\n", i)
		}
		lines := envs.LineDiff(a.String(), b.String())
		if len(lines) != 6000 || lines[0].Op != envs.DiffRemoved || lines[5999].Op != envs.DiffAdded {
			t.Errorf("%d lines, first %v, last %v: want every line removed, then added", len(lines), lines[0], lines[len(lines)-1])
		}
	})
}
