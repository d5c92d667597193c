package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

// The orchestrator hands the provider the environment's provision attempt:
// polls (the job re-scheduling itself) keep it, a failed attempt moves it
// on, so the retried CreateStack carries a new ClientRequestToken.
func TestAWSProvisionAttempt(t *testing.T) {
	tests := []struct {
		name        string
		fault       func(*awstest.Server)
		wantAttempt int
		wantEvent   string // "" for none
	}{
		{"polls keep the first attempt", func(f *awstest.Server) { f.Step = 200 * time.Millisecond }, 1, ""},
		// A permission granted moments ago that IAM has not propagated yet.
		{"a failed attempt is retried as the next one", func(f *awstest.Server) { f.Fail("CreateStack", "AccessDenied", 1) },
			2, "Provisioning attempt 1 of 3 failed, retrying: aws: create stack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The attempt is a column of its own (migration 0005): on PostgreSQL too.
			s, fake := startAWSMain(t)
			tt.fault(fake)
			e := s.launch(map[string]any{"template": "aws-topic", "name": "tries", "params": map[string]any{"customer": "a"}})
			s.waitStatus(e.ID, "ready", 30*time.Second)
			stacks := fake.Stacks()
			if len(stacks) != 1 {
				t.Fatalf("%d stacks, want 1", len(stacks))
			}
			if want := "-launch-" + string(rune('0'+tt.wantAttempt)); !strings.HasSuffix(stacks[0].Token, want) {
				t.Errorf("stack token %q, want it to end in %s", stacks[0].Token, want)
			}
			r, err := s.DB.Environment(context.Background(), e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.ProvisionAttempt != tt.wantAttempt {
				t.Errorf("provision attempt %d, want %d", r.ProvisionAttempt, tt.wantAttempt)
			}
			msgs := s.events(e.ID)
			if got := countContaining(msgs, "Provisioning attempt"); tt.wantEvent == "" && got != 0 || tt.wantEvent != "" && countContaining(msgs, tt.wantEvent) != 1 {
				t.Errorf("timeline %q; want the event %q once", msgs, tt.wantEvent)
			}
		})
	}
}
