package local

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// Names inside a work directory.
const (
	stateFile   = "stack.json"
	logsDirName = "logs"
	setupLog    = "setup"
	verifyLog   = "verify"
)

// Phases of a stack as recorded in stack.json.
const (
	// phaseProvisioning is written before anything else: finding it later
	// means Provision did not finish (the portal crashed or was stopped).
	phaseProvisioning = "provisioning"
	// phaseStarted means every service was started; Status takes over.
	phaseStarted = "started"
	// phaseFailed means Provision gave up; Reason says why.
	phaseFailed = "failed"
)

// stackState is everything the provider knows about one stack. It lives in
// <work dir>/stack.json so that a restarted portal can find the stack's
// processes again. Everything in it that was rendered from the parameters
// or written by the stack's commands (verify commands, outputs, the failure
// reason, events not yet reported) may quote a secret parameter, so that
// part is sealed with the portal's key (sealedPart); the rest is ids,
// ports, times and phases. The file is private to the portal's user. The
// stack's own processes may write their work dir, this file too: the
// provider never trusts it to name a cgroup other than the stack's own
// (validCgroup).
type stackState struct {
	ID    string `json:"id"`
	Phase string `json:"phase"`
	// Reason is set once the stack has failed; a failure is final. It is
	// sealed in stack.json ("reason" is read from older files only), like
	// Outputs, Events and the verify commands.
	Reason    string            `json:"reason,omitempty"`
	StartedAt time.Time         `json:"started_at,omitzero"`
	Services  []serviceState    `json:"services"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	Facts     map[string]string `json:"facts,omitempty"`
	// Cgroup is the stack's cgroup v2 directory when the host has one the
	// portal may write: every process of the stack is started in it, so a
	// destroy after a restart finds them all.
	Cgroup string `json:"cgroup,omitempty"`
	// Sealed is the sealedPart, sealed with Config.Sealer for the handle.
	Sealed []byte `json:"sealed,omitempty"`
	// LegacyVerify is where older versions kept the verify commands, in
	// clear: read, then sealed at the next save.
	LegacyVerify []runCommand `json:"verify,omitempty"`
	// Command is the setup or verify command running right now, recorded
	// so that it is stopped too if the portal dies while it runs.
	Command processRecord `json:"command,omitzero"`
	// HasVerify says the stack has verify commands (they are sealed), so
	// that a stack whose sealed part cannot be opened is never taken for
	// one with nothing to verify.
	HasVerify bool `json:"has_verify,omitempty"`
	Verified  bool `json:"verified,omitempty"`
	// DriftFiles are the stack's drift.files patterns; HasBaseline says
	// the drift baseline (sealed, so the stack's processes cannot forge
	// it) was recorded, when the stack first was ready.
	DriftFiles  []string `json:"drift_files,omitempty"`
	HasBaseline bool     `json:"has_baseline,omitempty"`
	// Events are provider events not yet returned by Status.
	Events []eventRecord `json:"pending_events,omitempty"`

	// sealer seals and opens Sealed; verify are the verify commands, in
	// memory only.
	sealer Sealer
	verify []runCommand
	// report, while Provision runs, sends each event to the orchestrator
	// at once (envs.ProvisionRequest.Progress) instead of keeping it for
	// the next Status.
	report   func(envs.ProviderEvent)
	baseline *driftBaseline
}

// sealedPart is what stack.json keeps sealed.
type sealedPart struct {
	Verify  []runCommand      `json:"verify,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	Outputs map[string]string `json:"outputs,omitempty"`
	Events  []eventRecord     `json:"events,omitempty"`
	// Baseline is what the drift checks compare the stack with.
	Baseline *driftBaseline `json:"drift_baseline,omitempty"`
}

func (sp sealedPart) empty() bool {
	return len(sp.Verify) == 0 && sp.Reason == "" && len(sp.Outputs) == 0 && len(sp.Events) == 0 && sp.Baseline == nil
}

