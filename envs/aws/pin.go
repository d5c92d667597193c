package aws

import (
	"context"
	"encoding/json"
	"maps"
	"slices"

	"github.com/mayflyhq/mayfly/envs"
)

var _ envs.SnapshotPinner = (*Provider)(nil)

// snapshotChoice is the parameter of the stack whose value is the RDS
// snapshot to restore, with its source; ok is false unless the stack has
// exactly one (a stack restoring several databases has no one snapshot to
// pin: their snapshots are chosen as parameters).
func (s *Stack) snapshotChoice() (param string, src RDSSnapshots, ok bool) {
	n := 0
	for _, name := range slices.Sorted(maps.Keys(s.Choices)) {
		if c := s.Choices[name].RDSSnapshots; c != nil {
			param, src = name, *c
			n++
		}
	}
	return param, src, n == 1
}

// database names what the snapshots are of, as people read it.
func (r RDSSnapshots) database() string { return r.DBInstance + r.DBCluster }

// PinSnapshot implements envs.SnapshotPinner: the stack's snapshot
// parameter names the snapshot (Provision also prefers
// ProvisionRequest.Snapshot). A value of that parameter naming another
// snapshot is refused rather than silently replaced.
func (p *Provider) PinSnapshot(raw json.RawMessage, params map[string]string, snapshot string) (map[string]string, error) {
	s, _, err := ParseStack(raw)
	if err != nil {
		return nil, err
	}
	param, _, ok := s.snapshotChoice()
	if !ok {
		return nil, envs.Errorf(envs.EInvalid, "the stack restores no single RDS snapshot (it has %d rds_snapshots choices): choose the snapshots as parameters instead", countSnapshotChoices(s))
	}
	if v := params[param]; v != "" && v != snapshot {
		return nil, envs.Errorf(envs.EInvalid, "params.%s chooses the snapshot %s, and the same snapshot is %s: leave one of them out", param, v, snapshot)
	}
	out := maps.Clone(params)
	if out == nil {
		out = map[string]string{}
	}
	out[param] = snapshot
	return out, nil
}

func countSnapshotChoices(s *Stack) int {
	n := 0
	for _, c := range s.Choices {
		if c.RDSSnapshots != nil {
			n++
		}
	}
	return n
}

// CheckSnapshot implements envs.SnapshotPinner: the snapshot must still be
// an available snapshot of the stack's database.
func (p *Provider) CheckSnapshot(ctx context.Context, raw json.RawMessage, snapshot string) error {
	s, _, err := ParseStack(raw)
	if err != nil {
		return err
	}
	_, src, ok := s.snapshotChoice()
	if !ok {
		return envs.Errorf(envs.EInvalid, "the stack restores no single RDS snapshot (it has %d rds_snapshots choices)", countSnapshotChoices(s))
	}
	snaps, err := p.snapshots(ctx, p.client(s.Region, s.RoleARN), src)
	if err != nil {
		return err
	}
	for _, sn := range snaps {
		if sn.ID == snapshot {
			return nil
		}
	}
	return &envs.SnapshotGoneError{Snapshot: snapshot, Dataset: src.database()}
}
