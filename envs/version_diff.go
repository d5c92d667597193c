package envs

import (
	"context"
	"strings"
)

// DiffOp is what a line of a diff does: kept, removed (only in the older
// document) or added (only in the newer one).
type DiffOp string

const (
	DiffSame    DiffOp = "same"
	DiffRemoved DiffOp = "removed"
	DiffAdded   DiffOp = "added"
)

// DiffLine is one line of a line diff, with its line numbers in the old
// and the new document (0 where it has none).
type DiffLine struct {
	Op       DiffOp
	Old, New int
	Text     string
}

// maxDiffCells bounds the work of one diff (lines of one document times
// lines of the other, once their common head and tail are set aside): a
// template is a few hundred lines; two huge ones are compared as a whole
// removal and addition rather than hold a replica's CPU.
const maxDiffCells = 4_000_000

// LineDiff is the line diff from a to b: the longest common subsequence of
// their lines kept, the rest removed and added, removals first in each
// changed stretch.
func LineDiff(a, b string) []DiffLine {
	x, y := splitLines(a), splitLines(b)
	var out []DiffLine
	// The common head and tail cost nothing to find and usually are most
	// of two versions.
	head := 0
	for head < len(x) && head < len(y) && x[head] == y[head] {
		head++
	}
	tail := 0
	for tail < len(x)-head && tail < len(y)-head && x[len(x)-1-tail] == y[len(y)-1-tail] {
		tail++
	}
	for i := range head {
		out = append(out, DiffLine{Op: DiffSame, Old: i + 1, New: i + 1, Text: x[i]})
	}
	mx, my := x[head:len(x)-tail], y[head:len(y)-tail]
	out = append(out, diffMiddle(mx, my, head)...)
	for i := range tail {
		oi, ni := len(x)-tail+i, len(y)-tail+i
		out = append(out, DiffLine{Op: DiffSame, Old: oi + 1, New: ni + 1, Text: x[oi]})
	}
	return out
}

// diffMiddle diffs x and y, which start after off common lines.
func diffMiddle(x, y []string, off int) []DiffLine {
	n, m := len(x), len(y)
	var out []DiffLine
	if n*m > maxDiffCells {
		for i, l := range x {
			out = append(out, DiffLine{Op: DiffRemoved, Old: off + i + 1, Text: l})
		}
		for j, l := range y {
			out = append(out, DiffLine{Op: DiffAdded, New: off + j + 1, Text: l})
		}
		return out
	}
	// lcs[i*(m+1)+j] is the length of the longest common subsequence of
	// x[i:] and y[j:].
	lcs := make([]int32, (n+1)*(m+1))
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i*(m+1)+j] = lcs[(i+1)*(m+1)+j+1] + 1
			} else {
				lcs[i*(m+1)+j] = max(lcs[(i+1)*(m+1)+j], lcs[i*(m+1)+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			out = append(out, DiffLine{Op: DiffSame, Old: off + i + 1, New: off + j + 1, Text: x[i]})
			i++
			j++
		case j == m || (i < n && lcs[(i+1)*(m+1)+j] >= lcs[i*(m+1)+j+1]):
			out = append(out, DiffLine{Op: DiffRemoved, Old: off + i + 1, Text: x[i]})
			i++
		default:
			out = append(out, DiffLine{Op: DiffAdded, New: off + j + 1, Text: y[j]})
			j++
		}
	}
	return out
}

// splitLines splits a document into lines without their line ends; a
// final line end does not start another line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// VersionDiff is the line diff between two versions of a template, as
// published (their template.yaml).
type VersionDiff struct {
	Template Template
	From, To Version
	Lines    []DiffLine
	// Added and Removed count the changed lines.
	Added, Removed int
}

// DiffVersions compares two versions of a template; a version that does
// not exist is a field error naming from or to.
func (s *Service) DiffVersions(ctx context.Context, name, from, to string) (*VersionDiff, error) {
	t, err := s.Template(ctx, name)
	if err != nil {
		return nil, err
	}
	d := &VersionDiff{Template: t}
	var fields []FieldError
	for _, p := range []struct {
		field, version string
		dst            *Version
	}{{"from", from, &d.From}, {"to", to, &d.To}} {
		found := false
		for _, v := range t.Versions {
			if v.Spec.Version == p.version {
				*p.dst, found = v, true
			}
		}
		if !found {
			fields = append(fields, FieldError{Field: p.field, Message: "no version " + truncate(p.version, 40) + " of " + name})
		}
	}
	if len(fields) > 0 {
		return nil, Invalid("versions to compare are not valid", fields...)
	}
	d.Lines = LineDiff(d.From.Source, d.To.Source)
	for _, l := range d.Lines {
		switch l.Op {
		case DiffAdded:
			d.Added++
		case DiffRemoved:
			d.Removed++
		}
	}
	return d, nil
}
