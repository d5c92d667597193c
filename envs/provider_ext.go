package envs

import (
	"context"
	"encoding/json"
	"time"
)

// Optional provider capabilities. The orchestrator checks for them by type
// assertion, so a provider that does not need one (local) is unaffected.

// StackInfo describes one stack a provider found, for the orphan sweep.
type StackInfo struct {
	Handle        string
	Name          string
	EnvironmentID string // from the stack's tags
	Status        string
	CreatedAt     time.Time
}

// StackDescriber lists a provider's stacks with what the orphan sweep needs
// to judge them (their age and the environment they were created for).
type StackDescriber interface {
	StackInfos(ctx context.Context) ([]StackInfo, error)
}

// Choice is one value a parameter can take, with a label for the form.
type Choice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// ParamChoicer gives parameters choices that only the provider knows (the
// snapshots a DR drill can restore), newest or preferred first. ok is false
// for a parameter whose choices are not the provider's.
type ParamChoicer interface {
	ParamChoices(ctx context.Context, stack json.RawMessage, param string) (choices []Choice, ok bool, err error)
}

// RetainingDestroyer retries a failed destroy leaving named resources in
// place (CloudFormation's RetainResources).
type RetainingDestroyer interface {
	DestroyRetaining(ctx context.Context, handle string, retain []string) (done bool, err error)
}

// ProvisionTimeouter is a provider whose stacks legitimately take longer to
// come up than the orchestrator's default (a database restored from a
// snapshot in the cloud takes tens of minutes).
type ProvisionTimeouter interface {
	ProvisionTimeout() time.Duration
}

func provisionTimeout(p Provider, def time.Duration) time.Duration {
	if pt, ok := p.(ProvisionTimeouter); ok {
		return max(def, pt.ProvisionTimeout())
	}
	return def
}
