package shop

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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
)

// Layout of a dataset directory, as the local provider's restore step reads
// it:
//
//	<snapshots dir>/<dataset>/<id>/shop.db
//	<snapshots dir>/<dataset>/<id>/manifest.json
//
// A snapshot is built in a dot-named temporary directory and renamed into
// place, so a directory named like an id always holds a complete snapshot.
const (
	// DBFile is the database file's name inside a snapshot.
	DBFile = "shop.db"
	// ManifestFile is the manifest's name inside a snapshot.
	ManifestFile = "manifest.json"
	// IDLayout formats a snapshot's taken-at time into its default id; ids
	// sort in time order.
	IDLayout = "20060102T150405Z"
	// ProductionDataset is the dataset the sample replica and DR templates
	// restore from.
	ProductionDataset = "shop-production"
)

// ErrNoSnapshot is returned by LatestSnapshot when a dataset has none.
var ErrNoSnapshot = errors.New("shop: no snapshot")

// Manifest describes one snapshot.
type Manifest struct {
	// Dataset is the base name of the dataset directory.
	Dataset string `json:"dataset"`
	ID      string `json:"id"`
	// TakenAt is when the copy was taken (RFC 3339, UTC, whole seconds).
	TakenAt time.Time             `json:"taken_at"`
	Files   map[string]FileDigest `json:"files"`
	// Tables maps each table to its row count.
	Tables map[string]int64 `json:"tables"`
	// Checksum covers every table's rows (see Summarize); it does not depend
	// on the file's page layout, so it still matches after a restore has
	// switched the copy to WAL mode.
	Checksum string `json:"checksum"`
	// TableChecksums lets verify name the table whose contents differ.
	TableChecksums map[string]string `json:"table_checksums,omitempty"`
}

// FileDigest identifies one file of a snapshot.
type FileDigest struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// SnapshotOptions control Snapshot.
type SnapshotOptions struct {
	// ID names the snapshot directory; empty means Now formatted with
	// IDLayout.
	ID string
	// Now is the taken-at time; zero means time.Now().
	Now time.Time
}

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Snapshot copies db consistently (VACUUM INTO) into datasetDir/<id>/shop.db
// and writes the manifest next to it. The snapshot appears atomically: it is
// assembled in a temporary directory and renamed into place.
func Snapshot(ctx context.Context, db *sql.DB, datasetDir string, opts SnapshotOptions) (Manifest, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	id := opts.ID
	if id == "" {
		id = now.Format(IDLayout)
	}
	if !validID.MatchString(id) {
		return Manifest{}, fmt.Errorf("shop: snapshot: invalid id %q (letters, digits, '.', '_' and '-', not starting with a symbol)", id)
	}
	datasetDir = filepath.Clean(datasetDir)
	final := filepath.Join(datasetDir, id)
	if _, err := os.Stat(final); err == nil {
		return Manifest{}, fmt.Errorf("shop: snapshot %s: already exists", final)
	}
	if err := os.MkdirAll(datasetDir, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("shop: snapshot %s: %w", final, err)
	}
	// The leading dot keeps readers looking for the latest snapshot away
	// from a half-written one.
	tmp, err := os.MkdirTemp(datasetDir, ".tmp-"+id+"-")
	if err != nil {
		return Manifest{}, fmt.Errorf("shop: snapshot %s: %w", final, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()

	m, err := buildSnapshot(ctx, db, tmp)
	if err != nil {
		return Manifest{}, fmt.Errorf("shop: snapshot %s: %w", final, err)
	}
	m.Dataset = filepath.Base(datasetDir)
	m.ID = id
	m.TakenAt = now
	if err := writeManifest(filepath.Join(tmp, ManifestFile), m); err != nil {
		return Manifest{}, fmt.Errorf("shop: snapshot %s: %w", final, err)
	}
	// MkdirTemp makes the directory private; a snapshot is ordinary data.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("shop: snapshot %s: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return Manifest{}, fmt.Errorf("shop: snapshot %s: %w", final, err)
	}
	done = true
	syncDir(datasetDir)
	return m, nil
}

// buildSnapshot copies db into dir and describes the copy. The counts and
// checksums are taken from the copy, not from db, which may have changed
// since.
func buildSnapshot(ctx context.Context, db *sql.DB, dir string) (Manifest, error) {
	path := filepath.Join(dir, DBFile)
	// VACUUM INTO writes a compact, transactionally consistent copy, even
	// while other connections write to the source.
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return Manifest{}, fmt.Errorf("copy database: %w", err)
	}
	copyDB, err := OpenReadOnly(path)
	if err != nil {
		return Manifest{}, err
	}
	sum, err := Summarize(ctx, copyDB)
	if cerr := copyDB.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close copy: %w", cerr)
	}
	if err != nil {
		return Manifest{}, err
	}
	// VACUUM INTO does not fsync its output; the rename that publishes the
	// snapshot must not overtake the data.
	fd, err := digestFile(path, true)
	if err != nil {
		return Manifest{}, err
	}
	return Manifest{
		Files:          map[string]FileDigest{DBFile: fd},
		Tables:         sum.Tables,
		Checksum:       sum.Checksum,
		TableChecksums: sum.TableChecksums,
	}, nil
}

