package aws_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

const restoreTemplate = `Parameters:
  Snapshot:
    Type: String
Resources:
  DB:
    Type: AWS::RDS::DBInstance
    Properties:
      DBSnapshotIdentifier: !Ref Snapshot
      DBInstanceClass: db.t4g.micro
Outputs:
  Endpoint:
    Value: !GetAtt DB.Endpoint.Address
`

func drillStack(t *testing.T, src mfaws.RDSSnapshots) []byte {
	return stackBody(t, mfaws.Stack{Template: restoreTemplate, Parameters: map[string]string{"Snapshot": "{{.Params.snapshot}}"},
		Choices: map[string]mfaws.ChoiceSource{"snapshot": {RDSSnapshots: &src}}})
}

func addSnapshots(srv *awstest.Server, now time.Time) {
	srv.AddSnapshot(awstest.Snapshot{ID: "prod-old", Instance: "prod", TakenAt: now.Add(-50 * time.Hour)})
	srv.AddSnapshot(awstest.Snapshot{ID: "prod-new", Instance: "prod", TakenAt: now.Add(-2 * time.Hour)})
	srv.AddSnapshot(awstest.Snapshot{ID: "prod-mid", Instance: "prod", TakenAt: now.Add(-26 * time.Hour)})
	srv.AddSnapshot(awstest.Snapshot{ID: "prod-copying", Instance: "prod", Status: "creating", TakenAt: now.Add(-time.Hour)})
	srv.AddSnapshot(awstest.Snapshot{ID: "staging-1", Instance: "staging", TakenAt: now.Add(-time.Minute)})
	srv.AddSnapshot(awstest.Snapshot{ID: "aurora-a", Cluster: "prod-cluster", TakenAt: now.Add(-3 * time.Hour)})
	srv.AddSnapshot(awstest.Snapshot{ID: "aurora-b", Cluster: "prod-cluster", TakenAt: now.Add(-1 * time.Hour)})
}

