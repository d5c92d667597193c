package local

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
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
// processes again. Rendered commands hold parameters, secret ones too, so
// the verify commands it keeps are sealed with the portal's key, and the
// file is private to the portal's user. The stack's own processes may
// write their work dir, this file too: the provider never trusts it to
// name a cgroup other than the stack's own (validCgroup).
type stackState struct {
	ID    string `json:"id"`
	Phase string `json:"phase"`
	// Reason is set once the stack has failed; a failure is final.
	Reason    string            `json:"reason,omitempty"`
	StartedAt time.Time         `json:"started_at,omitzero"`
	Services  []serviceState    `json:"services"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	Facts     map[string]string `json:"facts,omitempty"`
	// Cgroup is the stack's cgroup v2 directory when the host has one the
	// portal may write: every process of the stack is started in it, so a
	// destroy after a restart finds them all.
	Cgroup string `json:"cgroup,omitempty"`
	// VerifySealed holds the rendered verify commands (Status runs them,
	// after a restart too), sealed with Config.Sealer for the handle.
	VerifySealed []byte `json:"verify_sealed,omitempty"`
	// LegacyVerify is where older versions kept them, in clear: read, then
	// sealed at the next save.
	LegacyVerify []runCommand `json:"verify,omitempty"`
	// Command is the setup or verify command running right now, recorded
	// so that it is stopped too if the portal dies while it runs.
	Command  processRecord `json:"command,omitzero"`
	Verified bool          `json:"verified,omitempty"`
	// Events are provider events not yet returned by Status.
	Events []eventRecord `json:"pending_events,omitempty"`

	// verify are the verify commands in clear, in memory only; verifyErr
	// says why VerifySealed could not be opened (the key changed).
	verify    []runCommand
	verifyErr error
}

// setVerify keeps the verify commands, sealed for stack.json.
func (st *stackState) setVerify(s Sealer, cmds []runCommand) error {
	st.verify, st.LegacyVerify, st.VerifySealed = cmds, nil, nil
	if len(cmds) == 0 {
		return nil
	}
	plain, err := json.Marshal(cmds)
	if err != nil {
		return fmt.Errorf("encode verify commands: %w", err)
	}
	if st.VerifySealed, err = s.Seal(plain, []byte(st.ID)); err != nil {
		return fmt.Errorf("seal verify commands: %w", err)
	}
	return nil
}

// openVerify reads the verify commands of a loaded stack.json, sealing
// those an older version wrote in clear.
func (st *stackState) openVerify(s Sealer) {
	if len(st.LegacyVerify) > 0 {
		if err := st.setVerify(s, st.LegacyVerify); err != nil {
			st.verifyErr = err
		}
		return
	}
	if len(st.VerifySealed) == 0 {
		return
	}
	plain, err := s.Open(st.VerifySealed, []byte(st.ID))
	if err == nil {
		err = json.Unmarshal(plain, &st.verify)
	}
	if err != nil {
		st.verifyErr = fmt.Errorf("cannot open the sealed verify commands (was the secret key changed?): %w", err)
	}
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
	st.Events = append(st.Events, eventRecord{At: at, Message: fmt.Sprintf(format, args...)})
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
	b, err := json.MarshalIndent(st, "", "  ")
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
