// Package local is the provider that builds stacks on the portal's own host:
// each environment gets a work directory and real processes (services) on
// loopback ports, with health checks, captured logs, outputs and data
// restored from snapshot files.
//
// Everything the provider knows about a stack is in <Root>/<handle>/stack.json,
// so a restarted portal finds its stacks (and their processes) again.
package local

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// Config configures a Provider.
type Config struct {
	// Root holds the stacks' work directories: Root/<handle>/.
	Root string
	// LogsDir receives each stack's logs on destroy (LogsDir/<handle>/
	// <service>.log), so they outlive the stack.
	LogsDir string
	// SnapshotsDir holds datasets: SnapshotsDir/<dataset>/<snapshot-id>/,
	// each with a manifest.json.
	SnapshotsDir string
	// Executable is the mayfly binary, {{.Mayfly}} in templates (default:
	// the running executable).
	Executable string
	// StopGrace is how long a service has to exit after SIGTERM before it
	// gets SIGKILL (default 5s).
	StopGrace time.Duration
	// HTTPClient runs health checks (default: 2s timeout, redirects not
	// followed since a 3xx already counts as healthy).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock health timeouts and events are measured with
	// (default time.Now).
	Now func() time.Time

	// Sandbox is SandboxAuto (the default), SandboxOn or SandboxOff: whether
	// stack processes run in a Landlock sandbox that keeps them out of the
	// Hidden paths and away from the portal's process (see sandbox.go).
	Sandbox string
	// Hidden are paths stack processes must not read: the data directory,
	// the secret key and database files, credentials files. Root is
	// inside the data directory; each stack still reaches its own work
	// directory.
	Hidden []string
	// Cgroups is "auto" (the default: a cgroup v2 per stack when the
	// portal may create one) or "off" (tests of the fallback).
	Cgroups string
	// Sealer seals what stack.json keeps that may hold secrets (the
	// rendered verify commands, outputs, reasons, pending events).
	// Default: a key made for this process (see processSealer).
	Sealer Sealer
}

// Sealer encrypts bytes bound to additional data, which opening must be
// given again (envs.Cipher is one).
type Sealer interface {
	Seal(plain, additional []byte) ([]byte, error)
	Open(sealed, additional []byte) ([]byte, error)
}

// Isolation says how the provider keeps stacks apart from the portal.
type Isolation struct {
	// Sandbox is on when stack processes run under Landlock; ABI is the
	// kernel's Landlock version (0: none), Scoped whether they are also
	// kept from signalling the portal and the other stacks (ABI 6+).
	Sandbox bool
	ABI     int
	Scoped  bool
	// Cgroups is the cgroup v2 directory that stacks' cgroups are made in,
	// empty when stacks are tracked by their processes only.
	Cgroups string
}

// Provider is the local provider. It implements envs.Provider.
type Provider struct {
	root         string
	logsDir      string
	snapshotsDir string
	executable   string
	stopGrace    time.Duration
	client       *http.Client
	logger       *slog.Logger
	now          func() time.Time
	// baseEnv is the part of the portal's environment every stack process
	// gets, read once here rather than deep inside each call.
	baseEnv []string
	// realRoot is root with symbolic links resolved, as the sandbox's
	// policy needs it; hidden are Config.Hidden likewise.
	realRoot string
	hidden   []string
	// landlock is nil when stack processes run without the sandbox;
	// sandboxErr is why they may not run at all (SandboxOn without it).
	landlock   *landlock
	sandboxErr string
	cgroups    *cgroupTree // nil: tracked by processes only
	sealer     Sealer

	mu sync.Mutex
	// locks serialises Provision, Status and Destroy of one stack.
	locks map[string]*handleLock
	// ports ever handed out by this Provider (and those of the stacks it
	// found on start): a port is never given to two services.
	ports map[int]bool
	// children are the processes this Provider started, reaped by their
	// Wait goroutines.
	children map[processRecord]*child
}

