package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

// TestAWSRelaunchDrillFromTheSameSnapshot relaunches an RDS drill on the
// wire fake: from the same snapshot its source restored though a newer
// one was taken since, from the latest, and from one that is gone.
func TestAWSRelaunchDrillFromTheSameSnapshot(t *testing.T) {
	s, fake := startAWSMain(t, "--aws-health-allow", "127.0.0.0/8")
	app := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer app.Close()
	fake.Outputs = map[string]string{"url": app.URL}
	now := time.Now().UTC()
	fake.AddSnapshot(awstest.Snapshot{ID: "prod-1", Instance: "prod", TakenAt: now.Add(-27 * time.Hour)})
	fake.AddSnapshot(awstest.Snapshot{ID: "prod-2", Instance: "prod", TakenAt: now.Add(-3 * time.Hour)})

	src := s.launch(map[string]any{"template": "aws-drill", "name": "drill"})
	if got := s.waitStatus(src.ID, "ready", 20*time.Second).Facts["snapshot"]; got != "prod-2" {
		t.Fatalf("the drill restored %q, want the latest prod-2", got)
	}
	fake.AddSnapshot(awstest.Snapshot{ID: "prod-3", Instance: "prod", TakenAt: now.Add(-time.Minute)})

	restored := func(e relaunchedJSON) string {
		t.Helper()
		got := s.waitStatus(e.ID, "ready", 20*time.Second)
		for _, st := range fake.Stacks() {
			if st.Tags[mfaws.TagEnvironment] == e.ID {
				if st.Params["SnapshotId"] != got.Facts["snapshot"] {
					t.Errorf("%s: the stack restores %q, the facts say %q", e.Name, st.Params["SnapshotId"], got.Facts["snapshot"])
				}
				return st.Params["SnapshotId"]
			}
		}
		t.Fatalf("%s: no stack", e.Name)
		return ""
	}
	same := s.relaunch(src.ID, map[string]any{"name": "drill-same", "same_snapshot": true})
	if same.PinnedSnapshot != "prod-2" || same.Params["snapshot"] != "prod-2" {
		t.Errorf("pinned %q, params %v; want prod-2 in both", same.PinnedSnapshot, same.Params)
	}
	if got := restored(same); got != "prod-2" {
		t.Errorf("a relaunch from the same snapshot restored %q, want prod-2", got)
	}
	if got := restored(s.relaunch(src.ID, map[string]any{"name": "drill-latest"})); got != "prod-3" {
		t.Errorf("a relaunch restored %q, want the latest prod-3", got)
	}

	// Another snapshot chosen as well: which one is meant is not guessed.
	r := s.api("POST", "/api/v1/environments/"+src.ID+"/relaunch", map[string]any{"name": "drill-both", "same_snapshot": true,
		"params": map[string]any{"snapshot": "prod-1"}})
	assertProblem(t, r, http.StatusUnprocessableEntity, "same_snapshot")

	fake.RemoveSnapshot("prod-2")
	r = s.api("POST", "/api/v1/environments/"+src.ID+"/relaunch", map[string]any{"name": "drill-gone", "same_snapshot": true})
	assertProblem(t, r, http.StatusUnprocessableEntity, "same_snapshot")
	if !strings.Contains(string(r.Body), "snapshot prod-2 of dataset prod is gone; relaunch from the latest instead") {
		t.Errorf("refusal %s does not say the snapshot is gone", r.Body)
	}
}
