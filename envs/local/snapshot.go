package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const manifestFile = "manifest.json"

// snapshot is one snapshot of a dataset: SnapshotsDir/<dataset>/<id>/.
type snapshot struct {
	Dataset string
	ID      string
	Dir     string
	TakenAt time.Time
}

// Name is how facts and events refer to the snapshot: "<dataset>/<id>".
func (s snapshot) Name() string { return s.Dataset + "/" + s.ID }

// manifest is the part of a snapshot's manifest.json the provider reads; the
// sample app writes more (files, checksums), which verify commands use.
type manifest struct {
	TakenAt time.Time `json:"taken_at"`
}

// latestSnapshot finds the dataset's snapshot with the newest taken_at (ties
// go to the greater id). Dot-named directories are snapshots still being
// written and directories without a manifest are not snapshots: both are
// skipped. An unreadable manifest is an error rather than skipped: skipping
// would silently restore an older snapshot than the operator expects.
func latestSnapshot(snapshotsDir, dataset string) (snapshot, error) {
	datasetDir := filepath.Join(snapshotsDir, dataset)
	entries, err := os.ReadDir(datasetDir)
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot{}, fmt.Errorf("dataset %q has no snapshot (nothing in %s)", dataset, datasetDir)
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("find latest snapshot of %s: %w", dataset, err)
	}
	var best snapshot
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(datasetDir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, manifestFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return snapshot{}, fmt.Errorf("read manifest of snapshot %s/%s: %w", dataset, e.Name(), err)
		}
		var m manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return snapshot{}, fmt.Errorf("read manifest of snapshot %s/%s: %w", dataset, e.Name(), err)
		}
		if m.TakenAt.IsZero() {
			return snapshot{}, fmt.Errorf("read manifest of snapshot %s/%s: taken_at is missing", dataset, e.Name())
		}
		cand := snapshot{Dataset: dataset, ID: e.Name(), Dir: dir, TakenAt: m.TakenAt}
		if best.ID == "" || cand.TakenAt.After(best.TakenAt) ||
			cand.TakenAt.Equal(best.TakenAt) && cand.ID > best.ID {
			best = cand
		}
	}
	if best.ID == "" {
		return snapshot{}, fmt.Errorf("dataset %q has no snapshot (nothing in %s)", dataset, datasetDir)
	}
	return best, nil
}

// copyTree copies the snapshot directory src into dst: directories, regular
// files and symbolic links (as links). Other file types are skipped.
func copyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(path, target)
		default:
			return nil
		}
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