var (
	_ envs.Provider       = (*Provider)(nil)
	_ envs.HealthChecker  = (*Provider)(nil)
	_ envs.SnapshotPinner = (*Provider)(nil)
	_ envs.DriftDetector  = (*Provider)(nil)
)

// baseEnvNames are the only variables of the portal's environment that stack
// processes inherit.
var baseEnvNames = []string{"PATH", "HOME", "LANG", "TMPDIR"}

// New returns a Provider, creating its directories.
func New(cfg Config) (*Provider, error) {
	if cfg.Root == "" || cfg.LogsDir == "" || cfg.SnapshotsDir == "" {
		return nil, errors.New("local: Root, LogsDir and SnapshotsDir are required")
	}
	p := &Provider{
		stopGrace: cfg.StopGrace,
		client:    cfg.HTTPClient,
		logger:    cfg.Logger,
		now:       cfg.Now,
		locks:     map[string]*handleLock{},
		ports:     map[int]bool{},
		children:  map[processRecord]*child{},
	}
	// Templates see absolute paths ({{.Dir}}, {{.Snapshot.Dir}}), and
	// processes run with the work dir as cwd.
	for _, d := range []struct {
		dst *string
		src string
	}{{&p.root, cfg.Root}, {&p.logsDir, cfg.LogsDir}, {&p.snapshotsDir, cfg.SnapshotsDir}} {
		abs, err := filepath.Abs(d.src)
		if err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, fmt.Errorf("local: create %s: %w", abs, err)
		}
		*d.dst = abs
	}
	p.executable = cfg.Executable
	if p.executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local: find executable: %w", err)
		}
		p.executable = exe
	}
	if p.stopGrace <= 0 {
		p.stopGrace = 5 * time.Second
	}
	if p.client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.Proxy = nil // health checks go to loopback, never through a proxy
		p.client = &http.Client{
			Timeout:   2 * time.Second,
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, name := range baseEnvNames {
		if v, ok := os.LookupEnv(name); ok {
			p.baseEnv = append(p.baseEnv, name+"="+v)
		}
	}
	if err := p.isolate(cfg); err != nil {
		return nil, err
	}

	// Stacks from before a restart keep their ports: do not hand them out.
	handles, err := p.Stacks(context.Background())
	if err != nil {
		return nil, err
	}
	for _, h := range handles {
		if st, err := p.loadState(p.stackDir(h)); err == nil {
			for _, svc := range st.Services {
				p.ports[svc.Port] = true
			}
		}
	}
	return p, nil
}

// Name is the value templates put in their `provider` field.
func (p *Provider) Name() string { return "local" }

// Close releases idle health-check connections. Stacks keep running: they
// belong to environments, not to this process, and a restarted portal finds
// them again.
func (p *Provider) Close() {
	p.client.CloseIdleConnections()
}

// ValidateStack checks a version's stack body at publish time.
func (p *Provider) ValidateStack(stack json.RawMessage) error {
	_, err := parseStack(stack)
	return err
}

// Stacks lists the handles of every stack under Root.
func (p *Provider) Stacks(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(p.root)
	if err != nil {
		return nil, fmt.Errorf("local: list stacks: %w", err)
	}
	var handles []string
	for _, e := range entries {
		if e.IsDir() && handlePattern.MatchString(e.Name()) {
			handles = append(handles, e.Name())
		}
	}
	sort.Strings(handles)
	return handles, nil
}

func (p *Provider) stackDir(handle string) string { return filepath.Join(p.root, handle) }

func (p *Provider) logPath(handle, stream string) string {
	return filepath.Join(p.stackDir(handle), logsDirName, stream+logExt)
}

