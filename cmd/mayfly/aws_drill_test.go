package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

func TestAWSDrillFromTheLatestSnapshot(t *testing.T) {
	// The restored service below listens on loopback, which health
	// outputs may reach only when allowed.
	s, fake := startAWSMain(t, "--aws-health-allow", "127.0.0.0/8")
	now := time.Now().UTC()
	fake.AddSnapshot(awstest.Snapshot{ID: "prod-2", Instance: "prod", TakenAt: now.Add(-3 * time.Hour)})
	fake.AddSnapshot(awstest.Snapshot{ID: "prod-3", Instance: "prod", TakenAt: now.Add(-90 * time.Minute)})
	fake.AddSnapshot(awstest.Snapshot{ID: "prod-1", Instance: "prod", TakenAt: now.Add(-27 * time.Hour)})
	// The restored service answers its health check only after a while:
	// the RTO runs until it does.
	var healthy atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer app.Close()
	fake.Outputs = map[string]string{"url": app.URL}

	// The launch form offers the snapshots, newest first, the latest chosen.
	status, body, err := httpGet(s.url + "/templates/aws-drill/launch")
	if err != nil || status != http.StatusOK {
		t.Fatalf("launch form: %d %v", status, err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	doc.Find(`select[name="params.snapshot"] option`).Each(func(_ int, o *goquery.Selection) {
		if v, _ := o.Attr("value"); v != "" {
			values = append(values, v)
		}
	})
	if strings.Join(values, ",") != "prod-3,prod-2,prod-1" {
		t.Errorf("snapshot options %q, want newest first", values)
	}
	if sel, _ := doc.Find(`select[name="params.snapshot"] option[selected]`).Attr("value"); sel != "prod-3" {
		t.Errorf("preselected %q, want the latest", sel)
	}

	// A snapshot of anything else is refused at launch, naming the field.
	r := s.api("POST", "/api/v1/environments", map[string]any{"template": "aws-drill", "name": "wrong",
		"params": map[string]any{"snapshot": "staging-9"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "params.snapshot") {
		t.Errorf("launch with a foreign snapshot: %d %s, want 422 naming params.snapshot", r.Status, r.Body)
	}

	e := s.launch(map[string]any{"template": "aws-drill", "name": "drill"})
	time.Sleep(300 * time.Millisecond)
	if st := s.env(e.ID).Status; st != "provisioning" {
		t.Fatalf("status %s before the health check passes, want provisioning", st)
	}
	healthy.Store(true)
	e = s.waitStatus(e.ID, "ready", 20*time.Second)
	if e.RPOSeconds == nil || *e.RPOSeconds < 90*60-5 || *e.RPOSeconds > 90*60+60 {
		t.Errorf("RPO %v s, want the latest snapshot's age (~5400 s)", e.RPOSeconds)
	}
	if e.RTOSeconds == nil || *e.RTOSeconds < 0.3 || *e.RTOSeconds > 20 {
		t.Errorf("RTO %v s, want launch to healthy (> 0.3 s)", e.RTOSeconds)
	}
	if e.Facts["snapshot"] != "prod-3" {
		t.Errorf("facts %v", e.Facts)
	}

	var drills struct {
		Items []struct {
			EnvironmentID string   `json:"environment_id"`
			Snapshot      string   `json:"snapshot"`
			RTOSeconds    *float64 `json:"rto_seconds"`
			RPOSeconds    *float64 `json:"rpo_seconds"`
		} `json:"items"`
	}
	s.api("GET", "/api/v1/templates/aws-drill/drills", nil).decode(t, &drills)
	if len(drills.Items) != 1 || drills.Items[0].EnvironmentID != e.ID || drills.Items[0].Snapshot != "prod-3" ||
		drills.Items[0].RTOSeconds == nil || drills.Items[0].RPOSeconds == nil {
		t.Errorf("drill history: %+v", drills.Items)
	}
	status, body, err = httpGet(s.url + "/templates/aws-drill/drills")
	if err != nil || status != http.StatusOK {
		t.Fatalf("drills page: %d %v", status, err)
	}
	page, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
	row := page.Find(`[data-testid="drill-drill"]`)
	if rpo := strings.TrimSpace(row.Find(`[data-testid="rpo"]`).Text()); rpo != "1h 30m" {
		t.Errorf("drills page RPO %q, want 1h 30m", rpo)
	}
	if rto := strings.TrimSpace(row.Find(`[data-testid="rto"]`).Text()); rto == "" || rto == "—" {
		t.Errorf("drills page RTO %q", rto)
	}
	var choices map[string][]struct{ Value string }
	s.api("GET", "/api/v1/templates/aws-drill/choices", nil).decode(t, &choices)
	if len(choices["snapshot"]) != 3 || choices["snapshot"][0].Value != "prod-3" {
		t.Errorf("choices API: %+v", choices)
	}
}