func digestFile(path string, sync bool) (FileDigest, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return FileDigest{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileDigest{}, fmt.Errorf("read %s: %w", path, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return FileDigest{}, fmt.Errorf("sync %s: %w", path, err)
		}
	}
	return FileDigest{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

func writeManifest(path string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync manifest: %w", err)
	}
	return f.Close()
}

// syncDir makes a rename in dir durable. Best effort: not every platform can
// sync a directory, and the snapshot is complete either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ReadManifest reads a snapshot's manifest.json.
func ReadManifest(path string) (Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("shop: read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("shop: read manifest %s: %w", path, err)
	}
	if m.Checksum == "" || m.Tables == nil {
		return Manifest{}, fmt.Errorf("shop: read manifest %s: no checksum or tables: not a shop snapshot manifest", path)
	}
	return m, nil
}

// LatestSnapshot finds the newest complete snapshot in datasetDir (by
// taken_at, then id) and returns its directory and manifest. It returns
// ErrNoSnapshot when there is none, including when datasetDir does not exist.
func LatestSnapshot(datasetDir string) (dir string, m Manifest, err error) {
	entries, err := os.ReadDir(datasetDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", Manifest{}, fmt.Errorf("%w in %s", ErrNoSnapshot, datasetDir)
	}
	if err != nil {
		return "", Manifest{}, fmt.Errorf("shop: find latest snapshot: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(datasetDir, e.Name(), ManifestFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue // not a snapshot
		}
		cand, err := ReadManifest(path)
		if err != nil {
			// Refuse rather than skip: skipping would silently restore an
			// older snapshot than the operator expects.
			return "", Manifest{}, err
		}
		if dir == "" || cand.TakenAt.After(m.TakenAt) || cand.TakenAt.Equal(m.TakenAt) && e.Name() > filepath.Base(dir) {
			dir, m = filepath.Join(datasetDir, e.Name()), cand
		}
	}
	if dir == "" {
		return "", Manifest{}, fmt.Errorf("%w in %s", ErrNoSnapshot, datasetDir)
	}
	return dir, m, nil
}

// EnsureProductionSnapshot prepares what the sample replica and DR templates
// restore from, on Mayfly's first start: when snapshotsDir/shop-production
// has no snapshot yet, it creates the production database at
// dataDir/production/shop.db (unless it exists) and snapshots it, taken at
// now. It does nothing when a snapshot exists, so it is safe on every start.
func EnsureProductionSnapshot(dataDir, snapshotsDir string, now time.Time) (created bool, err error) {
	datasetDir := filepath.Join(snapshotsDir, ProductionDataset)
	_, _, err = LatestSnapshot(datasetDir)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNoSnapshot) {
		return false, err
	}

	ctx := context.Background()
	dbPath := filepath.Join(dataDir, "production", DBFile)
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		if err := createProductionDB(ctx, dbPath, now); err != nil {
			return false, err
		}
	} else if err != nil {
		return false, fmt.Errorf("shop: production database: %w", err)
	}

	db, err := Open(dbPath)
	if err != nil {
		return false, err
	}
	defer db.Close()
	if _, err := Snapshot(ctx, db, datasetDir, SnapshotOptions{Now: now}); err != nil {
		return false, err
	}
	return true, nil
}

// createProductionDB builds the production database next to path and renames
// it into place, so that a crash midway never leaves an empty "production"
// behind for the next start to snapshot.
func createProductionDB(ctx context.Context, path string, now time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("shop: create production database: %w", err)
	}
	tmp := path + ".partial"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("shop: create production database: %w", err)
		}
	}
	db, err := Open(tmp)
	if err != nil {
		return err
	}
	if err := MakeProduction(ctx, db, ProductionOptions{Seed: 1, AsOf: now}); err != nil {
		db.Close()
		return err
	}
	// Closing the last connection checkpoints the WAL into the file and
	// removes the -wal and -shm files, so the rename moves everything.
	if err := db.Close(); err != nil {
		return fmt.Errorf("shop: create production database: close: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("shop: create production database: %w", err)
	}
	return nil
}
