package web_test

import (
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/web"
)

func TestCatalogAuthorControls(t *testing.T) {
	for _, tc := range []struct {
		name       string
		canPublish bool
	}{
		{"viewer or member", false},
		{"author", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := page("catalog")
			p.User.CanPublish = tc.canPublish
			doc := render(t, web.CatalogPage(p, []web.TemplateView{demoTemplate()}))
			controls := map[string]int{
				"publish-template":             byTestID(doc, "publish-template").Length(),
				"manage-crm-demo":              byTestID(doc, "manage-crm-demo").Length(),
				"deprecate-crm-demo-1.2.0":     byTestID(doc, "deprecate-crm-demo-1.2.0").Length(),
				"new-version-crm-demo":         byTestID(doc, "new-version-crm-demo").Length(),
				"deprecate-crm-demo-1.0.0 (x)": byTestID(doc, "deprecate-crm-demo-1.0.0").Length(),
			}
			for id, n := range controls {
				want := 0
				if tc.canPublish && !strings.HasSuffix(id, "(x)") {
					want = 1
				}
				if n != want {
					t.Errorf("%s: %d rendered, want %d", id, n, want)
				}
			}
			if tc.canPublish {
				form := byTestID(doc, "deprecate-crm-demo-1.2.0").Closest("form")
				if got, want := attr(form, "action"), "/templates/crm-demo/versions/1.2.0/deprecate"; got != want {
					t.Errorf("deprecate action = %q, want %q", got, want)
				}
				if got := attr(byTestID(doc, "new-version-crm-demo"), "href"); got != "/templates/new?from=crm-demo" {
					t.Errorf("new version link = %q", got)
				}
			}
		})
	}
}

func TestPublishPageShowsErrorsByLine(t *testing.T) {
	src := "name: tiny\nversion: 1.0.0\nttl:\n  default: forever\n"
	doc := render(t, web.PublishPage(page("catalog"), web.PublishView{
		Source:  src,
		Message: "the template is invalid",
		Errors: []web.PublishErrorView{
			{Line: 4, Field: "ttl.default", Message: "not a duration"},
			{Field: "provider", Message: "is required"},
		},
	}))
	if got := doc.Find("textarea[name=source]").Text(); got != src {
		t.Errorf("source not kept: %q", got)
	}
	errs := byTestID(doc, "publish-error")
	if errs.Length() != 2 {
		t.Fatalf("%d errors rendered, want 2", errs.Length())
	}
	if got := strings.Join(strings.Fields(errs.First().Text()), " "); got != "line 4 ttl.default: not a duration" {
		t.Errorf("first error = %q", got)
	}
	if got := strings.Join(strings.Fields(errs.Last().Text()), " "); got != "provider: is required" {
		t.Errorf("second error = %q", got)
	}
	form := byTestID(doc, "publish-form")
	if attr(form, "enctype") != "multipart/form-data" || attr(form, "action") != "/templates" {
		t.Errorf("form posts %q as %q", attr(form, "action"), attr(form, "enctype"))
	}
	if got := doc.Find("h1").Text(); got != "Publish a template" {
		t.Errorf("title = %q", got)
	}
}

func TestLayoutRendersFlash(t *testing.T) {
	p := page("catalog")
	p.Flash = "Published tiny 1.1.0"
	doc := render(t, web.CatalogPage(p, nil))
	if got := strings.TrimSpace(doc.Find("#flash [data-testid=flash]").Text()); got != "Published tiny 1.1.0" {
		t.Errorf("flash = %q", got)
	}
}
