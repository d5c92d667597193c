package envs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Drift detection: a ready stack is checked against what its version
// declares (aws: CloudFormation's drift detection; local: the processes,
// ports and files the stack declared), on a schedule set per template and
// on demand. The result lands on the environment; the remedy is a fresh
// stack of the same version (see drift_remedy.go). The checks run as jobs
// (drift_jobs.go); how drift relates to the health check is in
// docs/decisions.md.

// DriftRemedy is what happens to an environment whose stack drifted.
type DriftRemedy string

const (
	// RemedyManual leaves it to people: the environment page says how to
	// fix it.
	RemedyManual DriftRemedy = "manual"
	// RemedyReplace replaces the stack with a fresh one of the same
	// version, automatically.
	RemedyReplace DriftRemedy = "replace"
)

// Drift schedule bounds: a check costs provider calls (CloudFormation
// limits drift detections per account), so not more often than every few
// minutes; and at least monthly, so "drifted" is never a year old.
const (
	DefaultDriftInterval = 24 * time.Hour
	MinDriftInterval     = 5 * time.Minute
	MaxDriftInterval     = 30 * 24 * time.Hour
)

// DriftPolicy is a version's `drift:` section. A nil policy is the
// default: checked daily, remedied by hand.
type DriftPolicy struct {
	// Interval is the time between scheduled checks (0: the default).
	Interval time.Duration `json:"interval,omitempty"`
	// Off turns scheduled checks off; checks on demand still run.
	Off    bool        `json:"off,omitempty"`
	Remedy DriftRemedy `json:"remedy,omitempty"`
}

// DriftSchedule is the time between scheduled drift checks of the spec's
// environments, 0 when they are checked on demand only.
func (s *Spec) DriftSchedule() time.Duration {
	switch {
	case s.Drift == nil:
		return DefaultDriftInterval
	case s.Drift.Off:
		return 0
	}
	return cmpOr(s.Drift.Interval, DefaultDriftInterval)
}

// DriftRemedy is what happens to the spec's drifted environments.
func (s *Spec) DriftRemedy() DriftRemedy {
	if s.Drift == nil {
		return RemedyManual
	}
	return cmpOr(s.Drift.Remedy, RemedyManual)
}

// driftPolicyOf is the policy a version row records, nil for the defaults
// (as a spec that does not mention drift has).
func driftPolicyOf(interval time.Duration, remedy string) *DriftPolicy {
	if interval == DefaultDriftInterval && (remedy == "" || remedy == string(RemedyManual)) {
		return nil
	}
	return &DriftPolicy{Interval: interval, Off: interval == 0, Remedy: DriftRemedy(remedy)}
}

type rawDrift struct {
	Interval string `yaml:"interval"`
	Remedy   string `yaml:"remedy"`
}

// drift validates a template's `drift:` section.
func (v *validator) drift(raw rawDrift) *DriftPolicy {
	p := &DriftPolicy{}
	switch in := strings.TrimSpace(raw.Interval); in {
	case "":
	case "off":
		p.Off = true
	default:
		d, err := time.ParseDuration(in)
		switch {
		case err != nil:
			v.add("drift.interval", fmt.Sprintf("%q is not a duration such as 24h, or off", raw.Interval))
		case d < MinDriftInterval:
			v.add("drift.interval", fmt.Sprintf("%s is shorter than the minimum of %s (or off)", in, FormatDuration(MinDriftInterval)))
		case d > MaxDriftInterval:
			v.add("drift.interval", fmt.Sprintf("%s is longer than the maximum of %s", in, FormatDuration(MaxDriftInterval)))
		default:
			p.Interval = d
		}
	}
	switch r := DriftRemedy(strings.TrimSpace(raw.Remedy)); r {
	case "":
	case RemedyManual, RemedyReplace:
		p.Remedy = r
	default:
		v.add("drift.remedy", fmt.Sprintf("%q is not one of manual, replace", raw.Remedy))
	}
	return p
}

