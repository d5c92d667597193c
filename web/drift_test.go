package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/web"
)

func TestDriftSection(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	drifted := web.DriftView{EnvironmentID: "env-1", Version: "1.2.0", Status: "drifted", LastState: "drifted", CheckedAt: &at,
		DriftedSince: &at, Interval: "24h", Remedy: "manual", CanCheck: true,
		Items: []web.DriftItemView{{Resource: "Bucket", Type: "AWS::S3::Bucket", Status: "MODIFIED", Detail: "1 property changed",
			Differences: []web.DriftDifferenceView{{Path: "/BucketName", Expected: "a", Actual: "b"}}}}}
	tests := []struct {
		name      string
		v         web.DriftView
		summary   string   // data-testid="drift-summary" or "drift-error" text
		has, lack []string // data-testids present and absent
	}{
		{"never checked", web.DriftView{EnvironmentID: "env-1", Version: "1.2.0", Status: "never_checked", NextCheck: &at, Interval: "24h", CanCheck: true},
			"Not checked yet", []string{"drift-check-button"}, []string{"drift-items", "drift-remedy", "drift-checking"}},
		{"in sync", web.DriftView{EnvironmentID: "env-1", Version: "1.2.0", Status: "in_sync", LastState: "in_sync", CheckedAt: &at},
			"No drift: the stack is what 1.2.0 declares", []string{"drift-times"}, []string{"drift-items", "drift-check-button"}},
		{"drifted", drifted, "The stack differs from what 1.2.0 declares", []string{"drift-items", "drift-remedy", "drift-difference"}, nil},
		{"check failed after drift", func() web.DriftView {
			v := drifted
			v.Status, v.Error = "check_failed", "aws: AccessDenied"
			return v
		}(), "The last check failed: aws: AccessDenied The check before it found the stack Drifted", []string{"drift-items", "drift-remedy"}, []string{"drift-summary"}},
		{"checking", web.DriftView{EnvironmentID: "env-1", Version: "1.2.0", Status: "never_checked", Checking: true, CanCheck: true},
			"Not checked yet", []string{"drift-checking"}, []string{"drift-check-button"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, web.DriftSection(tt.v))
			section := one(t, doc.Find("#drift"), "#drift")
			if got := attr(section, "data-drift"); got != tt.v.Status {
				t.Errorf("data-drift %q, want %q", got, tt.v.Status)
			}
			text := strings.Join(strings.Fields(byTestID(doc, "drift-summary").Text()+byTestID(doc, "drift-error").Text()), " ")
			if !strings.Contains(text, tt.summary) {
				t.Errorf("summary %q, want %q", text, tt.summary)
			}
			for _, id := range tt.has {
				if byTestID(doc, id).Length() == 0 {
					t.Errorf("no %s", id)
				}
			}
			for _, id := range tt.lack {
				if byTestID(doc, id).Length() != 0 {
					t.Errorf("a %s", id)
				}
			}
			// While a check runs the section follows it; otherwise it is still.
			if polls := attr(section, "hx-get") != ""; polls != tt.v.Checking {
				t.Errorf("polls: %v, want %v", polls, tt.v.Checking)
			}
		})
	}
	doc := render(t, web.DriftSection(drifted))
	if got := attr(byTestID(doc, "drift-check-button"), "hx-post"); got != "/environments/env-1/drift-check" {
		t.Errorf("the button posts to %q", got)
	}
	if got := strings.Join(strings.Fields(byTestID(doc, "drift-remedy").Text()), " "); got != "Replace with a fresh stack of the same version to fix it." {
		t.Errorf("remedy %q", got)
	}
}
