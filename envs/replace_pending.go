package envs

import (
	"context"
	"time"
)

// PLACEHOLDER — the lead deletes this file at merge. Replacing an
// environment's stack with another version (blue/green, issue 12 item 1)
// is built on another branch, which provides exactly these types and
// Service.Replace; the rollout engine and the deprecation job are built
// against them. Until then Replace refuses.

// ReplaceRequest asks to replace an environment's stack with another
// version's.
type ReplaceRequest struct {
	ID      string            // the environment
	Version string            // target version; "" = the environment's own version
	Params  map[string]string // values for parameters the target version adds without a default
	Reason  string            // why, for the timeline and audit: "Rollout ro-123", ...
}

// Replacement is an environment's latest replace attempt.
type Replacement struct {
	FromVersion, ToVersion string
	State                  string // "building", "switched" (done), "failed"
	Reason                 string // failure reason when failed
	StartedAt, FinishedAt  time.Time
}

// Replace queues the replace and returns at once.
func (s *Service) Replace(ctx context.Context, actor Actor, req ReplaceRequest) (*Environment, error) {
	return nil, Errorf(EUnavailable, "replace is not available yet")
}
