package main

import (
	"context"
	"testing"
	"time"

	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

func TestAWSOrphanSweep(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		ghostDelete bool // the Mayfly-tagged stack of no environment
	}{
		{"deletes orphans past the grace", []string{"--aws-orphan-grace", "0s"}, true},
		{"dry run only reports", []string{"--aws-orphan-grace", "0s", "--aws-orphan-dry-run"}, false},
		{"keeps orphans within the grace", []string{"--aws-orphan-grace", "1h"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fake := startAWSMain(t, append([]string{"--aws-orphan-sweep-interval", "200ms"}, tt.args...)...)
			ctx := context.Background()
			instance, err := s.DB.Setting(ctx, "instance_id")
			if err != nil {
				t.Fatal(err)
			}
			live := s.launch(map[string]any{"template": "aws-topic", "name": "live", "params": map[string]any{"customer": "a"}})
			s.waitStatus(live.ID, "ready", 20*time.Second)
			ghost := fake.AddForeignStack("mayfly-ghost", map[string]string{mfaws.TagInstance: instance, mfaws.TagEnvironment: "env-ghost"})
			foreign := fake.AddForeignStack("billing-prod", map[string]string{"team": "billing"})
			other := fake.AddForeignStack("mayfly-elsewhere", map[string]string{mfaws.TagInstance: "mfi-other", mfaws.TagEnvironment: "env-x"})

			// The orphan is reported (admin view) whatever the policy.
			orphans, err := s.Service.Orphans(ctx)
			if err != nil || len(orphans) != 1 || orphans[0].Handle != ghost {
				t.Fatalf("orphans: %+v, %v; want only %s", orphans, err, ghost)
			}
			// Wait for the deletion, or for a few sweeps (each lists the
			// stacks; nothing else does once the environment is ready).
			base := fake.Calls("DescribeStacks")
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) && statusOf(fake.Stacks(), ghost) != "DELETE_COMPLETE" && fake.Calls("DescribeStacks") < base+3 {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(5 * fake.Step) // a deletion started by the last sweep completes
			if got := statusOf(fake.Stacks(), ghost) == "DELETE_COMPLETE"; got != tt.ghostDelete {
				t.Errorf("orphan deleted: got %v, want %v", got, tt.ghostDelete)
			}
			for _, id := range []string{foreign, other} {
				if st := statusOf(fake.Stacks(), id); st != "CREATE_COMPLETE" {
					t.Errorf("a stack that is not this instance's was touched: %s is %s", id, st)
				}
			}
			if st := s.env(live.ID).Status; st != "ready" {
				t.Errorf("live environment: %s", st)
			}
		})
	}
}

func statusOf(stacks []awstest.Stack, id string) string {
	for _, s := range stacks {
		if s.ID == id {
			return s.Status
		}
	}
	return ""
}
