package shop

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// VerifyResult is the outcome of comparing a database with a manifest.
type VerifyResult struct {
	// Summary describes the database as it is.
	Summary Summary
	// Mismatches lists every difference, one line each, naming the table
	// (or the overall checksum) at fault. Empty means verified.
	Mismatches []string
}

// OK reports whether the database matches the manifest.
func (r VerifyResult) OK() bool { return len(r.Mismatches) == 0 }

// Verify recomputes the row counts and checksums of db and compares them with
// m. A difference is not an error: it is reported in the result's Mismatches.
func Verify(ctx context.Context, db *sql.DB, m Manifest) (VerifyResult, error) {
	sum, err := Summarize(ctx, db)
	if err != nil {
		return VerifyResult{}, err
	}
	res := VerifyResult{Summary: sum}
	for _, table := range unionKeys(m.Tables, sum.Tables) {
		want, inManifest := m.Tables[table]
		got, inDB := sum.Tables[table]
		switch {
		case !inDB:
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("table %s: missing from the database (manifest has %d rows)", table, want))
		case !inManifest:
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("table %s: not in the manifest (database has %d rows)", table, got))
		case got != want:
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("table %s: %d rows, manifest has %d", table, got, want))
		case m.TableChecksums[table] != "" && m.TableChecksums[table] != sum.TableChecksums[table]:
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("table %s: contents differ: checksum %s, manifest has %s",
				table, sum.TableChecksums[table], m.TableChecksums[table]))
		}
	}
	if sum.Checksum != m.Checksum {
		res.Mismatches = append(res.Mismatches, fmt.Sprintf("checksum %s differs from the manifest's %s", sum.Checksum, m.Checksum))
	}
	return res, nil
}

func unionKeys(a, b map[string]int64) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
