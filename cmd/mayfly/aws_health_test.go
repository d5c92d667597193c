package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

// A ready environment whose stack breaks outside Mayfly is flagged, and
// cleared once it is sound again; AWS answering with errors flags nothing.
func TestAWSReadyStackHealth(t *testing.T) {
	s, fake := startAWSMain(t, "--aws-health-interval", "100ms")
	e := s.launch(map[string]any{"template": "aws-topic", "name": "watched", "params": map[string]any{"customer": "a"}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	stack := fake.Stacks()[0].ID
	// waitReason waits for the environment's status reason to contain want
	// ("" waits for it to be empty).
	waitReason := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := s.env(e.ID)
			if want == "" && got.StatusReason == "" || want != "" && strings.Contains(got.StatusReason, want) {
				if got.Status != "ready" {
					t.Fatalf("status %s, want ready", got.Status)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status reason %q, want %q", got.StatusReason, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	steps := []struct {
		name  string
		do    func()
		want  string // a part of the status reason, "" none
		event string // the timeline line it brings
	}{
		{"an update that failed to roll back", func() { fake.SetStatus(stack, "UPDATE_ROLLBACK_FAILED", "Topic could not be restored") },
			"Stack is not healthy: the CloudFormation stack is UPDATE_ROLLBACK_FAILED: Topic could not be restored", "Stack is not healthy"},
		{"sound again", func() { fake.SetStatus(stack, "UPDATE_ROLLBACK_COMPLETE", "") }, "", "Stack is healthy again"},
		{"deleted outside Mayfly", func() { fake.SetStatus(stack, "DELETE_COMPLETE", "") },
			"deleted outside Mayfly (DELETE_COMPLETE)", "Stack is not healthy: the CloudFormation stack was deleted outside Mayfly"},
	}
	for _, st := range steps {
		st.do()
		waitReason(st.want)
		if n := countContaining(s.events(e.ID), st.event); n == 0 {
			t.Errorf("%s: timeline lacks %q: %q", st.name, st.event, s.events(e.ID))
		}
	}

	// Sound again; then AWS refuses a whole check while the stack is gone:
	// that check flags nothing, the next one flags the deletion, once.
	// (Throttling is the same path, shown in envs/aws with the standard
	// retryer: the portal's adaptive one waits for seconds after throttles.)
	fake.SetStatus(stack, "UPDATE_COMPLETE", "")
	waitReason("")
	before := fake.Calls("DescribeStacks")
	fake.Fail("DescribeStacks", "AccessDenied", 1)
	fake.SetStatus(stack, "DELETE_COMPLETE", "")
	waitReason("deleted outside Mayfly")
	if fake.Calls("DescribeStacks") < before+2 {
		t.Errorf("DescribeStacks calls %d, want the refused one and more", fake.Calls("DescribeStacks")-before)
	}
	if n := countContaining(s.events(e.ID), "Stack is not healthy"); n != 3 {
		t.Errorf("%d flags, want 3 (none for the refused check): %q", n, s.events(e.ID))
	}
}

// An author chooses a stack's health output and every viewer reads its
// verdict: the portal does not ask its own host or the metadata service
// (unless --aws-health-allow says so), and says only that it did not.
func TestAWSHealthOutputStaysOffThePortalsNetwork(t *testing.T) {
	s, fake := startAWSMain(t)
	fake.AddSnapshot(awstest.Snapshot{ID: "prod-1", Instance: "prod", TakenAt: time.Now().Add(-time.Hour)})
	var asked atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked.Add(1) }))
	defer app.Close()
	for _, tt := range []struct{ name, url, want string }{
		{"the portal's host", app.URL + "/admin", "Waiting for url to answer: not asked: it points at a loopback address"},
		{"the metadata service", "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "Waiting for url to answer: not asked: it points at a link-local address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake.Outputs = map[string]string{"url": tt.url}
			e := s.launch(map[string]any{"template": "aws-drill"})
			deadline := time.Now().Add(20 * time.Second)
			for countContaining(s.events(e.ID), tt.want) == 0 {
				if got := s.env(e.ID); got.Status != "pending" && got.Status != "provisioning" || time.Now().After(deadline) {
					t.Fatalf("status %s, timeline %q; want provisioning, waiting with %q", got.Status, s.events(e.ID), tt.want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the portal's host was asked %d times", n)
	}
}
