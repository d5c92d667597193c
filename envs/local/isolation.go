package local

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/mayflyhq/mayfly/envs"
)

// tmpDirName is each stack's TMPDIR inside its work dir: the sandbox
// grants /tmp only when it holds nothing hidden, and stacks should not
// share one anyway.
const tmpDirName = "tmp"

// isolate sets up what keeps stack processes from the portal's secrets:
// the sandbox, the cgroups and the sealer, logging once what is missing.
func (p *Provider) isolate(cfg Config) error {
	var err error
	if p.realRoot, err = realPath(p.root); err != nil {
		return fmt.Errorf("local: resolve %s: %w", p.root, err)
	}
	for _, h := range cfg.Hidden {
		real, err := realPath(h)
		if err != nil {
			return fmt.Errorf("local: resolve hidden path %s: %w", h, err)
		}
		p.hidden = append(p.hidden, real)
	}

	switch cfg.Sandbox {
	case "", SandboxAuto, SandboxOn:
		p.landlock = newLandlock()
		switch {
		case p.landlock == nil && cfg.Sandbox == SandboxOn:
			p.sandboxErr = "The local provider's sandbox is required (--local-sandbox on) but this kernel has no Landlock: no stack is started."
			p.logger.Error("local: " + p.sandboxErr)
		case p.landlock == nil:
			p.logger.Warn("local: this kernel has no Landlock: stack processes run unsandboxed and can read the portal's data directory, " +
				"secret key and database (--local-sandbox off hides this warning; on refuses to start stacks)")
		case p.landlock.scoped == 0:
			p.logger.Info("local: stack processes run in a Landlock sandbox, but this kernel's (ABI < 6) cannot keep them from signalling the portal",
				"landlock_abi", p.landlock.abi)
		default:
			p.logger.Info("local: stack processes run in a Landlock sandbox", "landlock_abi", p.landlock.abi)
		}
	case SandboxOff:
	default:
		return fmt.Errorf("local: Sandbox %q: must be %s, %s or %s", cfg.Sandbox, SandboxAuto, SandboxOn, SandboxOff)
	}

	switch cfg.Cgroups {
	case "", "auto":
		tree, err := findCgroupTree(p.realRoot)
		if err != nil {
			p.logger.Warn("local: no writable cgroup v2: a stack process that leaves its process group and outlives its parent survives destroy",
				"reason", err.Error())
		} else {
			p.cgroups = tree
			p.logger.Info("local: each stack is tracked in a cgroup", "cgroups", tree.base)
		}
	case "off":
	default:
		return fmt.Errorf("local: Cgroups %q: must be auto or off", cfg.Cgroups)
	}

	p.sealer = cfg.Sealer
	if p.sealer == nil {
		if p.sealer, err = processSealer(); err != nil {
			return err
		}
	}
	return nil
}

// processSealer seals with a key made for this process: the default when
// no Sealer is configured (the portal always configures its own), so that
// Providers of one process share what they sealed and a provider of
// another process cannot run verify commands it did not seal.
var processSealer = sync.OnceValues(func() (Sealer, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return envs.NewCipher(key)
})

// Isolation says how stacks are kept apart from the portal (for the admin
// page; the start-up log says it too).
func (p *Provider) Isolation() Isolation {
	iso := Isolation{Sandbox: p.landlock != nil, ABI: p.landlock.version()}
	if p.landlock != nil {
		iso.Scoped = p.landlock.scoped != 0
	}
	if p.cgroups != nil {
		iso.Cgroups = p.cgroups.base
	}
	return iso
}

// loadState reads a stack's stack.json and opens its sealed part.
func (p *Provider) loadState(dir string) (*stackState, error) {
	st, err := loadState(dir)
	if err != nil {
		return nil, err
	}
	st.sealer = p.sealer
	if err := st.open(); err != nil {
		p.logger.Warn("local: "+err.Error(), "stack", st.ID)
	}
	return st, nil
}

// startProcess starts a process of the stack (cmd from newCmd): straight
// into cgroup when it is set, inside the sandbox when it is on.
func (p *Provider) startProcess(cmd *exec.Cmd, handle, cgroup string) error {
	if p.sandboxErr != "" {
		return errors.New(p.sandboxErr)
	}
	start := (*exec.Cmd).Start
	if p.landlock != nil {
		grants := sandboxPolicy(p.hidden, filepath.Join(p.realRoot, handle))
		start = func(cmd *exec.Cmd) error { return p.landlock.start(cmd, grants) }
	}
	if cgroup == "" {
		return start(cmd)
	}
	return startInCgroup(cmd, cgroup, start)
}

// validCgroup reports whether the cgroup stack.json names is this stack's:
// the file is in the work dir, which the stack's own processes may write,
// and the portal must not kill or remove another cgroup because a stack
// said so.
func (p *Provider) validCgroup(st *stackState) bool {
	ok := isStackCgroup(st.Cgroup, st.ID)
	if !ok {
		p.logger.Warn("local: stack.json names a cgroup that is not the stack's: ignored", "stack", st.ID)
	}
	return ok
}

// stepError is a provision failure with the step it failed in: the step
// can be logged, where the error (command output, rendered arguments)
// must not be.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func stepErr(step string, err error) error { return &stepError{step: step, err: err} }

// failedStep names the step a provision error came from.
func failedStep(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		return se.step
	}
	return "record the stack's state"
}
