package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const publishedTemplate = `name: tiny
version: 1.0.0
kind: demo
description: A tiny template published by a test.
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
parameters:
  - name: password
    type: string
    secret: true
    required: true
stack:
  services:
    - name: web
      command: ["sleep", "300"]
`

func TestAPIErrors(t *testing.T) {
	s := startMain(t, "")
	live := s.launch(map[string]any{"template": "demo-shop", "name": "taken", "params": map[string]any{"customer": "Initech"}})

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		field  string
	}{
		{"unknown template", "POST", "/api/v1/environments", map[string]any{"template": "nope"}, http.StatusNotFound, ""},
		{"unknown version", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "version": "9.9.9"}, http.StatusNotFound, ""},
		{"missing template", "POST", "/api/v1/environments", map[string]any{"name": "x"}, http.StatusUnprocessableEntity, "template"},
		{"missing required param", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop"}, http.StatusUnprocessableEntity, "params.customer"},
		{"param out of range", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "A B", "products": 100000}}, http.StatusUnprocessableEntity, "params.products"},
		{"unknown param", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "A B", "colour": "red"}}, http.StatusUnprocessableEntity, "params.colour"},
		{"ttl over max", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "A B"}, "ttl": "9h"}, http.StatusUnprocessableEntity, "ttl"},
		{"ttl not a duration", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "A B"}, "ttl": "soon"}, http.StatusUnprocessableEntity, "ttl"},
		{"bad name", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "name": "../../etc", "params": map[string]any{"customer": "A B"}}, http.StatusUnprocessableEntity, "name"},
		{"duplicate live name", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "name": "taken", "params": map[string]any{"customer": "A B"}}, http.StatusConflict, "name"},
		{"unknown body field", "POST", "/api/v1/environments", map[string]any{"template": "demo-shop", "tll": "1h"}, http.StatusUnprocessableEntity, "tll"},
		{"unknown environment", "GET", "/api/v1/environments/env-nope", nil, http.StatusNotFound, ""},
		{"extend unknown", "POST", "/api/v1/environments/env-nope/extend", map[string]string{"ttl": "1h"}, http.StatusNotFound, ""},
		{"extend bad ttl", "POST", "/api/v1/environments/" + live.ID + "/extend", map[string]string{"ttl": "-1h"}, http.StatusUnprocessableEntity, "ttl"},
		{"bad status filter", "GET", "/api/v1/environments?status=sleeping", nil, http.StatusUnprocessableEntity, "status"},
		{"unknown route", "GET", "/api/v1/nothing", nil, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, s.api(tt.method, tt.path, tt.body), tt.status, tt.field)
		})
	}

	t.Run("malformed json", func(t *testing.T) {
		assertProblem(t, s.do("POST", "/api/v1/environments", "application/json", []byte(`{"template":`)), http.StatusUnprocessableEntity, "")
	})
	t.Run("oversized body", func(t *testing.T) {
		big := strings.Repeat("#", 2<<20)
		assertProblem(t, s.do("POST", "/api/v1/templates", "application/yaml", []byte(big)), http.StatusRequestEntityTooLarge, "")
	})
}

func TestAPIPublish(t *testing.T) {
	s := startMain(t, "")
	r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(publishedTemplate))
	if r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte("# same content\n"+publishedTemplate)); r.Status != http.StatusOK {
		t.Errorf("republishing the same content: %d %s, want 200", r.Status, r.Body)
	}
	changed := strings.Replace(publishedTemplate, "max: 2h", "max: 3h", 1)
	assertProblem(t, s.do("POST", "/api/v1/templates", "application/yaml", []byte(changed)), http.StatusConflict, "")

	bad := strings.Replace(publishedTemplate, "kind: demo", "kind: prod", 1)
	r = s.do("POST", "/api/v1/templates", "application/yaml", []byte(bad))
	assertProblem(t, r, http.StatusUnprocessableEntity, "kind")
	if !strings.Contains(string(r.Body), `"line":3`) {
		t.Errorf("the error does not name line 3: %s", r.Body)
	}
	escape := strings.Replace(publishedTemplate, "name: tiny", "name: ../../tiny", 1)
	assertProblem(t, s.do("POST", "/api/v1/templates", "application/yaml", []byte(escape)), http.StatusUnprocessableEntity, "name")

	badStack := strings.Replace(publishedTemplate, `command: ["sleep", "300"]`, `command: ["sleep", "300"]
      outputs: {url: "{{.Nope"}`, 1)
	assertProblem(t, s.do("POST", "/api/v1/templates", "application/yaml", []byte(strings.Replace(badStack, "1.0.0", "1.0.1", 1))), http.StatusUnprocessableEntity, "")

	// Deprecated versions stay listed but cannot be launched.
	if r := s.api("POST", "/api/v1/templates/tiny/versions/1.0.0/deprecate", map[string]string{"note": "use 2.0"}); r.Status != http.StatusOK {
		t.Fatalf("deprecate: %d %s", r.Status, r.Body)
	}
	assertProblem(t, s.api("POST", "/api/v1/environments", map[string]any{"template": "tiny", "version": "1.0.0", "params": map[string]any{"password": "x"}}), http.StatusUnprocessableEntity, "version")
}

