package main

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLabelsAndVersionState on the real server: labels given at launch are
// shown and filter the list (API and page, repeated = AND), bad ones are
// 422 naming the label; the catalog counts each version's environments, an
// environment says a newer version is available, and a deprecation with a
// date flags its environments with what happens to them then.
func TestLabelsAndVersionState(t *testing.T) {
	s := startMain(t, "")
	t.Cleanup(s.destroyAll)
	launch := func(name string, labels map[string]string) envJSON {
		return s.launch(map[string]any{"template": "demo-shop", "name": name, "params": map[string]any{"customer": "Acme"}, "ttl": "1h", "labels": labels})
	}
	a := launch("pr1-abc", map[string]string{"pr": "1", "commit": "abc"})
	launch("pr1-def", map[string]string{"pr": "1", "commit": "def"})
	launch("unlabelled", nil)

	type listJSON struct {
		Items []struct {
			Name              string            `json:"name"`
			Labels            map[string]string `json:"labels"`
			NewerVersion      string            `json:"newer_version"`
			VersionDeprecated bool              `json:"version_deprecated"`
			DeprecationDate   *time.Time        `json:"deprecation_date"`
			DeprecationAction string            `json:"deprecation_action"`
		} `json:"items"`
	}
	list := func(query string) listJSON {
		t.Helper()
		r := s.api("GET", "/api/v1/environments"+query, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", query, r.Status, r.Body)
		}
		var l listJSON
		r.decode(t, &l)
		return l
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"?label=pr=1", []string{"pr1-def", "pr1-abc"}},
		{"?label=pr=1&label=commit=abc", []string{"pr1-abc"}},
		{"?label=" + url.QueryEscape("commit=def"), []string{"pr1-def"}},
		{"?label=pr=2", nil},
	} {
		var got []string
		for _, e := range list(c.query).Items {
			got = append(got, e.Name)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("GET %s: %v, want %v", c.query, got, c.want)
		}
	}
	if l := list("?label=pr=1&label=commit=abc"); len(l.Items) == 1 && (l.Items[0].Labels["pr"] != "1" || l.Items[0].Labels["commit"] != "abc") {
		t.Errorf("labels shown: %v", l.Items[0].Labels)
	}
	assertProblem(t, s.api("GET", "/api/v1/environments?label=nokey", nil), http.StatusUnprocessableEntity, "label")
	assertProblem(t, s.api("POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "name": "bad-label",
		"params": map[string]any{"customer": "Acme"}, "labels": map[string]string{"pr": "1", "Bad Key": "x"}}), http.StatusUnprocessableEntity, "labels.Bad Key")
	assertProblem(t, s.api("POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "name": "nul-label",
		"params": map[string]any{"customer": "Acme"}, "labels": map[string]string{"pr": "1\x00"}}), http.StatusUnprocessableEntity, "labels.pr")

	code, page, err := httpGet(s.url + "/environments?label=pr=1&label=commit=abc")
	if err != nil || code != http.StatusOK {
		t.Fatalf("environments page: %d %v", code, err)
	}
	if !strings.Contains(page, "env-row-pr1-abc") || strings.Contains(page, "env-row-pr1-def") || !strings.Contains(page, "commit=abc") {
		t.Errorf("the environments page filtered by pr=1 and commit=abc does not show just pr1-abc with its labels")
	}

	// A newer version: the environments on 1.0.0 say so, the catalog
	// counts them.
	src, err := os.ReadFile("../../catalog/demo-shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1))); r.Status != http.StatusCreated {
		t.Fatalf("publish 1.1.0: %d %s", r.Status, r.Body)
	}
	if e := list("?label=pr=1&label=commit=abc").Items[0]; e.NewerVersion != "1.1.0" || e.VersionDeprecated {
		t.Errorf("on 1.0.0 with 1.1.0 published: newer %q, deprecated %v", e.NewerVersion, e.VersionDeprecated)
	}
	var tpl struct {
		Versions []struct {
			Version      string `json:"version"`
			Environments int    `json:"environments"`
		} `json:"versions"`
	}
	r := s.api("GET", "/api/v1/templates/demo-shop", nil)
	r.decode(t, &tpl)
	counts := map[string]int{}
	for _, v := range tpl.Versions {
		counts[v.Version] = v.Environments
	}
	if counts["1.0.0"] != 3 || counts["1.1.0"] != 0 {
		t.Errorf("per-version counts: %v, want 1.0.0: 3, 1.1.0: 0", counts)
	}
	_, catalog, _ := httpGet(s.url + "/catalog")
	if !strings.Contains(catalog, "3 environments") {
		t.Errorf("the catalog does not show 1.0.0's 3 environments")
	}
	_, envPage, _ := httpGet(s.url + "/environments/" + a.ID)
	if !strings.Contains(envPage, "v1.0.0 — ") || !strings.Contains(envPage, "1.1.0 is available") {
		t.Errorf("the environment page does not say 1.1.0 is available")
	}

	// Deprecation with a date.
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/versions/1.0.0/deprecate", map[string]string{"date": "2001-01-01", "action": "destroy"}), http.StatusUnprocessableEntity, "date")
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/versions/1.0.0/deprecate", map[string]string{"date": "2099-01-15", "action": "archive"}), http.StatusUnprocessableEntity, "action")
	if r := s.api("POST", "/api/v1/templates/demo-shop/versions/1.0.0/deprecate", map[string]string{"note": "use 1.1", "date": "2099-01-15", "action": "replace"}); r.Status != http.StatusOK {
		t.Fatalf("deprecate with a date: %d %s", r.Status, r.Body)
	}
	e := list("?label=pr=1&label=commit=abc").Items[0]
	if !e.VersionDeprecated || e.DeprecationAction != "replace" || e.DeprecationDate == nil || e.DeprecationDate.Format(time.DateOnly) != "2099-01-15" {
		t.Errorf("after the deprecation: %+v", e)
	}
	_, envPage, _ = httpGet(s.url + "/environments/" + a.ID)
	if !strings.Contains(envPage, "v1.0.0 is deprecated; it will be replaced with the newest version on 2099-01-15") {
		t.Errorf("the environment page does not say when it will be replaced")
	}
	_, listPage, _ := httpGet(s.url + "/environments")
	if !strings.Contains(listPage, `data-testid="deprecated"`) {
		t.Errorf("the environments list does not flag the deprecated version")
	}
}
