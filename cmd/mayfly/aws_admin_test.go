package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

func TestAWSReachabilityInTheAdminView(t *testing.T) {
	s, _ := startAWSMain(t, "--aws-check-interval", "100ms")
	var checks struct {
		Items []struct {
			Provider  string `json:"provider"`
			Checked   bool   `json:"checked"`
			Reachable bool   `json:"reachable"`
			Detail    string `json:"detail"`
		} `json:"items"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.api("GET", "/api/v1/admin/providers", nil).decode(t, &checks)
		if len(checks.Items) == 1 && checks.Items[0].Checked {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(checks.Items) != 1 || !checks.Items[0].Reachable || !strings.Contains(checks.Items[0].Detail, "123456789012") {
		t.Fatalf("provider checks: %+v", checks.Items)
	}
	status, body, err := httpGet(s.url + "/admin")
	if err != nil || status != http.StatusOK {
		t.Fatalf("admin: %d %v", status, err)
	}
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
	if got := strings.TrimSpace(doc.Find(`[data-testid="provider-aws"] [data-testid="reachability"]`).Text()); got != "reachable" {
		t.Errorf("admin shows aws as %q", got)
	}
}

func TestAWSUnreachableDoesNotBlockStartup(t *testing.T) {
	// A port nothing listens on: every call fails to connect.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	start := time.Now()
	s2 := startAWSPortal(t, dead, "--aws-check-interval", "100ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("start-up took %s with AWS unreachable", d)
	}
	if status, _, _ := httpGet(s2.url + "/readyz"); status != http.StatusOK {
		t.Errorf("/readyz: %d, want 200: readiness is about the database", status)
	}
	var checks struct {
		Items []struct {
			Checked   bool   `json:"checked"`
			Reachable bool   `json:"reachable"`
			Detail    string `json:"detail"`
		} `json:"items"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s2.api("GET", "/api/v1/admin/providers", nil).decode(t, &checks)
		if len(checks.Items) == 1 && checks.Items[0].Checked {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(checks.Items) != 1 || checks.Items[0].Reachable || !strings.Contains(checks.Items[0].Detail, "GetCallerIdentity") {
		t.Fatalf("provider checks with AWS down: %+v", checks.Items)
	}
}

func TestLocalStartHasNoAWS(t *testing.T) {
	s := startMain(t, "")
	if s.AWS != nil {
		t.Fatal("the aws provider is on without any AWS configuration")
	}
	r := s.api("GET", "/api/v1/templates", nil)
	if strings.Contains(string(r.Body), `"aws"`) {
		t.Errorf("a local-only start lists AWS templates: %s", r.Body)
	}
	var checks struct{ Items []any }
	s.api("GET", "/api/v1/admin/providers", nil).decode(t, &checks)
	if len(checks.Items) != 0 {
		t.Errorf("provider checks on a local start: %v", checks.Items)
	}
}

func TestAWSBuiltInCatalogLoadsAWSSamples(t *testing.T) {
	fake := awstest.New(t)
	s := startAWSPortal(t, fake.URL, "--catalog-dir=")
	body := string(s.api("GET", "/api/v1/templates", nil).Body)
	for _, name := range []string{`"rds-dr-drill"`, `"s3-static-site"`, `"demo-shop"`} {
		if !strings.Contains(body, name) {
			t.Errorf("catalog lacks %s", name)
		}
	}
}
