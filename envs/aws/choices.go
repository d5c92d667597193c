package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/mayflyhq/mayfly/envs"
)

// snapshotInfo is one RDS snapshot a drill can restore.
type snapshotInfo struct {
	ID      string
	TakenAt time.Time
}

// maxChoices bounds the snapshots offered in a form.
const maxChoices = 50

// ParamChoices implements envs.ParamChoicer: the choices of a parameter
// whose stack body names a source, newest first (the first is the default).
// ok is false for a parameter without a source.
func (p *Provider) ParamChoices(ctx context.Context, raw json.RawMessage, param string) ([]envs.Choice, bool, error) {
	s, _, err := ParseStack(raw)
	if err != nil {
		return nil, false, err
	}
	src, ok := s.Choices[param]
	if !ok || src.RDSSnapshots == nil {
		return nil, false, nil
	}
	snaps, err := p.snapshots(ctx, p.client(s.Region, s.RoleARN), *src.RDSSnapshots)
	if err != nil {
		return nil, true, err
	}
	now := p.cfg.Clock()
	out := make([]envs.Choice, 0, len(snaps))
	for _, sn := range snaps {
		out = append(out, envs.Choice{Value: sn.ID, Label: fmt.Sprintf("%s (%s, %s old)", sn.ID,
			sn.TakenAt.UTC().Format("2006-01-02 15:04 UTC"), envs.FormatDuration(now.Sub(sn.TakenAt).Truncate(time.Minute)))})
	}
	return out, true, nil
}

// snapshots lists the available snapshots of the source, newest first.
func (p *Provider) snapshots(ctx context.Context, c *clients, src RDSSnapshots) ([]snapshotInfo, error) {
	var out []snapshotInfo
	if src.DBCluster != "" {
		pages := rds.NewDescribeDBClusterSnapshotsPaginator(c.rds, &rds.DescribeDBClusterSnapshotsInput{DBClusterIdentifier: aws.String(src.DBCluster)})
		for pages.HasMorePages() && len(out) < 10*maxChoices {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("aws: describe cluster snapshots of %s: %w", src.DBCluster, err)
			}
			for _, s := range page.DBClusterSnapshots {
				if aws.ToString(s.Status) == "available" && s.SnapshotCreateTime != nil {
					out = append(out, snapshotInfo{aws.ToString(s.DBClusterSnapshotIdentifier), *s.SnapshotCreateTime})
				}
			}
		}
	} else {
		pages := rds.NewDescribeDBSnapshotsPaginator(c.rds, &rds.DescribeDBSnapshotsInput{DBInstanceIdentifier: aws.String(src.DBInstance)})
		for pages.HasMorePages() && len(out) < 10*maxChoices {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("aws: describe snapshots of %s: %w", src.DBInstance, err)
			}
			for _, s := range page.DBSnapshots {
				if aws.ToString(s.Status) == "available" && s.SnapshotCreateTime != nil {
					out = append(out, snapshotInfo{aws.ToString(s.DBSnapshotIdentifier), *s.SnapshotCreateTime})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TakenAt.After(out[j].TakenAt) })
	if len(out) > maxChoices {
		out = out[:maxChoices]
	}
	return out, nil
}

// snapshot finds one chosen snapshot of the source; a snapshot of anything
// else is refused, so a drill restores only what its template allows.
func (p *Provider) snapshot(ctx context.Context, c *clients, src RDSSnapshots, id string) (snapshotInfo, error) {
	snaps, err := p.snapshots(ctx, c, src)
	if err != nil {
		return snapshotInfo{}, err
	}
	for _, s := range snaps {
		if s.ID == id || id == "" {
			return s, nil
		}
	}
	if id == "" {
		return snapshotInfo{}, fmt.Errorf("aws: %s has no available snapshot", src.database())
	}
	return snapshotInfo{}, &noSuchSnapshot{id: id, database: src.database()}
}

// noSuchSnapshot is snapshot's error for a snapshot that is not among the
// available ones.
type noSuchSnapshot struct{ id, database string }

func (e *noSuchSnapshot) Error() string {
	return fmt.Sprintf("aws: snapshot %q is not an available snapshot of %s", e.id, e.database)
}
