//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hideSecrets keeps the portal's secrets out of what other processes can
// read about it, once the configuration is read: it overwrites them in the
// environment block and argument list as /proc/self/environ and cmdline
// show them (through /proc/self/mem, at the addresses /proc/self/stat
// gives), unsets them, and makes the process non-dumpable (its /proc files
// then belong to root, and processes of its user without CAP_SYS_PTRACE
// may not read its memory or attach to it). An error is for a warning:
// the portal runs on.
func hideSecrets(cfg *Config) error {
	cloneSecrets(cfg)
	kept := keepLibraryEnv()
	var errs []error
	if err := scrubProcMem(); err != nil {
		errs = append(errs, err)
	}
	restoreEnv(kept)
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		errs = append(errs, fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err))
	}
	return errors.Join(errs...)
}

// scrubProcMem masks the secret values in the process's own argument and
// environment blocks.
func scrubProcMem() error {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return fmt.Errorf("read /proc/self/stat: %w", err)
	}
	// Fields 48-51 are arg_start, arg_end, env_start and env_end; field 2
	// (the command name) may hold spaces, so count after its last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 51-2 {
		return errors.New("/proc/self/stat: too few fields for the argument and environment addresses")
	}
	var addr [4]uint64
	for i := range addr {
		if addr[i], err = strconv.ParseUint(f[48-3+i], 10, 64); err != nil {
			return fmt.Errorf("/proc/self/stat field %d: %w", 48+i, err)
		}
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open /proc/self/mem: %w", err)
	}
	defer mem.Close()
	for _, region := range []struct {
		start, end uint64
		ranges     func([]byte) [][2]int
	}{{addr[0], addr[1], argSecretRanges}, {addr[2], addr[3], envSecretRanges}} {
		if region.end <= region.start {
			continue
		}
		block := make([]byte, region.end-region.start)
		if _, err := mem.ReadAt(block, int64(region.start)); err != nil {
			return fmt.Errorf("read own arguments and environment: %w", err)
		}
		ranges := region.ranges(block)
		if len(ranges) == 0 {
			continue
		}
		mask(block, ranges)
		if _, err := mem.WriteAt(block, int64(region.start)); err != nil {
			return fmt.Errorf("overwrite own arguments and environment: %w", err)
		}
	}
	return nil
}
