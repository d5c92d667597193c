package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// publishAWSTopics publishes aws-topic 1.0.0 and 1.1.0 (the same stack).
func publishAWSTopics(t *testing.T, s *testServer) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "aws-catalog", "topic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{string(src), strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1)} {
		if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(doc)); r.Status != http.StatusCreated {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
}

// awsStackOf is the fake's stack of an environment tagged with stack id
// stack (the environment's own id for its first stack); nil if none.
func awsStackOf(fake *awstest.Server, envID, stack string) *awstest.Stack {
	for _, st := range fake.Stacks() {
		if st.Tags[mfaws.TagEnvironment] == envID && st.Tags[mfaws.TagStack] == stack {
			return &st
		}
	}
	return nil
}

// waitTrue polls cond until it holds, failing with what at the deadline.
func waitTrue(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A portal SIGKILLed at each step of a replace on the aws wire fake after
// the new stack is created: with the new stack ready but not switched to
// yet, right after the switch (the old stack's DeleteStack held back, so
// it never reaches AWS), and while the old stack is being deleted. The
// restarted portal ends with the new stack in service (created once), the
// old one deleted on AWS and recorded destroyed, each said once in the
// timeline; a destroy then leaves no stack. (A crash while the new stack
// is being created is TestAWSCrashMidReplace.)
func TestAWSCrashAtTheSwitchAndTheOldStacksDestroy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	for _, tt := range []struct {
		name string
		// arm runs before the replace is requested; kill waits for the
		// point to kill the portal at, returning what to release before
		// the restart.
		arm  func(fake *awstest.Server) (release func())
		kill func(t *testing.T, s *testServer, fake *awstest.Server, envID string)
	}{
		{
			name: "new stack ready, not switched to",
			// The portal never hears the new stack is complete: its
			// DescribeStacks waits while the stack completes.
			arm: func(*awstest.Server) func() { return func() {} },
			kill: func(t *testing.T, s *testServer, fake *awstest.Server, envID string) {
				waitTrue(t, 20*time.Second, "the new stack being created", func() bool {
					for _, st := range fake.Stacks() {
						if st.Tags[mfaws.TagEnvironment] == envID && st.Tags[mfaws.TagStack] != envID {
							return true
						}
					}
					return false
				})
				release := fake.Hold("DescribeStacks")
				defer release()
				waitTrue(t, 20*time.Second, "the new stack complete while the portal asks about it", func() bool {
					for _, st := range fake.Stacks() {
						if st.Tags[mfaws.TagEnvironment] == envID && st.Tags[mfaws.TagStack] != envID && st.Status != "CREATE_COMPLETE" {
							return false
						}
					}
					return fake.Held("DescribeStacks") > 0
				})
				if got := s.replaced(envID); got.Replace == nil || got.Replace.State != "building" {
					t.Fatalf("replace %+v before the kill, want building", got.Replace)
				}
			},
		},
		{
			name: "switched, the old stack's delete not sent",
			arm:  func(fake *awstest.Server) func() { return fake.Hold("DeleteStack") },
			kill: func(t *testing.T, s *testServer, fake *awstest.Server, envID string) {
				waitTrue(t, 20*time.Second, "the old stack's DeleteStack", func() bool { return fake.Held("DeleteStack") > 0 })
				if got := s.replaced(envID); got.Replace == nil || got.Replace.State != "switched" {
					t.Fatalf("replace %+v before the kill, want switched", got.Replace)
				}
			},
		},
		{
			name: "the old stack being deleted",
			arm:  func(*awstest.Server) func() { return func() {} },
			kill: func(t *testing.T, s *testServer, fake *awstest.Server, envID string) {
				waitTrue(t, 30*time.Second, "the old stack DELETE_IN_PROGRESS", func() bool {
					st := awsStackOf(fake, envID, envID)
					return st != nil && st.Status == "DELETE_IN_PROGRESS"
				})
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := awstest.New(t)
			fake.Outputs = map[string]string{"url": "arn:aws:sns:eu-west-1:123456789012:demo"}
			fake.Step = 250 * time.Millisecond // a create or a delete takes over a second: time to kill the portal mid-way
			_ = awsConfig(t, fake.URL, t.TempDir())
			dataDir, dbURL, addr := t.TempDir(), storagetest.URL(t), freeAddr(t)
			// Short job timeout and rescue: on PostgreSQL the killed
			// portal's running job waits for the rescuer.
			flags := []string{"--rollback-grace", "0", "--job-timeout", "3s", "--rescue-after", "4s"}
			p := startPortal(t, dataDir, dbURL, addr, flags...)
			s := p.server()
			publishAWSTopics(t, s)
			e := s.launch(map[string]any{"template": "aws-topic", "version": "1.0.0", "name": "crashed-switch", "params": map[string]any{"customer": "acme"}})
			s.waitStatus(e.ID, "ready", 30*time.Second)

			release := tt.arm(fake)
			if r := s.api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"version": "1.1.0"}); r.Status != http.StatusAccepted {
				t.Fatalf("replace: %d %s", r.Status, r.Body)
			}
			tt.kill(t, s, fake, e.ID)
			p.kill()
			release()

			p = startPortal(t, dataDir, dbURL, addr, flags...)
			defer p.kill()
			s = p.server()
			var got replacedJSON
			waitTrue(t, 60*time.Second, "the replace switched and the old stack destroyed", func() bool {
				got = s.replaced(e.ID)
				for _, st := range got.Stacks {
					if st.ID == e.ID {
						return got.Replace != nil && got.Replace.State != "building" && st.Status == "destroyed"
					}
				}
				return false
			})
			if got.Replace.State != "switched" || got.Version != "1.1.0" || got.Status != "ready" || got.StackID == e.ID {
				t.Fatalf("after the restart: %s, replace %+v, %s on stack %s; want ready, switched to 1.1.0 on the new stack", got.Status, got.Replace, got.Version, got.StackID)
			}
			var candidates []string
			for _, st := range fake.Stacks() {
				if st.Tags[mfaws.TagEnvironment] == e.ID && st.Tags[mfaws.TagStack] != e.ID {
					candidates = append(candidates, st.Tags[mfaws.TagStack]+" "+st.Status)
				}
			}
			if len(candidates) != 1 || candidates[0] != got.StackID+" CREATE_COMPLETE" {
				t.Errorf("new stacks on the fake %v, want one: %s CREATE_COMPLETE", candidates, got.StackID)
			}
			if old := awsStackOf(fake, e.ID, e.ID); old == nil || old.Status != "DELETE_COMPLETE" {
				t.Errorf("the old stack on the fake: %+v, want DELETE_COMPLETE", old)
			}
			msgs := strings.Join(s.events(e.ID), "\n")
			for _, want := range []string{"Replaced: aws-topic@1.1.0 is in service", "Stack " + e.ID + " (1.0.0) destroyed"} {
				if n := strings.Count(msgs, want); n != 1 {
					t.Errorf("%q %d times, want once:\n%s", want, n, msgs)
				}
			}
			if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
				t.Fatalf("destroy: %d", r.Status)
			}
			s.waitStatus(e.ID, "destroyed", 60*time.Second)
			waitStacksDeleted(t, fake, e.ID, "")
		})
	}
}

