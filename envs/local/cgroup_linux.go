//go:build linux

package local

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupTree is the cgroup v2 directory the stacks' cgroups are made in:
// <the portal's own cgroup>/mayfly-stacks. A stack's cgroup holds every
// process it ever started, whatever became of their process groups and
// environment, so a destroy can stop them all.
type cgroupTree struct {
	base string
	// prefix tells stacks of two installations (two data directories) on
	// one host apart, whose handles might be the same.
	prefix string
}

// findCgroupTree finds the cgroup2 mount and the portal's own cgroup, and
// creates mayfly-stacks in it; it fails when there is no cgroup2 or the
// portal may not write there (no delegation to its user, say).
func findCgroupTree(root string) (*cgroupTree, error) {
	own, err := ownCgroup()
	if err != nil {
		return nil, err
	}
	mount, mountRoot, err := cgroup2Mount()
	if err != nil {
		return nil, err
	}
	rel, ok := strings.CutPrefix(own, mountRoot)
	if !ok {
		return nil, fmt.Errorf("own cgroup %s is not under the cgroup2 mount's root %s", own, mountRoot)
	}
	base := filepath.Join(mount, rel, "mayfly-stacks")
	if err := os.Mkdir(base, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// A cgroup we cannot kill at once is not worth having: cgroup.kill
	// came with Linux 5.14.
	probe := filepath.Join(base, "probe-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	defer os.Remove(probe)
	if _, err := os.Stat(filepath.Join(probe, "cgroup.kill")); err != nil {
		return nil, fmt.Errorf("no cgroup.kill (Linux 5.14+): %w", err)
	}
	sum := sha256.Sum256([]byte(root))
	return &cgroupTree{base: base, prefix: hex.EncodeToString(sum[:4])}, nil
}

// ownCgroup reads the portal's cgroup v2 path from /proc/self/cgroup.
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path, nil
		}
	}
	return "", errors.New("no cgroup v2 entry in /proc/self/cgroup")
}

// cgroup2Mount finds the cgroup2 mount point in /proc/self/mountinfo, and
// the cgroup its root shows (not / inside a container that mounted only
// its own part of the tree).
func cgroup2Mount() (mount, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mount-point options... - fstype source super-options
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return unescapeMount(fields[4]), unescapeMount(fields[3]), nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	return "", "", errors.New("no cgroup2 mount")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// path is where the stack's cgroup goes.
func (c *cgroupTree) path(handle string) string {
	return filepath.Join(c.base, c.prefix+"-"+handle)
}

// commandCgroup is the sub-cgroup a stack's setup and verify commands run
// in, so that what a command leaves behind is killed when it ends without
// touching the services.
func commandCgroup(stack string) string { return filepath.Join(stack, "command") }

func createCgroup(path string) error {
	if err := os.Mkdir(path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create cgroup: %w", err)
	}
	return nil
}

// startInCgroup starts cmd straight into the cgroup at path
// (CLONE_INTO_CGROUP): a process is never outside it, not even for the
// moment between fork and a write to cgroup.procs.
func startInCgroup(cmd *exec.Cmd, path string, start func(*exec.Cmd) error) error {
	fd, err := unix.Open(path, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup: %w", err)
	}
	defer unix.Close(fd)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = fd
	return start(cmd)
}

// killCgroup kills every process in the cgroup at path and its children
// (cgroup.kill), waits up to wait for them to be gone and removes the
// cgroups. It reports whether nothing is left; a cgroup that does not
// exist is gone.
func killCgroup(ctx context.Context, path string, wait time.Duration) (bool, error) {
	if path == "" {
		return true, nil
	}
	if err := os.WriteFile(filepath.Join(path, "cgroup.kill"), []byte("1"), 0); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
				return true, nil
			}
		}
		return false, fmt.Errorf("kill cgroup %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for populated(path) {
		select {
		case <-ctx.Done():
			return false, nil
		case <-tick.C:
		}
	}
	return true, removeCgroup(path)
}

// populated reads cgroup.events: "populated 1" while a process is in the
// cgroup or beneath it.
func populated(path string) bool {
	b, err := os.ReadFile(filepath.Join(path, "cgroup.events"))
	if err != nil {
		return false
	}
	return strings.Contains(string(b), "populated 1")
}

// removeCgroup removes an empty cgroup and its children, deepest first
// (rmdir is how a cgroup goes; the files in it are the kernel's).
func removeCgroup(path string) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", path, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroup(filepath.Join(path, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove cgroup %s: %w", path, err)
	}
	return nil
}

// isStackCgroup reports whether path is a stack cgroup for handle as
// cgroupTree.path makes them: <8 hex>-<handle> in a mayfly-stacks
// directory of a cgroup2 filesystem.
func isStackCgroup(path, handle string) bool {
	name, ok := strings.CutSuffix(filepath.Base(path), "-"+handle)
	if !ok || len(name) != 8 || strings.Trim(name, "0123456789abcdef") != "" {
		return false
	}
	parent := filepath.Dir(path)
	if filepath.Base(parent) != "mayfly-stacks" || filepath.Clean(path) != path {
		return false
	}
	var fs unix.Statfs_t
	return unix.Statfs(parent, &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC
}

// stopCgroup stops every process in the cgroup at path and beneath it:
// SIGTERM to each, up to grace for them to exit, then cgroup.kill; the
// cgroups are removed. It reports whether nothing is left.
func stopCgroup(ctx context.Context, path string, grace time.Duration) bool {
	if pids := cgroupTreeProcs(path); len(pids) > 0 {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		graceCtx, cancel := context.WithTimeout(ctx, grace)
		defer cancel()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	wait:
		for populated(path) {
			select {
			case <-graceCtx.Done():
				break wait
			case <-tick.C:
			}
		}
	}
	// Whatever ctx says: SIGKILL cannot be ignored, and the wait is bounded.
	gone, err := killCgroup(context.Background(), path, 3*time.Second)
	return gone && err == nil
}

// cgroupTreeProcs lists the processes in the cgroup at path and in its
// children.
func cgroupTreeProcs(path string) []int {
	var pids []int
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}
