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
)

// startRollout starts a rollout of template and fails the test unless it
// is created.
func (s *testServer) startRollout(template string, body map[string]any) rolloutResp {
	s.t.Helper()
	r := s.api("POST", "/api/v1/templates/"+template+"/rollouts", body)
	if r.Status != http.StatusCreated {
		s.t.Fatalf("start a rollout of %s: %d %s", template, r.Status, r.Body)
	}
	var ro rolloutResp
	r.decode(s.t, &ro)
	return ro
}

// assertRolledOut checks that the environment is ready on version with
// exactly one stack in service, replaced once (one replace requested and
// one switch in its timeline), and returns it.
func (s *testServer) assertRolledOut(id, template, version string) replacedJSON {
	s.t.Helper()
	e := s.replaced(id)
	inService := 0
	for _, st := range e.Stacks {
		if st.Status == "in_service" {
			inService++
			if st.ID != e.StackID || st.Version != version {
				s.t.Errorf("%s: stack %s (%s) in service, want %s of %s", id, st.ID, st.Version, e.StackID, version)
			}
		}
	}
	if e.Status != "ready" || e.Version != version || inService != 1 {
		s.t.Errorf("%s after the rollout: %s on %s with %d stacks in service (%+v), want ready on %s with one", id, e.Status, e.Version, inService, e.Stacks, version)
	}
	msgs := strings.Join(s.events(id), "\n")
	for _, want := range []string{"Replace with " + template + "@" + version + " requested", "Replaced: " + template + "@" + version + " is in service"} {
		if n := strings.Count(msgs, want); n != 1 {
			s.t.Errorf("%s: %q %d times, want once:\n%s", id, want, n, msgs)
		}
	}
	return e
}

// waitStacksDeleted waits until the fake has no stack of the environment
// other than keep (its stack tag) that is not deleted.
func waitStacksDeleted(t *testing.T, fake *awstest.Server, envID, keep string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var live []string
		for _, st := range fake.Stacks() {
			if st.Tags[mfaws.TagEnvironment] == envID && st.Tags[mfaws.TagStack] != keep && st.Status != "DELETE_COMPLETE" {
				live = append(live, st.Name+" ("+st.Tags[mfaws.TagStack]+") "+st.Status)
			}
		}
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stacks of %s not deleted: %v", envID, live)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A rollout on the aws wire fake: three environments on 1.0.0 move to
// 1.1.0, each with one CloudFormation stack left (the old ones deleted:
// no rollback grace); a version whose stack fails to create pauses the
// next rollout with the reason, the environment stays on what it ran and
// the failed stack is deleted; cancel skips the rest.
func TestAWSRolloutEndToEnd(t *testing.T) {
	s, fake := startAWSMain(t, "--rollback-grace", "0")
	src, err := os.ReadFile(filepath.Join("testdata", "aws-catalog", "topic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	publish := func(version, extra string) {
		t.Helper()
		body := strings.Replace(string(src), "version: 1.0.0", "version: "+version, 1)
		body = strings.Replace(body, "      Queue:\n", extra+"      Queue:\n", 1)
		if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(body)); r.Status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", version, r.Status, r.Body)
		}
	}
	var ids []string
	for _, n := range []string{"aws-ro-a", "aws-ro-b", "aws-ro-c"} {
		e := s.launch(map[string]any{"template": "aws-topic", "version": "1.0.0", "name": n, "params": map[string]any{"customer": "acme"}})
		ids = append(ids, e.ID)
	}
	for _, id := range ids {
		s.waitStatus(id, "ready", 30*time.Second)
	}
	publish("1.1.0", "")

	ro := s.startRollout("aws-topic", map[string]any{"version": "1.1.0", "wave_size": 2, "concurrency": 2})
	if len(ro.Items) != 3 {
		t.Fatalf("rollout items %+v, want the three environments", ro.Items)
	}
	ro = s.waitRolloutOf("aws-topic", ro.ID, func(r rolloutResp) bool { return r.Status != "running" })
	if ro.Status != "done" {
		t.Fatalf("rollout %s %q: %+v", ro.Status, ro.Reason, ro.Items)
	}
	stackOf := map[string]string{}
	for _, id := range ids {
		e := s.assertRolledOut(id, "aws-topic", "1.1.0")
		stackOf[id] = e.StackID
		waitStacksDeleted(t, fake, id, e.StackID)
		live := 0
		for _, st := range fake.Stacks() {
			if st.Tags[mfaws.TagEnvironment] == id && st.Status != "DELETE_COMPLETE" {
				live++
			}
		}
		if live != 1 {
			t.Errorf("%s: %d stacks live in the fake, want one", id, live)
		}
	}

	// 1.2.0's new resource fails to create: the first item fails, the
	// rollout pauses with its reason and starts nothing more.
	publish("1.2.0", "      Broken:\n        Type: AWS::SQS::Queue\n")
	fake.FailCreate("Broken", "Resource handler returned message: \"Quota exceeded for queues\"")
	ro = s.startRollout("aws-topic", map[string]any{"version": "1.2.0", "wave_size": 3, "concurrency": 1})
	ro = s.waitRolloutOf("aws-topic", ro.ID, func(r rolloutResp) bool { return r.Status != "running" })
	if ro.Status != "paused" || !strings.Contains(ro.Reason, "Quota exceeded for queues") {
		t.Fatalf("rollout %s %q, want paused with the stack's failure", ro.Status, ro.Reason)
	}
	failed := ""
	for _, it := range ro.Items {
		switch it.State {
		case "failed":
			failed = it.EnvironmentID
		case "pending":
		default:
			t.Errorf("item %+v, want one failed and the others pending", it)
		}
	}
	if failed == "" || !strings.Contains(ro.Reason, failed) {
		t.Fatalf("rollout reason %q, items %+v: want the failed environment named", ro.Reason, ro.Items)
	}
	if e := s.replaced(failed); e.Status != "ready" || e.Version != "1.1.0" || e.StackID != stackOf[failed] || e.Replace == nil || e.Replace.State != "failed" {
		t.Errorf("%s after the failed replace: %+v, want ready on its 1.1.0 stack", failed, e)
	}
	waitStacksDeleted(t, fake, failed, stackOf[failed])

	r := s.api("POST", "/api/v1/templates/aws-topic/rollouts/"+ro.ID+"/cancel", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	r.decode(t, &ro)
	for _, it := range ro.Items {
		if it.EnvironmentID != failed && it.State != "skipped" {
			t.Errorf("after the cancel: item %+v, want skipped", it)
		}
	}
	for _, id := range ids {
		if e := s.replaced(id); e.Version != "1.1.0" || e.Status != "ready" {
			t.Errorf("%s after the cancel: %s on %s", id, e.Status, e.Version)
		}
		if r := s.api("DELETE", "/api/v1/environments/"+id, nil); r.Status != http.StatusAccepted {
			t.Fatalf("destroy: %d %s", r.Status, r.Body)
		}
	}
	for _, id := range ids {
		s.waitStatus(id, "destroyed", 30*time.Second)
		waitStacksDeleted(t, fake, id, "")
	}
}
