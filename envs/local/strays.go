package local

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Processes lists the live processes of a stack, found through /proc by
// the MAYFLY_ENVIRONMENT_ID every stack process carries in its environment
// (zombies, already dead and waiting for their parent, are left out).
// Where there is no /proc it finds nothing.
func Processes(handle string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	marker := []byte("MAYFLY_ENVIRONMENT_ID=" + handle + "\x00")
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.HasPrefix(env, marker) && !bytes.Contains(env, append([]byte{0}, marker...)) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
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
