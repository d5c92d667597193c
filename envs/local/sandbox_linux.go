//go:build linux

package local

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// landlock applies the sandbox's policy with Landlock (Linux 5.13+).
type landlock struct {
	abi int
	// fs is every filesystem right this kernel knows: each is denied
	// unless a grant allows it.
	fs uint64
	// scoped keeps stack processes from signalling, or connecting to the
	// abstract unix sockets of, any process outside their own domain: the
	// portal and the other stacks (ABI 6+).
	scoped uint64
}

const (
	llRead  = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	llFile  = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	llNodes = unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK
)

// newLandlock returns nil when the kernel has no Landlock (too old, or
// not enabled among its security modules).
func newLandlock() *landlock {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 || int(abi) < 1 {
		return nil
	}
	l := &landlock{abi: int(abi), fs: 1<<13 - 1} // ABI 1: EXECUTE through MAKE_SYM
	if l.abi >= 2 {
		l.fs |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if l.abi >= 3 {
		l.fs |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if l.abi >= 5 {
		l.fs |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	if l.abi >= 6 {
		l.scoped = unix.LANDLOCK_SCOPE_SIGNAL | unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
	}
	return l
}

func (l *landlock) version() int {
	if l == nil {
		return 0
	}
	return l.abi
}

// rights turns a grant's access into Landlock rights for a directory or
// another kind of file (which takes file rights only).
func (l *landlock) rights(a access, dir bool) uint64 {
	var r uint64
	switch a {
	case accessList:
		r = unix.LANDLOCK_ACCESS_FS_READ_DIR
	case accessRead:
		r = llRead
	case accessWrite:
		r = l.fs &^ llNodes
	}
	if !dir {
		r &= llFile
	}
	return r & l.fs
}

// ruleset builds a Landlock ruleset from the grants. A grant whose path
// has gone (or is a symbolic link) is left out.
func (l *landlock) ruleset(grants []grant) (int, error) {
	attr := unix.LandlockRulesetAttr{Handled_access_fs: l.fs, Scoped: l.scoped}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return -1, fmt.Errorf("create landlock ruleset: %w", errno)
	}
	for _, g := range grants {
		if err := l.add(int(fd), g); err != nil {
			unix.Close(int(fd))
			return -1, err
		}
	}
	return int(fd), nil
}

func (l *landlock) add(ruleset int, g grant) error {
	fd, err := unix.Open(g.path, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil // gone since the policy was computed
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	rule := unix.LandlockPathBeneathAttr{
		Allowed_access: l.rights(g.access, st.Mode&unix.S_IFMT == unix.S_IFDIR),
		Parent_fd:      int32(fd),
	}
	if rule.Allowed_access == 0 {
		return nil
	}
	_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("landlock rule for %s: %w", g.path, errno)
	}
	return nil
}

// start starts cmd inside a new Landlock domain built from the grants.
//
// Go runs no code of ours between fork and exec, but a Landlock domain
// belongs to a thread and is inherited by what it forks, and exec.Cmd
// forks on the calling thread. So a goroutine on a thread of its own (see
// onSpareThread) restricts that thread (no_new_privs first, which
// landlock_restrict_self requires of an unprivileged caller and which
// keeps setuid programs from shedding the domain) and starts cmd from it;
// the thread then ends with the goroutine. New threads are cloned from the
// runtime's template thread, never from a locked one.
// TestSandboxLeavesThePortalAlone checks that no thread of the portal
// keeps the restriction.
func (l *landlock) start(cmd *exec.Cmd, grants []grant) error {
	ruleset, err := l.ruleset(grants)
	if err != nil {
		return err
	}
	defer unix.Close(ruleset)
	return onSpareThread(func() error {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
		if err := dropCapabilities(); err != nil {
			return err
		}
		if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0); errno != 0 {
			return fmt.Errorf("landlock_restrict_self: %w", errno)
		}
		return cmd.Start()
	})
}

// onSpareThread runs f on an OS thread locked to it that is not the main
// thread, and ends that thread afterwards: a goroutine that returns
// without unlocking its thread takes the thread with it.
//
// The main thread is never ended, only parked for good, and its
// credentials are what other processes see of the whole process (a stack
// whose domain it held could read the portal's /proc files and signal it).
// While a goroutine holds the main thread locked, the thread runs nothing
// else, so a goroutine started then gets another one.
func onSpareThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			errc <- f()
			return // still locked: the runtime ends this thread
		}
		defer runtime.UnlockOSThread()
		errc <- onSpareThread(f)
	}()
	return <-errc
}

// dropCapabilities leaves what this thread execs without any capability,
// also when the portal runs as root: a root stack process keeps uid 0 (so
// it still owns the files the portal made for it), but CAP_SYS_MODULE,
// CAP_SYS_ADMIN, CAP_NET_RAW, CAP_DAC_OVERRIDE and the rest would let it
// step around the filesystem policy (load a module, open a raw socket,
// read other users' files). At exec root gets its inheritable set and
// its bounding set as permitted capabilities, so both are emptied, and
// the ambient set too. A portal without CAP_SETPCAP has no capabilities
// to hand on (no_new_privs keeps setuid programs from adding any), so
// there is nothing to drop.
func dropCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if data[0].Effective&(1<<unix.CAP_SETPCAP) != 0 {
		for c := 0; c <= lastCapability(); c++ {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
			}
		}
	}
	// The ambient set needs no privilege to clear (and is empty unless
	// the portal was started with one).
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if data[0].Inheritable != 0 || data[1].Inheritable != 0 {
		data[0].Inheritable, data[1].Inheritable = 0, 0
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("clear inheritable capabilities: %w", err)
		}
	}
	return nil
}

// lastCapability is the highest capability number this kernel knows.
func lastCapability() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}
