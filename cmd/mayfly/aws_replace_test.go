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