func TestSecretsNeverShownBack(t *testing.T) {
	s := startMain(t, "")
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(publishedTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	const secret = "correct-horse-battery-staple"
	e := s.launch(map[string]any{"template": "tiny", "params": map[string]any{"password": secret}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	got := s.env(e.ID)
	if len(got.SecretParams) != 1 || got.SecretParams[0] != "password" {
		t.Errorf("secret_params = %v, want [password]", got.SecretParams)
	}
	for _, path := range []string{"/api/v1/environments/" + e.ID, "/api/v1/environments", "/api/v1/environments/" + e.ID + "/events", "/environments/" + e.ID, "/environments"} {
		if r := s.do("GET", path, "", nil); strings.Contains(string(r.Body), secret) {
			t.Errorf("%s shows the secret", path)
		}
	}
	if s.DB.Dialect() == "postgres" {
		// Every text and byte column of every row, as the server returns it.
		for _, table := range []string{"environments", "events", "audit_log", "river_job"} {
			var n int
			q := `SELECT count(*) FROM ` + table + ` t WHERE position($1 in t::text) > 0 OR position($2 in t::text) > 0`
			if err := s.DB.SQL().QueryRow(q, secret, hex.EncodeToString([]byte(secret))).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				t.Errorf("%d rows of %s hold the secret in clear text", n, table)
			}
		}
		return
	}
	db, err := os.ReadFile(filepath.Join(s.Config.DataDir, "mayfly.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(s.Config.DataDir, "mayfly.db-wal"))
	if bytes.Contains(db, []byte(secret)) || bytes.Contains(wal, []byte(secret)) {
		t.Error("the database holds the secret in clear text")
	}
}

// GET /api/v1/environments pages with cursors: every environment once, newest
// first, and prev_cursor walks back.
func TestAPIEnvironmentsPageByCursor(t *testing.T) {
	s := startMain(t, "")
	publishInstant(t, s)
	var launched []string
	for i := range 5 {
		launched = append(launched, s.launch(map[string]any{"template": "tiny", "name": fmt.Sprintf("page-%d", i)}).ID)
	}
	slices.Reverse(launched) // newest first
	type page struct {
		Items      []envJSON `json:"items"`
		NextCursor string    `json:"next_cursor"`
		PrevCursor string    `json:"prev_cursor"`
	}
	get := func(query string) page {
		t.Helper()
		r := s.api("GET", "/api/v1/environments?template=tiny&limit=2"+query, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list%s: %d %s", query, r.Status, r.Body)
		}
		var p page
		r.decode(t, &p)
		return p
	}
	var seen []string
	var pages []page
	for p := get(""); ; p = get("&cursor=" + url.QueryEscape(p.NextCursor)) {
		pages = append(pages, p)
		for _, e := range p.Items {
			seen = append(seen, e.ID)
		}
		if p.NextCursor == "" {
			break
		}
	}
	if !slices.Equal(seen, launched) || len(pages) != 3 {
		t.Fatalf("paged %v in %d pages, want %v in 3", seen, len(pages), launched)
	}
	if pages[0].PrevCursor != "" {
		t.Errorf("first page has a prev_cursor")
	}
	back := get("&cursor=" + url.QueryEscape(pages[2].PrevCursor))
	if len(back.Items) != 2 || back.Items[0].ID != launched[2] || back.Items[1].ID != launched[3] {
		t.Errorf("prev of the last page: got %+v, want %v", back.Items, launched[2:4])
	}
	assertProblem(t, s.api("GET", "/api/v1/environments?cursor=bogus", nil), http.StatusUnprocessableEntity, "cursor")
}
