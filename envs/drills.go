package envs

import (
	"context"
	"time"
)

// Drill is one DR drill of a template: how long recovery took (RTO, from
// launch until the stack was complete and its health check passed) and how
// old the restored data was (RPO, the snapshot's age at launch).
type Drill struct {
	EnvironmentID string         `json:"environment_id"`
	Name          string         `json:"name"`
	Version       string         `json:"version"`
	Status        Status         `json:"status"`
	Snapshot      string         `json:"snapshot,omitempty"`
	LaunchedAt    time.Time      `json:"launched_at"`
	ReadyAt       *time.Time     `json:"ready_at,omitempty"`
	RTO           *time.Duration `json:"-"`
	RPO           *time.Duration `json:"-"`
	FailureReason string         `json:"failure_reason,omitempty"`
}

// Drills lists a template's DR drills, newest first (at most 200), failed
// ones included: a drill that did not recover is evidence too.
func (s *Service) Drills(ctx context.Context, template string) ([]Drill, error) {
	if _, err := s.Template(ctx, template); err != nil {
		return nil, err
	}
	envs, err := s.Environments(ctx, Filter{Template: template, Limit: 200})
	if err != nil {
		return nil, err
	}
	var out []Drill
	for _, e := range envs {
		if e.Kind != KindDR {
			continue
		}
		out = append(out, Drill{EnvironmentID: e.ID, Name: e.Name, Version: e.Version, Status: e.Status,
			Snapshot: e.Facts[FactSnapshotName], LaunchedAt: e.CreatedAt, ReadyAt: e.ReadyAt, RTO: e.RTO, RPO: e.RPO,
			FailureReason: e.FailureReason})
	}
	return out, nil
}