// Provision builds the stack of one environment: restore, setup commands,
// then the services. It returns once the services are started; Status
// watches them become healthy. Called again for a stack whose services run,
// it returns the handle; for a stack that never finished (a crash) or whose
// processes died, it stops what is left and starts over.
func (p *Provider) Provision(ctx context.Context, req envs.ProvisionRequest) (string, error) {
	// A stack is keyed (work dir, cgroup, handle) by its own id; an
	// environment's first stack has the environment's.
	id := cmpOr(req.StackID, req.EnvironmentID)
	if !handlePattern.MatchString(id) {
		return "", envs.Invalid("invalid stack id", envs.FieldError{
			Field: "stack_id", Message: "must match " + handlePattern.String(),
		})
	}
	spec, err := parseStack(req.Stack)
	if err != nil {
		return "", err
	}
	unlock, err := p.lock(ctx, id)
	if err != nil {
		return "", fmt.Errorf("local: provision %s: %w", id, err)
	}
	defer unlock()

	if p.sandboxErr != "" {
		return "", envs.Errorf(envs.EInvalid, "%s", p.sandboxErr)
	}

	dir := p.stackDir(id)
	st, err := p.loadState(dir)
	switch {
	case err == nil:
		if st.Phase == phaseStarted && p.allRunning(st) {
			if req.Progress != nil {
				req.Progress.StackCreated(id) // said once: a retry after a crash is the same stack
			}
			return id, nil
		}
		p.logger.Info("local: starting over an unfinished stack", "stack", id, "phase", st.Phase)
		if req.Progress != nil {
			req.Progress.Event(envs.ProviderEvent{At: p.now(), Message: "starting over: the previous attempt did not finish"})
		}
		if !p.stop(ctx, st) {
			return "", fmt.Errorf("local: provision %s: processes of the previous attempt are still running", id)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		p.logger.Warn("local: unreadable stack state, starting over", "stack", id, "err", err)
	}
	if !p.stopLeftovers(ctx, id) {
		return "", fmt.Errorf("local: provision %s: processes of the previous attempt are still running", id)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("local: provision %s: remove previous attempt: %w", id, err)
	}
	if err := p.provision(ctx, req, spec, dir); err != nil {
		// Not err: it holds the command's last lines of output and
		// rendered arguments, which may hold secrets. The orchestrator
		// records the reason where viewers see it (masked).
		p.logger.Warn("local: provision failed", "stack", id, "step", failedStep(err))
		return "", fmt.Errorf("local: provision %s: %w", id, err)
	}
	p.logger.Info("local: stack started", "stack", id)
	return id, nil
}

// provision does the work of Provision in a fresh work dir. On error it
// leaves nothing running and records the failure in stack.json; the work
// dir stays, so Destroy can archive the logs that explain the failure.
func (p *Provider) provision(ctx context.Context, req envs.ProvisionRequest, spec *stackSpec, dir string) (err error) {
	id := cmpOr(req.StackID, req.EnvironmentID)
	// 0700: logs may hold secrets the stack printed.
	for _, d := range []string{logsDirName, tmpDirName} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return stepErr("create work dir", err)
		}
	}
	st := &stackState{ID: id, Phase: phaseProvisioning, Facts: map[string]string{}, sealer: p.sealer}
	if p.cgroups != nil {
		// Before any process: the cgroup is recorded with the first save.
		st.Cgroup = p.cgroups.path(id)
		if err := createCgroup(st.Cgroup); err != nil {
			return stepErr("create cgroup", err)
		}
	}
	if err := st.save(dir); err != nil {
		return err
	}
	if req.Progress != nil {
		// From here on the orchestrator hears of each step as it happens.
		req.Progress.StackCreated(id)
		st.report = req.Progress.Event
		defer func() { st.report = nil }()
	}
	defer func() {
		if err == nil {
			return
		}
		// Kill what was started even if ctx was cancelled.
		if !p.stop(context.WithoutCancel(ctx), st) {
			p.logger.Error("local: processes of a failed provision survived SIGKILL", "stack", id)
		}
		st.Phase = phaseFailed
		st.Reason = oneLine(err.Error())
		if serr := st.save(dir); serr != nil {
			p.logger.Error("local: record failed provision", "stack", id, "err", serr)
		}
	}()

	params := maps.Clone(req.Params)
	if params == nil {
		params = map[string]string{}
	}
	data := templateData{
		Mayfly:        p.executable,
		Dir:           dir,
		Ports:         map[string]int{},
		Params:        params,
		EnvironmentID: req.EnvironmentID,
		StackID:       id,
		Name:          req.Name,
	}
	var snap snapshot
	switch {
	case spec.Restore == nil && req.Snapshot != "":
		return stepErr("restore", fmt.Errorf("snapshot %s was asked for, but this stack restores none", req.Snapshot))
	case spec.Restore != nil && req.Snapshot != "":
		// Pinned (a relaunch from the same snapshot): that one or none.
		snap, err = pinnedSnapshot(p.snapshotsDir, spec.Restore.Snapshot, req.Snapshot)
	case spec.Restore != nil:
		snap, err = latestSnapshot(p.snapshotsDir, spec.Restore.Snapshot)
	}
	if err != nil {
		return stepErr("restore", err)
	}
	if spec.Restore != nil {
		into := filepath.Join(dir, spec.Restore.Into)
		data.Snapshot = snapshotData{
			Dir:      into,
			Manifest: filepath.Join(into, manifestFile),
			TakenAt:  snap.TakenAt.UTC().Format(time.RFC3339),
		}
	}
	// Ports come before rendering: setup and verify may use .Ports.
	for _, svc := range spec.Services {
		port, err := p.allocatePort()
		if err != nil {
			return stepErr("allocate ports", fmt.Errorf("allocate port for service %s: %w", svc.Name, err))
		}
		data.Ports[svc.Name] = port
	}
	// Render everything up front: a template error fails in a second, not
	// after a long restore and setup.
	pl, err := render(spec, data, p.baseEnv)
	if err != nil {
		return stepErr("render templates", err)
	}
	for i, svc := range spec.Services {
		s := serviceState{Name: svc.Name, Port: pl.services[i].port}
		if h := svc.Health; h != nil {
			s.HealthPath = h.Path
			s.Interval = duration(parseDuration(h.Interval, defaultHealthInterval))
			s.HealthTimeout = duration(parseDuration(h.Timeout, defaultHealthTimeout))
		}
		st.Services = append(st.Services, s)
	}
	st.Outputs = pl.outputs
	st.setVerify(pl.verify)
	if spec.Drift != nil {
		st.DriftFiles = spec.Drift.Files
	}
	// Create every log up front so Logs can show each stream from the start.
	streams := []string{}
	for _, svc := range spec.Services {
		streams = append(streams, svc.Name)
	}
	if len(pl.setup) > 0 {
		streams = append(streams, setupLog)
	}
	if len(pl.verify) > 0 {
		streams = append(streams, verifyLog)
	}
	for _, s := range streams {
		f, err := openLog(p.logPath(id, s))
		if err != nil {
			return fmt.Errorf("create log: %w", err)
		}
		f.Close()
	}
	if err := st.save(dir); err != nil {
		return err
	}

	if spec.Restore != nil {
		if err := copyTree(ctx, snap.Dir, data.Snapshot.Dir); err != nil {
			return stepErr("restore", fmt.Errorf("restore snapshot %s: %w", snap.Name(), err))
		}
		taken := snap.TakenAt.UTC().Format(time.RFC3339)
		st.Facts[envs.FactSnapshotName] = snap.Name()
		st.Facts[envs.FactSnapshotTakenAt] = taken
		if req.Snapshot != "" {
			st.event(p.now(), "restored the pinned snapshot %s (taken %s)", snap.Name(), taken)
		} else {
			st.event(p.now(), "restored snapshot %s (taken %s)", snap.Name(), taken)
		}
	}

	for _, c := range pl.setup {
		if err := ctx.Err(); err != nil {
			return stepErr("setup", fmt.Errorf("setup: %s was not started: %w", c.Label, err))
		}
		st.event(p.now(), "setup: %s started", c.Label)
		if err := p.runCommand(ctx, st, c, setupLog); err != nil {
			return stepErr("setup", fmt.Errorf("setup: %w", err))
		}
		st.event(p.now(), "setup: %s finished", c.Label)
	}

	st.StartedAt = p.now()
	for i, svc := range pl.services {
		// A cancelled call (a destroy was requested) starts nothing more.
		if err := ctx.Err(); err != nil {
			return stepErr("start service "+svc.name, fmt.Errorf("service %s was not started: %w", svc.name, err))
		}
		rec, err := p.startService(st, svc, p.logPath(id, svc.name))
		if err != nil {
			return stepErr("start service "+svc.name, fmt.Errorf("start service %s: %w", svc.name, err))
		}
		// Record each process as soon as it exists: if the portal dies
		// now, the next Provision or Destroy still finds it.
		st.Services[i].Process = rec
		st.event(p.now(), "service %s started on 127.0.0.1:%d (pid %d)", svc.name, svc.port, rec.PID)
		if err := st.save(dir); err != nil {
			return err
		}
	}
	st.Phase = phaseStarted
	return st.save(dir)
}