// DriftDetector is a provider that can tell how a ready stack differs from
// what its version declares. The orchestrator's drift checks ask it;
// providers without it are not checked.
type DriftDetector interface {
	// DetectDrift compares the stack of req.Handle with what req.Stack
	// declares and lists each difference; none means the stack is in
	// sync. It may take a while (CloudFormation detects drift
	// asynchronously) but honours ctx. An error means the stack could
	// not be judged: nothing is concluded from it.
	DetectDrift(ctx context.Context, req DriftRequest) (DriftReport, error)
}

// DriftRequest is what a provider gets to check one stack.
type DriftRequest struct {
	Handle string
	// Stack is the version's provider-specific body, as JSON (a provider
	// learns from it which values are secret, say).
	Stack json.RawMessage
}

// DriftReport is what a drift check found.
type DriftReport struct {
	Items []DriftItem
}

// Drift statuses of an item.
const (
	DriftModified = "MODIFIED" // differs from what was declared
	DriftDeleted  = "DELETED"  // declared, and gone
	DriftAdded    = "ADDED"    // not declared, and there (a file matching a declared pattern)
)

// DriftItem is one thing that drifted.
type DriftItem struct {
	// Resource names it: a CloudFormation logical id, a service, a file.
	Resource string `json:"resource"`
	// Type is the resource's type: AWS::S3::Bucket, service, port, file.
	Type string `json:"type"`
	// Status is DriftModified, DriftDeleted or DriftAdded.
	Status string `json:"status"`
	// Detail says what happened in one line a user can act on.
	Detail      string            `json:"detail,omitempty"`
	Differences []DriftDifference `json:"differences,omitempty"`
}

// DriftDifference is one property that differs: what was declared and
// what is there (secret values are masked).
type DriftDifference struct {
	Path     string `json:"path"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	// Kind is ADD, REMOVE or NOT_EQUAL (CloudFormation's words).
	Kind string `json:"kind,omitempty"`
}

// DriftState is the result of an environment's last drift check.
type DriftState string

const (
	DriftNever   DriftState = ""        // never checked
	DriftInSync  DriftState = "in_sync" // what the version declares
	DriftDrifted DriftState = "drifted" // differs: see the items
)

// Drift is what the drift checks say about an environment's stack.
type Drift struct {
	// Supported says the environment's provider checks stacks for drift.
	Supported bool
	// State is the last completed check's result; CheckedAt when it
	// finished, DriftedSince since when the stack has been drifted.
	State        DriftState
	CheckedAt    *time.Time
	DriftedSince *time.Time
	Items        []DriftItem
	// Error is why the last check failed ("" when it did not), at ErrorAt.
	Error   string
	ErrorAt *time.Time
	// Checking says a check is queued or running, asked for at
	// RequestedAt by RequestedBy ("schedule" for the scheduler).
	Checking    bool
	RequestedAt *time.Time
	RequestedBy string
	// NextCheck is when the next scheduled check is due (nil: none).
	NextCheck *time.Time
	// Interval and Remedy are the version's policy (Interval 0: checked
	// on demand only).
	Interval time.Duration
	Remedy   DriftRemedy
}

// Failed reports whether the last check failed.
func (d *Drift) Failed() bool { return d != nil && d.Error != "" }

// Drifted reports whether the last completed check found drift.
func (d *Drift) Drifted() bool { return d != nil && d.State == DriftDrifted }

// Summary is one word for the drift section: never_checked, in_sync,
// drifted or check_failed.
func (d *Drift) Summary() string {
	switch {
	case d.Failed():
		return "check_failed"
	case d == nil || d.State == DriftNever:
		return "never_checked"
	}
	return string(d.State)
}

// Bounds of what one check records: a stack with thousands of drifted
// properties is drifted all the same, and its record stays small.
const (
	maxDriftItems       = 100
	maxDriftDifferences = 50
	maxDriftValue       = 500
)
