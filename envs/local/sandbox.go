package local

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Sandbox settings (Config.Sandbox).
const (
	// SandboxAuto sandboxes stack processes when the kernel can, and warns
	// once when it cannot.
	SandboxAuto = "auto"
	// SandboxOn refuses to start stack processes without the sandbox.
	SandboxOn = "on"
	// SandboxOff starts them as the portal's user can, as before.
	SandboxOff = "off"
)

// access is what a grant of the sandbox's policy allows beneath its path.
type access int

const (
	// accessList lists directories, nothing more.
	accessList access = iota
	// accessRead reads and executes files and lists directories.
	accessRead
	// accessWrite does everything but create device nodes.
	accessWrite
)

// grant is one rule of a stack process's filesystem policy.
type grant struct {
	path   string
	access access
}

// devices are the only device files a stack process may open: /dev is
// not granted as a whole, since a disk device read raw holds every file of
// the data directory (for a portal that runs as root).
var (
	deviceFiles = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx"}
	deviceDirs  = []string{"/dev/shm", "/dev/pts", "/dev/mqueue"}
)

// sandboxPolicy is what a process of the stack working in workDir may
// reach: read and execute everywhere except the hidden paths (and /dev),
// read-write in its work directory, in /tmp unless /tmp holds a hidden
// path, and on a few devices. hidden and workDir are real paths (see
// realPath).
//
// Landlock can only allow, never deny, so "everywhere except the hidden
// paths" is every entry of each directory on the way from / to a hidden
// path that is neither hidden nor itself on such a way (that one is walked
// in turn). Symbolic links are never granted: access through one is
// judged by where it leads, so a link into a hidden path leads nowhere.
// Entries made after the policy was computed are not granted either.
func sandboxPolicy(hidden []string, workDir string) []grant {
	ways := map[string]bool{"/": true}
	for _, h := range hidden {
		for d := filepath.Dir(h); ; d = filepath.Dir(d) {
			ways[d] = true
			if d == "/" {
				break
			}
		}
	}
	isHidden := func(p string) bool {
		return slices.ContainsFunc(hidden, func(h string) bool { return within(p, h) })
	}
	var grants []grant
	for _, d := range slices.Sorted(maps.Keys(ways)) {
		if isHidden(d) {
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			if ways[p] || isHidden(p) || p == "/dev" || e.Type()&fs.ModeSymlink != 0 {
				continue
			}
			grants = append(grants, grant{p, accessRead})
		}
	}
	grants = append(grants, grant{"/dev", accessList})
	for _, f := range deviceFiles {
		grants = append(grants, grant{f, accessWrite})
	}
	for _, d := range deviceDirs {
		grants = append(grants, grant{d, accessWrite})
	}
	if tmp, err := realPath("/tmp"); err == nil && !ways[tmp] && !isHidden(tmp) {
		grants = append(grants, grant{tmp, accessWrite})
	}
	return append(grants, grant{workDir, accessWrite})
}

// within reports whether p is dir or beneath it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// realPath is the absolute path p names with every symbolic link resolved;
// the part of it that does not exist (yet) is kept as written.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for d := abs; ; d = filepath.Dir(d) {
		real, err := filepath.EvalSymlinks(d)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) || d == "/" {
			return "", err
		}
		rest = append([]string{filepath.Base(d)}, rest...)
	}
}
