//go:build !linux

package local

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// cgroupTree is Linux's; elsewhere stacks are tracked by their processes.
type cgroupTree struct{ base string }

func findCgroupTree(string) (*cgroupTree, error) { return nil, errors.New("no cgroups on this system") }

func (c *cgroupTree) path(string) string { return "" }

func commandCgroup(string) string { return "" }

func createCgroup(string) error { return errors.New("no cgroups on this system") }

func startInCgroup(cmd *exec.Cmd, _ string, start func(*exec.Cmd) error) error { return start(cmd) }

func killCgroup(context.Context, string, time.Duration) (bool, error) { return true, nil }

func isStackCgroup(string, string) bool { return false }

func stopCgroup(context.Context, string, time.Duration) bool { return true }

func cgroupTreeProcs(string) []int { return nil }