// runCommand runs a setup or verify command of the stack, keeping its
// process in stack.json while it runs. With cgroups it runs in a cgroup of
// its own inside the stack's, killed when it ends: a command must leave
// nothing running behind it, even what left its process group.
func (p *Provider) runCommand(ctx context.Context, st *stackState, c runCommand, stream string) error {
	dir := p.stackDir(st.ID)
	cgroup := ""
	if st.Cgroup != "" && p.validCgroup(st) {
		cgroup = commandCgroup(st.Cgroup)
		if err := createCgroup(cgroup); err != nil {
			return err
		}
		defer func() {
			if gone, err := killCgroup(ctx, cgroup, 3*time.Second); !gone || err != nil {
				p.logger.Warn("local: processes a command left behind survived SIGKILL", "stack", st.ID)
			}
		}()
	}
	start := func(cmd *exec.Cmd) error { return p.startProcess(cmd, st.ID, cgroup) }
	err := runLogged(ctx, dir, c, p.logPath(st.ID, stream), start, func(rec processRecord) {
		st.Command = rec
		if err := st.save(dir); err != nil {
			p.logger.Warn("local: record running command", "stack", st.ID, "err", err)
		}
	})
	st.Command = processRecord{}
	return err
}

// allocatePort takes a free loopback port from the kernel, skipping any
// this Provider already handed out (the previous owner may not be listening
// right now, so the kernel could offer it again).
func (p *Provider) allocatePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		p.mu.Lock()
		taken := p.ports[port]
		p.ports[port] = true
		p.mu.Unlock()
		if !taken {
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

func (p *Provider) allRunning(st *stackState) bool {
	for _, svc := range st.Services {
		if !svc.Process.running() {
			return false
		}
	}
	return len(st.Services) > 0
}

// stop stops every process of a stack and reports whether they are all
// gone: those in its cgroup when it has one (SIGTERM to each, the grace,
// then cgroup.kill), else the recorded process groups and their
// descendants.
func (p *Provider) stop(ctx context.Context, st *stackState) bool {
	recs := st.processes()
	var ok bool
	if st.Cgroup != "" && p.validCgroup(st) {
		ok = stopCgroup(ctx, st.Cgroup, p.stopGrace)
	} else {
		ok = stopGroups(ctx, recs, p.stopGrace)
	}
	if ok {
		p.forget(recs)
	}
	return ok
}

// stopLeftovers stops what a stack.json does not know of: processes of a
// portal killed between starting them and recording them, and the
// stack's cgroup if one was made but not recorded.
func (p *Provider) stopLeftovers(ctx context.Context, handle string) bool {
	if pids := killStrays(handle); len(pids) > 0 {
		p.logger.Warn("local: killed processes the stack had not recorded (the portal died as they started)", "stack", handle, "pids", pids)
	}
	return p.killStackCgroup(ctx, handle)
}

// killStackCgroup kills and removes the cgroup the stack would have.
func (p *Provider) killStackCgroup(ctx context.Context, handle string) bool {
	if p.cgroups == nil {
		return true
	}
	gone, err := killCgroup(ctx, p.cgroups.path(handle), 3*time.Second)
	if err != nil {
		p.logger.Warn("local: kill the stack's cgroup", "stack", handle, "err", err)
	}
	return gone
}

// StackHealth judges ready stacks by their Status: a look at this host's
// own processes, cheap enough to ask about each. A stack whose status
// cannot be read is left out, to be judged next time.
func (p *Provider) StackHealth(ctx context.Context, handles []string) (map[string]string, error) {
	out := make(map[string]string, len(handles))
	for _, handle := range handles {
		st, err := p.Status(ctx, handle)
		if err != nil {
			continue
		}
		out[handle] = ""
		if st.State == envs.StackFailed {
			out[handle] = cmp.Or(st.Reason, "the stack failed")
		}
	}
	return out, nil
}

// Status reports how the stack is doing: failed when a service exited, did
// not become healthy in time or verify failed; ready when every service is
// healthy and verify (if any) passed; in progress otherwise.
func (p *Provider) Status(ctx context.Context, handle string) (envs.StackStatus, error) {
	notFound := envs.StackStatus{State: envs.StackFailed, Reason: "stack not found"}
	if !handlePattern.MatchString(handle) {
		return notFound, nil
	}
	unlock, err := p.lock(ctx, handle)
	if err != nil {
		return envs.StackStatus{}, fmt.Errorf("local: status %s: %w", handle, err)
	}
	defer unlock()

	dir := p.stackDir(handle)
	st, err := p.loadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return notFound, nil
	}
	if err != nil {
		return envs.StackStatus{}, fmt.Errorf("local: status %s: %w", handle, err)
	}

	status := p.observe(ctx, st)
	status.Facts = maps.Clone(st.Facts)
	if len(st.Events) > 0 {
		for _, e := range st.Events {
			status.Events = append(status.Events, envs.ProviderEvent{At: e.At, Message: e.Message})
		}
		st.Events = nil
	}
	// Save every time: health check times, results and drained events all
	// live in stack.json. The write is small.
	if err := st.save(dir); err != nil {
		return envs.StackStatus{}, fmt.Errorf("local: status %s: %w", handle, err)
	}
	return status, nil
}

