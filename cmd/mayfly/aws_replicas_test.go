package main

import (
	"fmt"
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

// Two replicas on one PostgreSQL database and the aws wire fake: a rollout
// started on one replaces each environment's CloudFormation stack exactly
// once (one stack created per launch and per replace), a rollback through
// the other switches back, and destroys leave no stack.
func TestReplicasAWSRolloutAndRollback(t *testing.T) {
	fake := awstest.New(t)
	fake.Outputs = map[string]string{"url": "arn:aws:sns:eu-west-1:123456789012:demo"}
	_ = awsConfig(t, fake.URL, t.TempDir()) // the SDK's variables, which the portals inherit
	ps, _ := startReplicas(t, 2, "--rollback-grace", "1h")
	a, b := ps[0].server(), ps[1].server()
	src, err := os.ReadFile(filepath.Join("testdata", "aws-catalog", "topic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{string(src), strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1)} {
		if r := a.do("POST", "/api/v1/templates", "application/yaml", []byte(doc)); r.Status != http.StatusCreated {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	var ids []string
	for i := range 3 {
		e := a.launch(map[string]any{"template": "aws-topic", "version": "1.0.0", "name": fmt.Sprintf("pair-%d", i), "params": map[string]any{"customer": "acme"}})
		b.waitStatus(e.ID, "ready", 30*time.Second)
		ids = append(ids, e.ID)
	}
	created := fake.Calls("CreateStack")

	ro := a.startRollout("aws-topic", map[string]any{"version": "1.1.0", "wave_size": 2, "concurrency": 2})
	ro = b.waitRolloutOf("aws-topic", ro.ID, func(r rolloutResp) bool { return r.Status != "running" })
	if ro.Status != "done" {
		t.Fatalf("rollout %s %q: %+v", ro.Status, ro.Reason, ro.Items)
	}
	for _, id := range ids {
		b.assertRolledOut(id, "aws-topic", "1.1.0")
	}
	if n := fake.Calls("CreateStack") - created; n != len(ids) {
		t.Errorf("CreateStack called %d times for the rollout, want %d (one per environment)", n, len(ids))
	}

	if r := b.api("POST", "/api/v1/environments/"+ids[0]+"/rollback", nil); r.Status != http.StatusAccepted {
		t.Fatalf("rollback through the other replica: %d %s", r.Status, r.Body)
	}
	if back := a.replaced(ids[0]); back.Version != "1.0.0" || back.StackID != ids[0] {
		t.Errorf("after the rollback, seen through the first replica: %s on stack %s, want 1.0.0 on the first", back.Version, back.StackID)
	}
	for i, id := range ids {
		via := []*testServer{a, b}[i%2]
		if r := via.api("DELETE", "/api/v1/environments/"+id, nil); r.Status != http.StatusAccepted {
			t.Fatalf("destroy %s: %d", id, r.Status)
		}
	}
	for _, id := range ids {
		a.waitStatus(id, "destroyed", 60*time.Second)
		waitStacksDeleted(t, fake, id, "")
	}
}

// A portal SIGKILLed while a replace's CloudFormation stack is being
// created: the restarted portal takes the replace over and switches to
// that very stack (created once: the request token makes the create
// idempotent), and a destroy deletes both stacks.
func TestAWSCrashMidReplace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	fake := awstest.New(t)
	fake.Outputs = map[string]string{"url": "arn:aws:sns:eu-west-1:123456789012:demo"}
	fake.Step = 400 * time.Millisecond // a create takes a few seconds: time to kill the portal mid-way
	_ = awsConfig(t, fake.URL, t.TempDir())
	dataDir, dbURL, addr := t.TempDir(), storagetest.URL(t), freeAddr(t)
	p := startPortal(t, dataDir, dbURL, addr)
	s := p.server()
	src, err := os.ReadFile(filepath.Join("testdata", "aws-catalog", "topic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{string(src), strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1)} {
		if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(doc)); r.Status != http.StatusCreated {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	e := s.launch(map[string]any{"template": "aws-topic", "version": "1.0.0", "name": "crashed-swap", "params": map[string]any{"customer": "acme"}})
	s.waitStatus(e.ID, "ready", 30*time.Second)
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"version": "1.1.0"}); r.Status != http.StatusAccepted {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	candidates := func() (tag string, n int, creating bool) {
		for _, st := range fake.Stacks() {
			if st.Tags[mfaws.TagEnvironment] == e.ID && st.Tags[mfaws.TagStack] != e.ID {
				tag, n, creating = st.Tags[mfaws.TagStack], n+1, creating || st.Status == "CREATE_IN_PROGRESS"
			}
		}
		return tag, n, creating
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, _, creating := candidates(); !creating; _, _, creating = candidates() {
		if time.Now().After(deadline) {
			t.Fatalf("the new stack was not being created: %+v", fake.Stacks())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()

	p = startPortal(t, dataDir, dbURL, addr)
	defer p.kill()
	s = p.server()
	deadline = time.Now().Add(60 * time.Second)
	var got replacedJSON
	for {
		got = s.replaced(e.ID)
		if got.Replace != nil && got.Replace.State != "building" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replace still %+v at the deadline", got.Replace)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.Replace.State != "switched" || got.Version != "1.1.0" {
		t.Fatalf("after the restart: replace %+v, version %s; want switched to 1.1.0", got.Replace, got.Version)
	}
	if tag, n, _ := candidates(); n != 1 || tag != got.StackID {
		t.Errorf("new stacks on the fake: %d (tag %s), want exactly one, the one in service (%s)", n, tag, got.StackID)
	}
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d", r.Status)
	}
	s.waitStatus(e.ID, "destroyed", 60*time.Second)
	waitStacksDeleted(t, fake, e.ID, "")
}