func TestSnapshotChoices(t *testing.T) {
	p, srv := newProvider(t)
	srv.PageSize = 2
	addSnapshots(srv, time.Now())
	tests := []struct {
		name string
		src  mfaws.RDSSnapshots
		want []string
	}{
		{"instance: available ones, newest first", mfaws.RDSSnapshots{DBInstance: "prod"}, []string{"prod-new", "prod-mid", "prod-old"}},
		{"cluster", mfaws.RDSSnapshots{DBCluster: "prod-cluster"}, []string{"aurora-b", "aurora-a"}},
		{"no snapshots", mfaws.RDSSnapshots{DBInstance: "nothing"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			choices, ok, err := p.ParamChoices(context.Background(), drillStack(t, tt.src), "snapshot")
			if err != nil || !ok {
				t.Fatalf("ParamChoices: %v, ok %v", err, ok)
			}
			var got []string
			for _, c := range choices {
				got = append(got, c.Value)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if len(choices) > 0 && !strings.Contains(choices[0].Label, "old") {
				t.Errorf("label %q does not say the snapshot's age", choices[0].Label)
			}
		})
	}
	if _, ok, _ := p.ParamChoices(context.Background(), drillStack(t, mfaws.RDSSnapshots{DBInstance: "prod"}), "other"); ok {
		t.Error("a parameter without a source got choices")
	}
}

func TestRestoreRecordsTheSnapshotForRPO(t *testing.T) {
	tests := []struct {
		name   string
		chosen string
		want   string
		age    time.Duration
	}{
		{"empty means the latest", "", "prod-new", 2 * time.Hour},
		{"an older one", "prod-old", "prod-old", 50 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := newProvider(t)
			now := time.Now().UTC().Truncate(time.Second)
			addSnapshots(srv, now)
			req := request(t, drillStack(t, mfaws.RDSSnapshots{DBInstance: "prod"}))
			req.Params = map[string]string{"snapshot": tt.chosen}
			h, err := p.Provision(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := waitState(t, p, h)
			if st.State != envs.StackReady {
				t.Fatalf("state %s: %s", st.State, st.Reason)
			}
			if got := stackOf(t, srv, "mayfly-demo").Params["Snapshot"]; got != tt.want {
				t.Errorf("restored %q, want %q", got, tt.want)
			}
			taken, err := time.Parse(time.RFC3339, st.Facts[envs.FactSnapshotTakenAt])
			if err != nil || !taken.Equal(now.Add(-tt.age)) || st.Facts[envs.FactSnapshotName] != tt.want {
				t.Errorf("facts %v, want %s taken at %s", st.Facts, tt.want, now.Add(-tt.age))
			}
		})
	}
}

func TestRestoreRefusesAnotherInstancesSnapshot(t *testing.T) {
	p, srv := newProvider(t)
	addSnapshots(srv, time.Now())
	req := request(t, drillStack(t, mfaws.RDSSnapshots{DBInstance: "prod"}))
	req.Params = map[string]string{"snapshot": "staging-1"}
	if _, err := p.Provision(context.Background(), req); err == nil || !strings.Contains(err.Error(), "not an available snapshot of prod") {
		t.Fatalf("got %v, want a refusal", err)
	}
	if n := len(srv.Stacks()); n != 0 {
		t.Errorf("%d stacks created", n)
	}
}

// TestPinnedSnapshot: a relaunch from the same snapshot restores that
// snapshot, not the latest; one that is gone is said so at the check and
// fails the provision without creating a stack.
func TestPinnedSnapshot(t *testing.T) {
	ctx := context.Background()
	p, srv := newProvider(t)
	addSnapshots(srv, time.Now())
	stack := drillStack(t, mfaws.RDSSnapshots{DBInstance: "prod"})

	t.Run("the parameter names the pinned snapshot", func(t *testing.T) {
		got, err := p.PinSnapshot(stack, map[string]string{"snapshot": ""}, "prod-mid")
		if err != nil || got["snapshot"] != "prod-mid" {
			t.Fatalf("PinSnapshot: %v, %v; want snapshot=prod-mid", got, err)
		}
		if _, err := p.PinSnapshot(stack, map[string]string{"snapshot": "prod-old"}, "prod-mid"); envs.ErrorCode(err) != envs.EInvalid ||
			!strings.Contains(err.Error(), "params.snapshot chooses the snapshot prod-old") {
			t.Errorf("PinSnapshot with another snapshot chosen: %v, want it refused", err)
		}
		two := stackBody(t, mfaws.Stack{Template: restoreTemplate, Parameters: map[string]string{"Snapshot": "{{.Params.a}}"},
			Choices: map[string]mfaws.ChoiceSource{"a": {RDSSnapshots: &mfaws.RDSSnapshots{DBInstance: "prod"}}, "b": {RDSSnapshots: &mfaws.RDSSnapshots{DBInstance: "staging"}}}})
		if _, err := p.PinSnapshot(two, nil, "prod-mid"); envs.ErrorCode(err) != envs.EInvalid {
			t.Errorf("PinSnapshot of a stack with two snapshot choices: %v, want it refused", err)
		}
	})

	t.Run("an available snapshot is restored", func(t *testing.T) {
		if err := p.CheckSnapshot(ctx, stack, "prod-mid"); err != nil {
			t.Fatalf("CheckSnapshot: %v", err)
		}
		req := request(t, stack)
		req.Snapshot = "prod-mid"
		h, err := p.Provision(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := waitState(t, p, h)
		if got := stackOf(t, srv, "mayfly-demo").Params["Snapshot"]; got != "prod-mid" || st.Facts[envs.FactSnapshotName] != "prod-mid" {
			t.Errorf("restored %q (facts %v), want the pinned prod-mid rather than the latest prod-new", got, st.Facts)
		}
	})

	t.Run("a snapshot that is gone", func(t *testing.T) {
		srv.RemoveSnapshot("prod-old")
		err := p.CheckSnapshot(ctx, stack, "prod-old")
		var gone *envs.SnapshotGoneError
		if !errors.As(err, &gone) || err.Error() != "snapshot prod-old of dataset prod is gone; relaunch from the latest instead" {
			t.Fatalf("CheckSnapshot: %v, want it gone", err)
		}
		before := len(srv.Stacks())
		req := request(t, stack)
		req.EnvironmentID, req.Snapshot = "env-gone", "prod-old"
		if _, err := p.Provision(ctx, req); !errors.As(err, &gone) {
			t.Fatalf("Provision: %v, want a SnapshotGoneError", err)
		}
		if n := len(srv.Stacks()); n != before {
			t.Errorf("%d stacks after a provision of a gone snapshot, want %d", n, before)
		}
	})
}
