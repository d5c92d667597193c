// Package tofu is the tofu provider: each stack is an OpenTofu (or
// Terraform) root module applied in its own work dir, with its state kept
// in Mayfly's database through the http backend Mayfly serves
// (handlers/tofu_state.go). The provider never touches the database: it
// reaches what it keeps there (the state, what a later run needs, the
// locks) through States.
package tofu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// Name is the provider's name in templates.
const Name = "tofu"

// holderPrefix starts the user name of every run Mayfly makes (no ":",
// which Basic authentication keeps for itself); the lock a
// run takes records it, so a lock is known as Mayfly's own (and which
// process took it) or someone else's.
const holderPrefix = "mayfly-run-"

// States is what the provider keeps in Mayfly's database (envs.TofuStates).
type States interface {
	Credential(stack string) string
	SaveRun(ctx context.Context, stack string, run []byte) error
	Run(ctx context.Context, stack string) ([]byte, error)
	State(ctx context.Context, stack string) ([]byte, error)
	Lock(ctx context.Context, stack string) (envs.TofuLock, error)
	Stacks(ctx context.Context) ([]envs.TofuStack, error)
	Forget(ctx context.Context, stack string) error
	Now() time.Time
}

// Config is the provider's configuration.
type Config struct {
	// Binary is the tofu (or terraform) executable.
	Binary string
	// Root holds one work dir per stack; LogsDir one log per stack, kept
	// after the stack is gone.
	Root    string
	LogsDir string
	// StateURL is the base URL where this portal serves the state backend
	// (http://127.0.0.1:port), asked at each run.
	StateURL func() string
	States   States
	// Mirror is a filesystem mirror of providers
	// (<host>/<namespace>/<type>/<version>/<os_arch>/...); PluginCache a
	// plugin cache dir. AllowDownloads lets init download from registries.
	Mirror         string
	PluginCache    string
	AllowDownloads bool
	// Modules is the catalog, where a stack's `module:` directory is found
	// at publish (nil: only inline files).
	Modules fs.FS
	// Step timeouts.
	InitTimeout, PlanTimeout, ApplyTimeout, DestroyTimeout time.Duration
	// StopGrace is how long an interrupted command may take to stop before
	// it is killed.
	StopGrace time.Duration
	// Exclusive says that no other process runs this installation's stacks
	// (SQLite: one portal owns the data dir), so a lock of Mayfly's that no
	// run of this process holds is stale at once. Otherwise (replicas on
	// PostgreSQL) another process's lock is stale once older than a step
	// can run.
	Exclusive bool
	Logger    *slog.Logger
}

// Provider is the tofu provider.
type Provider struct {
	cfg Config
	log *slog.Logger
	// id names this process's runs in the locks they take.
	id string

	mu     sync.Mutex
	stacks map[string]*sync.Mutex // one run at a time per stack in this process
	pids   map[string]int         // the command running for a stack
}

