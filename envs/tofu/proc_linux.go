package tofu

import "syscall"

// sysProcAttr: a command dies with the portal (Pdeathsig), so a portal
// killed mid-apply leaves a stale lock to resume from, never a second
// apply running beside the resumed one.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