// A portal SIGKILLed while a rollout on the aws wire fake replaces its
// second environment (whose new CloudFormation stack is being created):
// the next start resumes the rollout where it was; every environment ends
// on the new version with one stack in service and its old one deleted,
// one new stack created per environment (none replaced twice), and
// destroys leave no stack.
func TestAWSRolloutResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	fake := awstest.New(t)
	fake.Outputs = map[string]string{"url": "arn:aws:sns:eu-west-1:123456789012:demo"}
	fake.Step = 100 * time.Millisecond
	_ = awsConfig(t, fake.URL, t.TempDir())
	dataDir, dbURL, addr := t.TempDir(), storagetest.URL(t), freeAddr(t)
	flags := []string{"--rollback-grace", "0", "--job-timeout", "3s", "--rescue-after", "4s"}
	p := startPortal(t, dataDir, dbURL, addr, flags...)
	s := p.server()
	publishAWSTopics(t, s)
	var ids []string
	for _, n := range []string{"ro-kill-a", "ro-kill-b", "ro-kill-c"} {
		ids = append(ids, s.launch(map[string]any{"template": "aws-topic", "version": "1.0.0", "name": n, "params": map[string]any{"customer": "acme"}}).ID)
	}
	for _, id := range ids {
		s.waitStatus(id, "ready", 30*time.Second)
	}
	created := len(fake.Stacks())

	ro := s.startRollout("aws-topic", map[string]any{"version": "1.1.0", "wave_size": 3, "concurrency": 1})
	// Kill while the second item's new stack is being created: one
	// environment is done, one is mid-replace, one waits.
	var second string
	at := s.waitRolloutOf("aws-topic", ro.ID, func(r rolloutResp) bool {
		if r.Status != "running" {
			t.Fatalf("rollout %s before the kill: %+v", r.Status, r.Items)
		}
		if len(r.Items) != 3 || r.Items[1].State != "running" {
			return false
		}
		second = r.Items[1].EnvironmentID
		for _, st := range fake.Stacks() {
			if st.Tags[mfaws.TagEnvironment] == second && st.Tags[mfaws.TagStack] != second && st.Status == "CREATE_IN_PROGRESS" {
				return true
			}
		}
		return false
	})
	p.kill()
	t.Logf("killed with the items %+v", at.Items)

	p = startPortal(t, dataDir, dbURL, addr, flags...)
	defer p.kill()
	s = p.server()
	ro = s.waitRolloutOf("aws-topic", ro.ID, func(r rolloutResp) bool { return r.Status != "running" })
	if ro.Status != "done" {
		t.Fatalf("rollout %s %q after the restart: %+v", ro.Status, ro.Reason, ro.Items)
	}
	for _, it := range ro.Items {
		if it.State != "done" {
			t.Errorf("item %+v, want done", it)
		}
	}
	for _, id := range ids {
		e := s.assertRolledOut(id, "aws-topic", "1.1.0")
		waitStacksDeleted(t, fake, id, e.StackID)
		if st := awsStackOf(fake, id, e.StackID); st == nil || st.Status != "CREATE_COMPLETE" {
			t.Errorf("%s: its stack in service %s on the fake: %+v, want CREATE_COMPLETE", id, e.StackID, st)
		}
	}
	if n := len(fake.Stacks()) - created; n != len(ids) {
		t.Errorf("%d stacks created by the rollout, want %d (one per environment)", n, len(ids))
	}
	for _, id := range ids {
		if r := s.api("DELETE", "/api/v1/environments/"+id, nil); r.Status != http.StatusAccepted {
			t.Fatalf("destroy %s: %d", id, r.Status)
		}
	}
	for _, id := range ids {
		s.waitStatus(id, "destroyed", 60*time.Second)
		waitStacksDeleted(t, fake, id, "")
	}
}
