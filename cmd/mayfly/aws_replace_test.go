package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mfaws "github.com/mayflyhq/mayfly/envs/aws"
)

// A replace on the aws wire fake: the new version's CloudFormation stack
// is created beside the first under a name and stack tag of its own, the
// environment switches to it, a rollback switches back to the first
// (kept for the grace), and a destroy deletes both.
func TestAWSReplaceAndRollback(t *testing.T) {
	s, fake := startAWSMain(t)
	src, err := os.ReadFile(filepath.Join("testdata", "aws-catalog", "topic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(next)); r.Status != http.StatusCreated {
		t.Fatalf("publish 1.1.0: %d %s", r.Status, r.Body)
	}
	e := s.launch(map[string]any{"template": "aws-topic", "version": "1.0.0", "name": "swapped", "params": map[string]any{"customer": "acme"}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"version": "1.1.0"}); r.Status != http.StatusAccepted {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	got := s.waitReplace(e.ID, "switched")
	live := map[string]string{} // stack tag -> name, of the stacks not deleted
	for _, st := range fake.Stacks() {
		if st.Tags[mfaws.TagEnvironment] == e.ID && st.Status != "DELETE_COMPLETE" {
			live[st.Tags[mfaws.TagStack]] = st.Name
		}
	}
	if len(live) != 2 || live[e.ID] == "" || live[got.StackID] == "" || live[e.ID] == live[got.StackID] {
		t.Fatalf("stacks of the environment: %v, want the first and %s under names of their own", live, got.StackID)
	}
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/rollback", nil); r.Status != http.StatusAccepted {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	if back := s.replaced(e.ID); back.Version != "1.0.0" || back.StackID != e.ID {
		t.Errorf("after the rollback: %+v", back)
	}
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d", r.Status)
	}
	s.waitStatus(e.ID, "destroyed", 30*time.Second)
	for _, st := range fake.Stacks() {
		if st.Tags[mfaws.TagEnvironment] == e.ID && st.Status != "DELETE_COMPLETE" {
			t.Errorf("stack %s (%s) is %s after the destroy", st.Name, st.Tags[mfaws.TagStack], st.Status)
		}
	}
}

// A replace on the aws wire fake whose new CloudFormation stack fails to
// create: the stack in service stays, untouched, the environment says
// why, and the failed stack is deleted.
func TestAWSReplaceWithAFailingStack(t *testing.T) {
	s, fake := startAWSMain(t, "--provision-attempts", "1")
	src, err := os.ReadFile(filepath.Join("testdata", "aws-catalog", "topic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1),
		"      Queue:\n", "      Broken:\n        Type: AWS::SQS::Queue\n      Queue:\n", 1)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(broken)); r.Status != http.StatusCreated {
		t.Fatalf("publish 1.1.0: %d %s", r.Status, r.Body)
	}
	fake.FailCreate("Broken", `Resource handler returned message: "Quota exceeded for queues"`)
	e := s.launch(map[string]any{"template": "aws-topic", "version": "1.0.0", "name": "kept", "params": map[string]any{"customer": "acme"}})
	first := s.waitStatus(e.ID, "ready", 20*time.Second)
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"version": "1.1.0"}); r.Status != http.StatusAccepted {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	got := s.waitReplace(e.ID, "failed")
	if !strings.Contains(got.Replace.Reason, "Quota exceeded for queues") {
		t.Errorf("replace reason %q, want CloudFormation's", got.Replace.Reason)
	}
	if got.Version != "1.0.0" || got.Status != "ready" || got.StackID != e.ID || got.Outputs["url"] != first.Outputs["url"] {
		t.Errorf("after the failed replace: %s on %s, stack %s, outputs %v; want the first stack in service, ready", got.Status, got.Version, got.StackID, got.Outputs)
	}
	var failedStack string
	for _, st := range got.Stacks {
		if st.Version == "1.1.0" {
			failedStack = st.ID
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var live []string
		for _, st := range fake.Stacks() {
			if st.Tags[mfaws.TagEnvironment] == e.ID && st.Status != "DELETE_COMPLETE" {
				live = append(live, st.Tags[mfaws.TagStack]+" "+st.Status)
			}
		}
		if len(live) == 1 && strings.HasPrefix(live[0], e.ID+" ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stacks of the environment %v, want only the first (the failed %s deleted)", live, failedStack)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.destroyClean(e.ID)
}
