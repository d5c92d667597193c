package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive lock on the data directory for the life of
// the process: two portals on one SQLite file and one stacks directory
// would each think the other's running jobs and stacks were orphans.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "mayfly.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another Mayfly is already running with the data directory %s", dir)
	}
	return f, nil
}
