package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/web"
)

func TestDrillsPage(t *testing.T) {
	at := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	doc := render(t, web.DrillsPage(page("catalog"), web.DrillsView{Template: "rds-dr-drill", Drills: []web.DrillView{
		{EnvironmentID: "env-1", Name: "drill-nov", Version: "1.0.0", Status: "destroyed", Snapshot: "prod-3", LaunchedAt: at, RTO: "14m", RPO: "1h 30m"},
		{EnvironmentID: "env-0", Name: "drill-oct", Version: "1.0.0", Status: "destroyed", LaunchedAt: at.Add(-30 * 24 * time.Hour), FailureReason: "ROLLBACK_COMPLETE: no space"},
	}}))
	row := one(t, byTestID(doc, "drill-drill-nov"), "drill row")
	for id, want := range map[string]string{"rto": "14m", "rpo": "1h 30m"} {
		if got := strings.TrimSpace(byTestID(row, id).Text()); got != want {
			t.Errorf("%s: got %q, want %q", id, got, want)
		}
	}
	if !strings.Contains(row.Text(), "prod-3") || attr(row.Find("time"), "title") != "2026-11-20 09:30 UTC" {
		t.Errorf("row lacks the snapshot or launch time: %q", row.Text())
	}
	failed := one(t, byTestID(doc, "drill-drill-oct"), "failed drill row")
	if got := strings.TrimSpace(byTestID(failed, "rto").Text()); got != "—" || !strings.Contains(failed.Text(), "no space") {
		t.Errorf("failed drill: rto %q, text %q", got, failed.Text())
	}
	empty := render(t, web.DrillsPage(page("catalog"), web.DrillsView{Template: "x"}))
	one(t, byTestID(empty, "drills-empty"), "empty state")
}

func TestAdminProvidersAndRetry(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		check web.ProviderCheckView
		want  string
	}{
		{"not checked yet", web.ProviderCheckView{Provider: "aws"}, "checking…"},
		{"reachable", web.ProviderCheckView{Provider: "aws", Checked: true, Reachable: true, CheckedAt: now}, "reachable"},
		{"unreachable", web.ProviderCheckView{Provider: "aws", Checked: true, Detail: "dial tcp: refused", CheckedAt: now}, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, web.AdminPage(page("admin"), web.AdminView{Providers: []web.ProviderCheckView{tt.check}}))
			row := one(t, byTestID(doc, "provider-aws"), "provider row")
			if got := strings.TrimSpace(byTestID(row, "reachability").Text()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	doc := render(t, web.AdminPage(page("admin"), web.AdminView{Failures: []web.EnvironmentView{
		{ID: "env-1", Name: "stuck", Status: "destroy_failed", StatusReason: "DELETE_FAILED: Bucket"},
		{ID: "env-2", Name: "broken", Status: "failed", FailureReason: "boom"},
	}, OrphansError: "aws: list stacks: timeout"}))
	form := one(t, byTestID(byTestID(doc, "failure-stuck"), "retry-destroy"), "retry form")
	if got := attr(form, "action"); got != "/environments/env-1/retry-destroy" {
		t.Errorf("form action %q", got)
	}
	if byTestID(byTestID(doc, "failure-broken"), "retry-destroy").Length() != 0 {
		t.Error("a failed launch offers a destroy retry")
	}
	if byTestID(doc, "providers").Length() != 0 {
		t.Error("a local-only admin page shows a cloud providers section")
	}
	one(t, byTestID(doc, "orphans-error"), "orphans error")
}

func TestLaunchFormShowsChoiceLabels(t *testing.T) {
	f := web.LaunchForm{
		Template: web.TemplateView{Name: "rds-dr-drill", Kind: "dr"},
		Version: web.VersionView{Version: "1.0.0", Params: []web.ParamView{{Name: "snapshot", Type: "enum",
			Options:      []string{"prod-3", "prod-2"},
			OptionLabels: map[string]string{"prod-3": "prod-3 (2026-11-23 10:00 UTC, 1h30m old)"}, EmptyLabel: "The latest at launch time"}}},
		Params: map[string]string{"snapshot": "prod-3"},
	}
	doc := render(t, web.LaunchPage(page("catalog"), f))
	opts := doc.Find(`select[name="params.snapshot"] option`)
	var got []string
	for i := range opts.Length() {
		got = append(got, strings.TrimSpace(opts.Eq(i).Text()))
	}
	want := []string{"The latest at launch time", "prod-3 (2026-11-23 10:00 UTC, 1h30m old)", "prod-2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("options %q, want %q", got, want)
	}
}