// setVerify keeps the verify commands (sealed at each save).
func (st *stackState) setVerify(cmds []runCommand) {
	st.verify, st.LegacyVerify, st.HasVerify = cmds, nil, len(cmds) > 0
}

// open reads the sealed part of a loaded stack.json; what an older version
// wrote in clear is kept as read, and sealed at the next save. A sealed
// part that cannot be opened (the secret key was changed and the old one
// dropped) loses the outputs and events it held; a stack still to be
// verified then fails, since its verify commands are gone, and a failed
// one keeps failing. The error says what was lost.
func (st *stackState) open() error {
	if len(st.LegacyVerify) > 0 {
		st.setVerify(st.LegacyVerify)
	}
	if len(st.Sealed) == 0 {
		return nil
	}
	var part sealedPart
	plain, err := st.sealer.Open(st.Sealed, []byte(st.ID))
	if err == nil {
		err = json.Unmarshal(plain, &part)
	}
	if err != nil {
		err = fmt.Errorf("cannot open the sealed part of %s (was the secret key changed?): %w", stateFile, err)
		switch {
		case st.HasVerify && !st.Verified:
			st.Reason = "verify failed: " + err.Error()
		case st.Phase == phaseFailed:
			st.Reason = "the stack failed; " + err.Error()
		}
		return err
	}
	st.verify, st.Reason, st.Outputs, st.Events = part.Verify, part.Reason, part.Outputs, part.Events
	st.baseline = part.Baseline
	return nil
}

type serviceState struct {
	Name string `json:"name"`
	Port int    `json:"port"`
	// Process is zero until the service was started.
	Process processRecord `json:"process"`
	// HealthPath is empty when the service has no health check: it is
	// healthy once started and still running.
	HealthPath    string    `json:"health_path,omitempty"`
	Interval      duration  `json:"health_interval,omitempty"`
	HealthTimeout duration  `json:"health_timeout,omitempty"`
	Healthy       bool      `json:"healthy,omitempty"`
	CheckedAt     time.Time `json:"checked_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
}

type eventRecord struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

func (st *stackState) event(at time.Time, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if st.report != nil {
		st.report(envs.ProviderEvent{At: at, Message: msg})
		return
	}
	st.Events = append(st.Events, eventRecord{At: at, Message: msg})
}

// processes returns the record of every process that was started: the
// services and a command that may have been running.
func (st *stackState) processes() []processRecord {
	var recs []processRecord
	if st.Command.PID > 0 {
		recs = append(recs, st.Command)
	}
	for _, svc := range st.Services {
		if svc.Process.PID > 0 {
			recs = append(recs, svc.Process)
		}
	}
	return recs
}

func loadState(dir string) (*stackState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var st stackState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", stateFile, err)
	}
	return &st, nil
}

// save writes stack.json atomically (temp file, fsync, rename): a crash
// leaves either the previous state or the new one, never half of either.
func (st *stackState) save(dir string) error {
	out := *st
	out.Reason, out.Outputs, out.Events, out.LegacyVerify, out.Sealed = "", nil, nil, nil, nil
	if part := (sealedPart{Verify: st.verify, Reason: st.Reason, Outputs: st.Outputs, Events: st.Events, Baseline: st.baseline}); !part.empty() {
		plain, err := json.Marshal(part)
		if err != nil {
			return fmt.Errorf("encode %s: %w", stateFile, err)
		}
		if out.Sealed, err = st.sealer.Seal(plain, []byte(st.ID)); err != nil {
			return fmt.Errorf("seal %s: %w", stateFile, err)
		}
	}
	b, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", stateFile, err)
	}
	tmp, err := os.CreateTemp(dir, "."+stateFile+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", stateFile, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", stateFile, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", stateFile, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", stateFile, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("write %s: %w", stateFile, err)
	}
	return nil
}

// duration is a time.Duration kept as a Go duration string in stack.json,
// so the file stays readable by an operator.
type duration time.Duration

func (d duration) D() time.Duration { return time.Duration(d) }

func (d duration) String() string { return time.Duration(d).String() }

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}
