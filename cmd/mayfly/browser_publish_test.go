package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// An author publishes from the catalog: a refused template comes back with
// its errors by line and the text kept; a pasted one, a new version copied
// from the latest and an uploaded file are published; a version is
// deprecated with a note.
func TestBrowserPublishAndDeprecate(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	ctx := newBrowser(t)
	source := `[data-testid="publish-form"] textarea[name="source"]`
	flash := chromedp.Text(chromedp.CSS(`#flash [data-testid="flash"]`))
	has := func(want string) func(string) bool {
		return func(s string) bool { return strings.Contains(s, want) }
	}

	invalid := strings.Replace(publishedTemplate, "ttl: {default: 1h, max: 2h}", "ttl: {default: forever, max: 2h}", 1)
	do(t, ctx, "submit a template with a bad TTL",
		chromedp.Navigate(s.url+"/catalog"),
		chromedp.Click(chromedp.CSS(`[data-testid="publish-template"]`)),
		chromedp.WaitVisible(chromedp.CSS(source)),
		chromedp.SetValue(chromedp.CSS(source), invalid),
		chromedp.Click(chromedp.CSS(`[data-testid="publish-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="publish-errors"]`)),
	)
	errText := value(t, ctx, "errors", chromedp.Text(chromedp.CSS(`[data-testid="publish-error"]`)))
	if !strings.Contains(errText, "line 7") || !strings.Contains(errText, "ttl.default") {
		t.Errorf("the error does not name the line and field: %q", errText)
	}
	if kept := value(t, ctx, "kept source", chromedp.Value(chromedp.CSS(source))); kept != invalid {
		t.Errorf("the refused source was not kept:\n%s", kept)
	}
	screenshot(t, ctx, "publish-errors")

	do(t, ctx, "publish the fixed template",
		chromedp.SetValue(chromedp.CSS(source), publishedTemplate),
		chromedp.Click(chromedp.CSS(`[data-testid="publish-submit"]`)),
	)
	waitFor(t, ctx, "the published notice", flash, has("Published tiny 1.0.0"))

	do(t, ctx, "start a new version from the latest",
		chromedp.Click(chromedp.CSS(`[data-testid="manage-tiny"] summary`)),
		chromedp.Click(chromedp.CSS(`[data-testid="new-version-tiny"]`)),
		chromedp.WaitVisible(chromedp.CSS(source)),
	)
	copied := value(t, ctx, "copied source", chromedp.Value(chromedp.CSS(source)))
	if copied != publishedTemplate {
		t.Fatalf("the new version form does not hold the latest source:\n%s", copied)
	}
	do(t, ctx, "publish 1.1.0",
		chromedp.SetValue(chromedp.CSS(source), strings.Replace(copied, "version: 1.0.0", "version: 1.1.0", 1)),
		chromedp.Click(chromedp.CSS(`[data-testid="publish-submit"]`)),
	)
	waitFor(t, ctx, "the published notice", flash, has("Published tiny 1.1.0"))

	file := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(publishedTemplate, "version: 1.0.0", "version: 1.2.0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "upload 1.2.0 as a file",
		chromedp.Navigate(s.url+"/templates/new"),
		chromedp.WaitVisible(chromedp.CSS(source)),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name="file"]`), []string{file}),
		chromedp.Click(chromedp.CSS(`[data-testid="publish-submit"]`)),
	)
	waitFor(t, ctx, "the published notice", flash, has("Published tiny 1.2.0"))

	do(t, ctx, "deprecate 1.0.0",
		chromedp.Click(chromedp.CSS(`[data-testid="manage-tiny"] summary`)),
		chromedp.SendKeys(chromedp.CSS(`#note-tiny-1\.0\.0`), "superseded by 1.2.0"),
		chromedp.Click(chromedp.CSS(`[data-testid="deprecate-tiny-1.0.0"]`)),
	)
	waitFor(t, ctx, "the deprecated notice", flash, has("Deprecated tiny 1.0.0"))
	screenshot(t, ctx, "catalog-after-publish")

	_, body, err := httpGet(s.url + "/api/v1/templates/tiny")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Versions []struct {
			Version         string `json:"version"`
			Deprecated      bool   `json:"deprecated"`
			DeprecationNote string `json:"deprecation_note"`
		} `json:"versions"`
	}
	if err := json.Unmarshal([]byte(body), &tpl); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	got := map[string]string{}
	for _, v := range tpl.Versions {
		got[v.Version] = "live"
		if v.Deprecated {
			got[v.Version] = "deprecated: " + v.DeprecationNote
		}
	}
	want := map[string]string{"1.2.0": "live", "1.1.0": "live", "1.0.0": "deprecated: superseded by 1.2.0"}
	for v, w := range want {
		if got[v] != w {
			t.Errorf("version %s: %q, want %q (all: %v)", v, got[v], w, got)
		}
	}
}
