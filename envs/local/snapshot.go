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
	"regexp"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/envs"
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
		cand, err := readSnapshot(snapshotsDir, dataset, e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return snapshot{}, err
		}
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

// readSnapshot reads the manifest of one snapshot; an error wrapping
// fs.ErrNotExist when the directory has none (it is no snapshot).
func readSnapshot(snapshotsDir, dataset, id string) (snapshot, error) {
	dir := filepath.Join(snapshotsDir, dataset, id)
	b, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot{}, err
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("read manifest of snapshot %s/%s: %w", dataset, id, err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return snapshot{}, fmt.Errorf("read manifest of snapshot %s/%s: %w", dataset, id, err)
	}
	if m.TakenAt.IsZero() {
		return snapshot{}, fmt.Errorf("read manifest of snapshot %s/%s: taken_at is missing", dataset, id)
	}
	return snapshot{Dataset: dataset, ID: id, Dir: dir, TakenAt: m.TakenAt}, nil
}

// snapshotIDPattern keeps a pinned snapshot's id one path element (no "/",
// not "..") that is not a snapshot still being written (dot-named).
var snapshotIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// pinnedSnapshot finds the snapshot that name ("<dataset>/<id>", as
// FactSnapshotName records it) names among the dataset's: an
// *envs.SnapshotGoneError when it no longer exists, an envs.Error when it
// is not one of the dataset's at all. Never another snapshot.
func pinnedSnapshot(snapshotsDir, dataset, name string) (snapshot, error) {
	ds, id, ok := strings.Cut(name, "/")
	if !ok || ds != dataset || !snapshotIDPattern.MatchString(id) {
		return snapshot{}, envs.Errorf(envs.EInvalid, "%.200q is not a snapshot of the dataset %s, which this stack restores", name, dataset)
	}
	snap, err := readSnapshot(snapshotsDir, dataset, id)
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot{}, &envs.SnapshotGoneError{Snapshot: name, Dataset: dataset}
	}
	return snap, err
}

// PinSnapshot implements envs.SnapshotPinner: the snapshot is handed to
// Provision (ProvisionRequest.Snapshot), so the values stay as they are.
func (p *Provider) PinSnapshot(stack json.RawMessage, params map[string]string, name string) (map[string]string, error) {
	spec, err := parseStack(stack)
	if err != nil {
		return nil, err
	}
	if spec.Restore == nil {
		return nil, envs.Errorf(envs.EInvalid, "this stack restores no snapshot")
	}
	if ds, id, ok := strings.Cut(name, "/"); !ok || ds != spec.Restore.Snapshot || !snapshotIDPattern.MatchString(id) {
		return nil, envs.Errorf(envs.EInvalid, "%.200q is not a snapshot of the dataset %s, which this stack restores", name, spec.Restore.Snapshot)
	}
	return params, nil
}

// CheckSnapshot implements envs.SnapshotPinner.
func (p *Provider) CheckSnapshot(_ context.Context, stack json.RawMessage, name string) error {
	spec, err := parseStack(stack)
	if err != nil {
		return err
	}
	if spec.Restore == nil {
		return envs.Errorf(envs.EInvalid, "this stack restores no snapshot")
	}
	_, err = pinnedSnapshot(p.snapshotsDir, spec.Restore.Snapshot, name)
	return err
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