// New checks the configuration and returns the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Binary == "" || cfg.Root == "" || cfg.States == nil || cfg.StateURL == nil {
		return nil, errors.New("tofu: Binary, Root, States and StateURL are required")
	}
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("tofu: binary %s: %w", cfg.Binary, err)
	}
	if cfg.LogsDir == "" {
		cfg.LogsDir = filepath.Join(cfg.Root, ".logs")
	}
	for _, d := range []string{cfg.Root, cfg.LogsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("tofu: create %s: %w", d, err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.InitTimeout, 2*time.Minute)
	def(&cfg.PlanTimeout, 3*time.Minute)
	def(&cfg.ApplyTimeout, 5*time.Minute)
	def(&cfg.DestroyTimeout, 8*time.Minute)
	def(&cfg.StopGrace, 20*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &Provider{cfg: cfg, log: cfg.Logger, id: hex.EncodeToString(b),
		stacks: map[string]*sync.Mutex{}, pids: map[string]int{}}, nil
}

func (p *Provider) Name() string { return Name }

// ProvisionTimeout covers init, plan and apply.
func (p *Provider) ProvisionTimeout() time.Duration {
	return p.cfg.InitTimeout + p.cfg.PlanTimeout + p.cfg.ApplyTimeout
}

// DestroyTimeout covers init and destroy.
func (p *Provider) DestroyTimeout() time.Duration { return p.cfg.InitTimeout + p.cfg.DestroyTimeout }

var stackPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// run is what a stack's later runs (a destroy, a drift check, on any
// replica) need, kept sealed in the database.
type run struct {
	EnvironmentID string            `json:"environment_id"`
	Stack         json.RawMessage   `json:"stack"`
	Params        map[string]string `json:"params"`
}

// lockStack serialises the runs of one stack in this process.
func (p *Provider) lockStack(stack string) func() {
	p.mu.Lock()
	m := p.stacks[stack]
	if m == nil {
		m = &sync.Mutex{}
		p.stacks[stack] = m
	}
	p.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (p *Provider) started(stack string, pid int) {
	p.mu.Lock()
	p.pids[stack] = pid
	p.mu.Unlock()
}

func (p *Provider) stopped(stack string) {
	p.mu.Lock()
	delete(p.pids, stack)
	p.mu.Unlock()
}

// running reports the pid of the command running for a stack, 0 if none.
func (p *Provider) running(stack string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pids[stack]
}

func (p *Provider) workDir(stack string) string { return filepath.Join(p.cfg.Root, stack) }

func (p *Provider) logFile(stack string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(p.cfg.LogsDir, stack+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tofu: open log: %w", err)
	}
	return f, nil
}

// newRunner sets up a stack's work dir for a run.
func (p *Provider) newRunner(stack string, st *Stack, params map[string]string, emit func(envs.ProviderEvent)) (*runner, func(), error) {
	f, err := p.logFile(stack)
	if err != nil {
		return nil, nil, err
	}
	r := &runner{p: p, stack: stack, dir: p.workDir(stack), vars: params, log: f, emit: emit, backend: true}
	if err := r.prepare(st); err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, func() { f.Close() }, nil
}

// init installs the providers (from the mirror) and connects the backend.
func (r *runner) init(ctx context.Context) error {
	_, _, err := r.run(ctx, "init", r.p.cfg.InitTimeout, "init", "-input=false", "-json", "-reconfigure")
	return err
}

// Provision runs init, plan and apply for the stack, reporting the plan
// and the apply's progress as they happen, and returns when the apply is
// over. It is idempotent: a Provision again (a retry, a portal that died
// mid-apply) applies the same configuration to the state the database
// holds, first releasing the lock an interrupted run of Mayfly's left.
func (p *Provider) Provision(ctx context.Context, req envs.ProvisionRequest) (string, error) {
	st, err := ParseStack(req.Stack)
	if err != nil {
		return "", err
	}
	stack := cmpOr(req.StackID, req.EnvironmentID)
	if !stackPattern.MatchString(stack) {
		return "", fmt.Errorf("tofu: stack id %q is not valid", stack)
	}
	unlock := p.lockStack(stack)
	defer unlock()
	emit := func(ev envs.ProviderEvent) {
		if req.Progress != nil {
			req.Progress.Event(ev)
		}
	}
	// Saved first, so that whatever happens next any replica can destroy
	// what this run creates.
	saved, err := json.Marshal(run{EnvironmentID: req.EnvironmentID, Stack: req.Stack, Params: req.Params})
	if err != nil {
		return "", err
	}
	if err := p.cfg.States.SaveRun(ctx, stack, saved); err != nil {
		return "", fmt.Errorf("tofu: save run of %s: %w", stack, err)
	}
	if req.Progress != nil {
		req.Progress.StackCreated(stack)
	}
	r, done, err := p.newRunner(stack, st, req.Params, emit)
	if err != nil {
		return "", err
	}
	defer done()
	if err := r.init(ctx); err != nil {
		return "", err
	}
	if err := p.releaseStale(ctx, r); err != nil {
		return "", err
	}
	if _, _, err := r.run(ctx, "plan", p.cfg.PlanTimeout, "plan", "-input=false", "-json", "-lock-timeout=0s", "-out=.mayfly/plan.tfplan"); err != nil {
		return "", p.lockedError(ctx, stack, err)
	}
	if _, _, err := r.run(ctx, "apply", p.cfg.ApplyTimeout, "apply", "-input=false", "-json", "-lock-timeout=0s", "-auto-approve", ".mayfly/plan.tfplan"); err != nil {
		return "", p.lockedError(ctx, stack, err)
	}
	return stack, nil
}

// releaseStale force-unlocks the stack's state when the lock is Mayfly's
// own and stale (a run that died: the portal was killed mid-apply). A lock
// of someone else's is never broken: the run fails and says whose it is.
func (p *Provider) releaseStale(ctx context.Context, r *runner) error {
	l, err := p.cfg.States.Lock(ctx, r.stack)
	if err != nil || l.ID == "" {
		return err
	}
	if reason := p.staleReason(r.stack, l); reason != "" {
		r.emitf("Releasing the lock of an interrupted run (%s, lock %s)", reason, l.ID)
		if _, _, err := r.run(ctx, "force-unlock", p.cfg.InitTimeout, "force-unlock", "-force", "-no-color", l.ID); err != nil {
			return err
		}
		return nil
	}
	return p.lockedError(ctx, r.stack, nil)
}

// staleReason says why a lock is stale, "" when it is not (or not
// Mayfly's to break).
func (p *Provider) staleReason(stack string, l envs.TofuLock) string {
	holder, ok := strings.CutPrefix(l.Holder, holderPrefix)
	switch {
	case !ok:
		return ""
	case holder == p.id:
		if p.running(stack) == 0 {
			return "its command is no longer running"
		}
		return ""
	case p.cfg.Exclusive:
		return "taken by a previous run of this portal"
	}
	if age := p.cfg.States.Now().Sub(l.At); age > p.ProvisionTimeout()+p.cfg.StopGrace {
		return fmt.Sprintf("taken %s ago by another replica, longer than a run may last", envs.FormatDuration(age))
	}
	return ""
}

// lockedError explains a run refused by a lock it could not take; err is
// the command's failure, returned as is when the state is not locked.
func (p *Provider) lockedError(ctx context.Context, stack string, err error) error {
	l, lerr := p.cfg.States.Lock(ctx, stack)
	if lerr != nil || l.ID == "" || (err != nil && !strings.Contains(err.Error(), "lock")) {
		return err
	}
	if holder, ok := strings.CutPrefix(l.Holder, holderPrefix); ok {
		return fmt.Errorf("tofu: the state of %s is locked by another run of Mayfly (%s, lock %s, since %s); retried later",
			stack, holder, l.ID, l.At.Format(time.RFC3339))
	}
	return fmt.Errorf("tofu: the state of %s is locked by %s (lock %s, since %s), not by Mayfly: it is not Mayfly's to break; "+
		"whoever holds it releases it (tofu force-unlock %s)", stack, l.Holder, l.ID, l.At.Format(time.RFC3339), l.ID)
}

func (r *runner) emitf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(r.log, msg)
	if r.emit != nil {
		r.emit(envs.ProviderEvent{Message: msg})
	}
}

// stateDoc is the part of a state document the provider reads.
type stateDoc struct {
	Outputs map[string]struct {
		Value     json.RawMessage `json:"value"`
		Sensitive bool            `json:"sensitive"`
	} `json:"outputs"`
	Resources []struct {
		Mode string `json:"mode"`
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"resources"`
}

// Status reads the stack's outputs from its state: Provision returns once
// the apply is over, so a stack with a handle is ready. Sensitive outputs
// are never shown.
func (p *Provider) Status(ctx context.Context, handle string) (envs.StackStatus, error) {
	if !stackPattern.MatchString(handle) {
		return envs.StackStatus{State: envs.StackFailed, Reason: "not a tofu stack: " + handle}, nil
	}
	raw, err := p.cfg.States.State(ctx, handle)
	if err != nil {
		return envs.StackStatus{}, fmt.Errorf("tofu: read state of %s: %w", handle, err)
	}
	if raw == nil {
		return envs.StackStatus{State: envs.StackFailed, Reason: "the stack has no state: was it destroyed outside Mayfly?"}, nil
	}
	var doc stateDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return envs.StackStatus{}, fmt.Errorf("tofu: state of %s: %w", handle, err)
	}
	outputs := map[string]string{}
	for name, o := range doc.Outputs {
		if o.Sensitive {
			continue
		}
		var s string
		if err := json.Unmarshal(o.Value, &s); err == nil {
			outputs[name] = s
		} else {
			outputs[name] = string(o.Value)
		}
	}
	return envs.StackStatus{State: envs.StackReady, Outputs: outputs}, nil
}

// loadRun reads what a stack's run needs; nil when it has none.
func (p *Provider) loadRun(ctx context.Context, stack string) (*run, *Stack, error) {
	raw, err := p.cfg.States.Run(ctx, stack)
	if err != nil || raw == nil {
		return nil, nil, err
	}
	var rn run
	if err := json.Unmarshal(raw, &rn); err != nil {
		return nil, nil, fmt.Errorf("tofu: run of %s: %w", stack, err)
	}
	st, err := ParseStack(rn.Stack)
	if err != nil {
		return nil, nil, err
	}
	return &rn, st, nil
}

// Destroy runs destroy for the stack, on whichever replica: the work dir
// is made again from what the database keeps. Once everything is gone the
// stack's state row and work dir are removed. A stack without a saved
// configuration (none, or a row from before) is destroyed with an empty
// one: its resources in the state are deleted, without destroy-time
// provisioners.
func (p *Provider) Destroy(ctx context.Context, handle string) (bool, error) {
	if !stackPattern.MatchString(handle) {
		return true, nil
	}
	unlock := p.lockStack(handle)
	defer unlock()
	rn, st, err := p.loadRun(ctx, handle)
	if err != nil {
		return false, err
	}
	state, err := p.cfg.States.State(ctx, handle)
	if err != nil {
		return false, err
	}
	if state != nil {
		var params map[string]string
		if rn != nil {
			params = rn.Params
		}
		r, done, err := p.newRunner(handle, st, params, nil)
		if err != nil {
			return false, err
		}
		defer done()
		r.emitf("Destroying stack %s", handle)
		if err := r.init(ctx); err != nil {
			return false, err
		}
		if err := p.releaseStale(ctx, r); err != nil {
			return false, err
		}
		if _, _, err := r.run(ctx, "destroy", p.cfg.DestroyTimeout, "destroy", "-input=false", "-json", "-lock-timeout=0s", "-auto-approve"); err != nil {
			return false, p.lockedError(ctx, handle, err)
		}
	}
	if err := p.cfg.States.Forget(ctx, handle); err != nil {
		return false, err
	}
	if err := os.RemoveAll(p.workDir(handle)); err != nil {
		return false, fmt.Errorf("tofu: remove work dir of %s: %w", handle, err)
	}
	return true, nil
}

// Logs returns the stack's log (its commands' output), at most limit
// bytes from the end.
func (p *Provider) Logs(ctx context.Context, handle, service string, limit int) ([]envs.LogStream, error) {
	if !stackPattern.MatchString(handle) || (service != "" && service != Name) {
		return nil, envs.Errorf(envs.ENotFound, "No log for %q.", service)
	}
	f, err := os.Open(filepath.Join(p.cfg.LogsDir, handle+".log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, envs.Errorf(envs.ENotFound, "No logs for stack %q.", handle)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	truncated := false
	if limit > 0 && info.Size() > int64(limit) {
		if _, err := f.Seek(info.Size()-int64(limit), io.SeekStart); err != nil {
			return nil, err
		}
		truncated = true
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return []envs.LogStream{{Service: Name, Text: string(b), Truncated: truncated}}, nil
}

// Stacks lists the stacks with a state row and those with a work dir.
func (p *Provider) Stacks(ctx context.Context) ([]string, error) {
	infos, err := p.StackInfos(ctx, envs.StackScopes{})
	var out []string
	for _, in := range infos {
		out = append(out, in.Handle)
	}
	return out, err
}

// StackInfos lists the stacks for the orphan sweep: every state row, and
// every work dir left without one.
func (p *Provider) StackInfos(ctx context.Context, _ envs.StackScopes) ([]envs.StackInfo, error) {
	rows, err := p.cfg.States.Stacks(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []envs.StackInfo
	for _, r := range rows {
		seen[r.Stack] = true
		in := envs.StackInfo{Handle: r.Stack, Name: r.Stack, CreatedAt: r.CreatedAt, Status: "OK"}
		if rn, _, err := p.loadRun(ctx, r.Stack); err == nil && rn != nil {
			in.EnvironmentID = rn.EnvironmentID
		}
		out = append(out, in)
	}
	entries, err := os.ReadDir(p.cfg.Root)
	if err != nil {
		return out, fmt.Errorf("tofu: list work dirs: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || seen[e.Name()] || !stackPattern.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, envs.StackInfo{Handle: e.Name(), Name: e.Name(), CreatedAt: info.ModTime().UTC(), Status: "WORK_DIR_ONLY"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Handle < out[j].Handle })
	return out, nil
}

// ValidateStack checks the stack body and, with the binary at hand, the
// configuration itself (tofu validate, after an init without the backend
// that installs its providers from the mirror), so that a bad
// configuration is refused at publish with its file and line.
func (p *Provider) ValidateStack(raw json.RawMessage) error {
	st, err := ParseStack(raw)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(p.cfg.Root, ".validate-")
	if err != nil {
		return fmt.Errorf("tofu: validate: %w", err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, ".log"))
	if err != nil {
		return err
	}
	defer f.Close()
	r := &runner{p: p, stack: "validate", dir: filepath.Join(dir, "w"), log: f}
	if err := r.prepare(st); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.InitTimeout)
	defer cancel()
	if _, _, err := r.run(ctx, "init", p.cfg.InitTimeout, "init", "-input=false", "-json", "-backend=false"); err != nil {
		return invalidConfig(err)
	}
	// validate -json prints one document (not lines) with the diagnostics.
	out, _, err := r.run(ctx, "validate", p.cfg.InitTimeout, "validate", "-json", "-no-color")
	var res struct {
		Valid       bool             `json:"valid"`
		Diagnostics []tofuDiagnostic `json:"diagnostics"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		if err != nil {
			return invalidConfig(err)
		}
		return fmt.Errorf("tofu: validate: %w", jerr)
	}
	se := &stepError{step: "validate"}
	for _, d := range res.Diagnostics {
		if d.Severity != "error" {
			continue
		}
		dg := diagnostic{Message: strings.Join(strings.Fields(d.Summary+": "+d.Detail), " ")}
		if d.Range != nil {
			dg.File, dg.Line = d.Range.Filename, d.Range.Start.Line
		}
		se.diags = append(se.diags, dg)
	}
	if !res.Valid || len(se.diags) > 0 {
		return invalidConfig(se)
	}
	return nil
}

// invalidConfig turns a failed init or validate into field errors naming
// each file and line at fault.
func invalidConfig(err error) error {
	var se *stepError
	if !errors.As(err, &se) {
		return err
	}
	var fields []envs.FieldError
	for _, d := range se.diags {
		fe := envs.FieldError{Field: "stack.files", Message: d.Message}
		if d.File != "" {
			fe.Field = fmt.Sprintf("stack.files[%s]", d.File)
			fe.Message = fmt.Sprintf("line %d: %s", d.Line, d.Message)
		}
		fields = append(fields, fe)
	}
	if len(fields) == 0 {
		fields = append(fields, envs.FieldError{Field: "stack.files", Message: se.Error()})
	}
	return envs.Invalid("invalid stack", fields...)
}

// Version runs the binary's `version -json` (with the provider's CLI
// configuration, in a scratch dir) and returns the version it reports,
// so a wrong --tofu-binary is found at start, not at the first launch.
func (p *Provider) Version(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp(p.cfg.Root, ".version-")
	if err != nil {
		return "", fmt.Errorf("tofu: version: %w", err)
	}
	defer os.RemoveAll(dir)
	r := &runner{p: p, stack: "version", dir: dir, log: io.Discard}
	if err := r.prepare(nil); err != nil {
		return "", err
	}
	out, _, err := r.run(ctx, "version", time.Minute, "version", "-json")
	if err != nil {
		return "", err
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.Version == "" {
		return "", fmt.Errorf("tofu: %s does not report a version (is it tofu or terraform?)", p.cfg.Binary)
	}
	return v.Version, nil
}

// Describe says how the provider is set up, for the admin page.
func (p *Provider) Describe(version string) string {
	from := "no provider mirror"
	if p.cfg.Mirror != "" {
		from = "providers from " + p.cfg.Mirror
	}
	dl := "downloads off"
	if p.cfg.AllowDownloads {
		dl = "downloads allowed"
	}
	return fmt.Sprintf("%s %s (%s, %s)", filepath.Base(p.cfg.Binary), version, from, dl)
}