// observe advances a stack's state: it checks processes and health, runs
// verify once, and records a failure (which is final) in st.Reason.
func (p *Provider) observe(ctx context.Context, st *stackState) envs.StackStatus {
	switch st.Phase {
	case phaseProvisioning:
		return envs.StackStatus{State: envs.StackFailed, Reason: "provisioning did not finish (the portal stopped while provisioning)"}
	case phaseFailed:
		return envs.StackStatus{State: envs.StackFailed, Reason: st.Reason}
	}
	fail := func(format string, args ...any) envs.StackStatus {
		st.Reason = oneLine(fmt.Sprintf(format, args...))
		return envs.StackStatus{State: envs.StackFailed, Reason: st.Reason}
	}
	if st.Reason != "" {
		return envs.StackStatus{State: envs.StackFailed, Reason: st.Reason}
	}

	for _, svc := range st.Services {
		if svc.Process.running() {
			continue
		}
		reason := fmt.Sprintf("service %q %s", svc.Name, p.exitReason(svc.Process))
		if line := lastLines(p.logPath(st.ID, svc.Name), 0, 1); line != "" {
			reason += ": " + line
		}
		return fail("%s", reason)
	}

	allHealthy := true
	for i := range st.Services {
		svc := &st.Services[i]
		if svc.Healthy {
			continue
		}
		now := p.now()
		if svc.HealthPath == "" {
			svc.Healthy = true
		} else if svc.CheckedAt.IsZero() || now.Sub(svc.CheckedAt) >= svc.Interval.D() {
			svc.CheckedAt = now
			if err := p.checkHealth(ctx, svc.Port, svc.HealthPath); err != nil {
				svc.LastError = err.Error()
			} else {
				svc.Healthy, svc.LastError = true, ""
			}
		}
		if svc.Healthy {
			st.event(now, "service %s healthy", svc.Name)
			continue
		}
		if now.Sub(st.StartedAt) >= svc.HealthTimeout.D() {
			return fail("service %q did not become healthy within %s: %s", svc.Name, svc.HealthTimeout, svc.LastError)
		}
		allHealthy = false
	}
	if !allHealthy {
		return envs.StackStatus{State: envs.StackInProgress}
	}

	if len(st.verify) > 0 && !st.Verified {
		for _, c := range st.verify {
			if err := p.runCommand(ctx, st, c, verifyLog); err != nil {
				if ctx.Err() != nil {
					// The caller gave up, not the check: try again next time.
					return envs.StackStatus{State: envs.StackInProgress}
				}
				return fail("verify failed: %s", err)
			}
		}
		st.Verified = true
		now := p.now()
		if st.Facts == nil {
			st.Facts = map[string]string{}
		}
		st.Facts[envs.FactVerifiedAt] = now.UTC().Format(time.RFC3339)
		st.event(now, "verify passed")
	}
	if !st.HasBaseline {
		// Once, when the stack first is ready: what drift checks compare
		// it with from now on.
		p.recordBaseline(st)
	}
	return envs.StackStatus{State: envs.StackReady, Outputs: maps.Clone(st.Outputs)}
}

