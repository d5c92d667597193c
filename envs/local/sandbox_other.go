//go:build !linux

package local

import (
	"errors"
	"os/exec"
)

// landlock is Linux's; elsewhere there is no sandbox.
type landlock struct {
	abi    int
	scoped uint64
}

func newLandlock() *landlock { return nil }

func (l *landlock) version() int { return 0 }

func (l *landlock) start(*exec.Cmd, []grant) error {
	return errors.New("no sandbox on this system")
}
