package local

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Processes lists the live processes of a stack, found through /proc by
// the MAYFLY_STACK_ID every stack process carries in its environment, or,
// in a process started before stacks had ids of their own (it has no
// MAYFLY_STACK_ID), its MAYFLY_ENVIRONMENT_ID: two stacks of one
// environment (a replace) are told apart. Zombies, already dead and
// waiting for their parent, are left out. Where there is no /proc it
// finds nothing.
func Processes(handle string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	marker := []byte("MAYFLY_STACK_ID=" + handle + "\x00")
	legacy := []byte("MAYFLY_ENVIRONMENT_ID=" + handle + "\x00")
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !hasVar(env, marker) && (hasVar(env, []byte("MAYFLY_STACK_ID=")) || !hasVar(env, legacy)) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// hasVar reports whether a NUL-separated environment holds an entry
// starting with prefix.
func hasVar(env, prefix []byte) bool {
	return bytes.HasPrefix(env, prefix) || bytes.Contains(env, append([]byte{0}, prefix...))
}

// killStrays kills processes of a stack that stack.json does not know: a
// portal killed between starting a process and recording it leaves such a
// process behind, and nothing else would ever stop it. Each runs in its
// own process group, so the group is killed with it. It returns the pids
// it signalled.
func killStrays(handle string) []int {
	pids := Processes(handle)
	for _, pid := range pids {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return pids
}

func cmpOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