// checkHealth does one HTTP GET; a 2xx or 3xx answer is healthy.
func (p *Provider) checkHealth(ctx context.Context, port int, path string) error {
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// Destroy stops the stack's processes (SIGTERM, then SIGKILL after
// StopGrace), archives its logs to LogsDir and removes the work dir. A stack
// that does not exist is destroyed. done is false when a process survived
// SIGKILL (the orchestrator calls again later).
func (p *Provider) Destroy(ctx context.Context, handle string) (bool, error) {
	if !handlePattern.MatchString(handle) {
		return false, envs.Errorf(envs.EInvalid, "Invalid stack handle %q.", handle)
	}
	unlock, err := p.lock(ctx, handle)
	if err != nil {
		return false, fmt.Errorf("local: destroy %s: %w", handle, err)
	}
	defer unlock()

	dir := p.stackDir(handle)
	st, err := p.loadState(dir)
	switch {
	case err == nil:
		if !p.stop(ctx, st) {
			p.logger.Warn("local: stack processes survived SIGKILL", "stack", handle)
			return false, nil
		}
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return p.killStackCgroup(ctx, handle), nil
		}
	default:
		// Without a readable state there is no recorded process to stop;
		// the leftovers are, and the directory still goes.
		p.logger.Error("local: unreadable stack state", "stack", handle, "err", err)
	}
	if !p.stopLeftovers(ctx, handle) {
		p.logger.Warn("local: stack processes survived SIGKILL", "stack", handle)
		return false, nil
	}
	if err := p.archiveLogs(handle); err != nil {
		return false, fmt.Errorf("local: destroy %s: archive logs: %w", handle, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("local: destroy %s: remove work dir: %w", handle, err)
	}
	p.logger.Info("local: stack destroyed", "stack", handle)
	return true, nil
}

// handleLock is a per-stack mutex that a waiter can give up on (a channel
// rather than sync.Mutex, so the wait honours ctx).
type handleLock struct {
	ch   chan struct{}
	refs int
}

func (p *Provider) lock(ctx context.Context, handle string) (unlock func(), err error) {
	p.mu.Lock()
	l := p.locks[handle]
	if l == nil {
		l = &handleLock{ch: make(chan struct{}, 1)}
		p.locks[handle] = l
	}
	l.refs++
	p.mu.Unlock()

	release := func() {
		p.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(p.locks, handle)
		}
		p.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// oneLine keeps a reason on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
