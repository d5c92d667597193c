//go:build !linux

package tofu

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
