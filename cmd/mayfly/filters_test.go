package main

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestListFiltersAreBounded: a listing's filters are checked before they
// reach the database: repeated statuses are dropped, too many values or a
// value too long is 422 naming the field, in the API and on the page.
func TestListFiltersAreBounded(t *testing.T) {
	s := startMain(t, "")
	s.launch(map[string]any{"template": "demo-shop", "name": "listed", "params": map[string]any{"customer": "Acme"}, "ttl": "1h"})
	many := strings.Repeat("status=ready&", 40000)
	long := strings.Repeat("x", 100000)
	tests := []struct {
		name, path string
		status     int
		field      string
	}{
		{"40,000 statuses", "/api/v1/environments?" + many, http.StatusUnprocessableEntity, ""},
		{"5,000 statuses", "/api/v1/environments?" + strings.Repeat("status=ready&", 5000), http.StatusUnprocessableEntity, "status"},
		{"a bad escape", "/api/v1/environments?status=ready&owner=%zz", http.StatusUnprocessableEntity, ""},
		{"40,000 statuses in one value", "/api/v1/environments?status=" + strings.Repeat("pending,", 40000), http.StatusUnprocessableEntity, "status"},
		{"a repeated status", "/api/v1/environments?status=pending,pending,provisioning,ready&status=pending,ready", http.StatusOK, ""},
		{"a long status", "/api/v1/environments?status=" + long, http.StatusUnprocessableEntity, "status"},
		{"a long owner", "/api/v1/environments?owner=" + long, http.StatusUnprocessableEntity, "owner"},
		{"a long template", "/api/v1/environments?template=" + long, http.StatusUnprocessableEntity, "template"},
		{"a long cursor", "/api/v1/environments?cursor=" + long, http.StatusUnprocessableEntity, "cursor"},
		{"a NUL byte in the owner", "/api/v1/environments?owner=a%00b", http.StatusUnprocessableEntity, "owner"},
		{"not UTF-8 in the template", "/api/v1/environments?template=%ff", http.StatusUnprocessableEntity, "template"},
		{"a NUL byte in a cursor", "/api/v1/environments?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("n2030-01-01T00:00:00Z env-\x00")), http.StatusUnprocessableEntity, "cursor"},
		// The audit log's filters are parsed and bounded the same way: echo
		// dropped a query it could not parse, and the admin read the whole
		// log as the filtered one.
		{"an audit query with a bad escape", "/api/v1/audit?actor=%zz", http.StatusUnprocessableEntity, ""},
		{"an audit query of 20,000 parameters", "/api/v1/audit?" + strings.Repeat("actor=nobody&", 20000), http.StatusUnprocessableEntity, ""},
		{"a long audit actor", "/api/v1/audit?actor=" + long, http.StatusUnprocessableEntity, "actor"},
		{"a long audit action", "/api/v1/audit?action=" + long, http.StatusUnprocessableEntity, "action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.api("GET", tt.path, nil)
			if tt.status == http.StatusOK {
				if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"listed"`) {
					t.Errorf("status %d: %s", r.Status, r.Body)
				}
				return
			}
			assertProblem(t, r, tt.status, tt.field)
			if len(r.Body) > 2000 {
				t.Errorf("the problem is %d bytes: it repeats the request", len(r.Body))
			}
		})
	}
	for _, q := range []string{"?status=" + long, "?status=" + strings.Repeat("ready,", 40000), "?cursor=" + long} {
		r := s.do("GET", "/environments"+q, "", nil)
		if r.Status != http.StatusUnprocessableEntity || len(r.Body) > 100000 {
			t.Errorf("page %.40s...: status %d, %d bytes; want a short 422", q, r.Status, len(r.Body))
		}
	}
}

// TestLaunchRefusesNULBytes: a NUL byte cannot be passed to a process, so a
// parameter carrying one is refused at launch, naming the parameter,
// instead of failing when the stack starts.
func TestLaunchRefusesNULBytes(t *testing.T) {
	s := startMain(t, "")
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(publishedTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	for _, tt := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"a parameter", map[string]any{"template": "tiny", "params": map[string]any{"password": "pw\x00; rm -rf /"}}, "params.password"},
		{"a parameter that is only a NUL byte", map[string]any{"template": "tiny", "params": map[string]any{"password": "\x00"}}, "params.password"},
		{"the name", map[string]any{"template": "tiny", "name": "a\x00b", "params": map[string]any{"password": "pw"}}, "name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, s.api("POST", "/api/v1/environments", tt.body), http.StatusUnprocessableEntity, tt.field)
		})
	}
	form := url.Values{"params.password": {"pw\x00"}, "ttl": {"1h"}}
	r := s.do("POST", "/templates/tiny/launch", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "must not contain a NUL byte") {
		t.Errorf("launch form: status %d, want 422 saying NUL: %.300s", r.Status, r.Body)
	}
	if r := s.api("GET", "/api/v1/environments", nil); strings.Contains(string(r.Body), `"id"`) {
		t.Errorf("a refused launch launched: %s", r.Body)
	}
}

// TestNULBytesInNamesAreRefused: no name, id or filter has a NUL byte or
// bytes that are not UTF-8, and PostgreSQL cannot compare text with them
// (it answered 500): a path with one is 400, a query parameter or a
// launch's template 422 naming it.
func TestNULBytesInNamesAreRefused(t *testing.T) {
	s := startMain(t, "")
	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"a template name", "GET", "/api/v1/templates/demo%00shop", nil, http.StatusBadRequest, ""},
		{"an environment id", "GET", "/api/v1/environments/env-%00", nil, http.StatusBadRequest, ""},
		{"a version", "POST", "/api/v1/templates/demo-shop/versions/1.0.0%00/deprecate", map[string]any{}, http.StatusBadRequest, ""},
		{"not UTF-8 in a path", "GET", "/api/v1/templates/%ff", nil, http.StatusBadRequest, ""},
		{"an audit filter", "GET", "/api/v1/audit?actor=a%00b", nil, http.StatusUnprocessableEntity, "actor"},
		{"a choices version", "GET", "/api/v1/templates/demo-shop/choices?version=%ff", nil, http.StatusUnprocessableEntity, "version"},
		{"the template to launch", "POST", "/api/v1/environments", map[string]any{"template": "demo\x00shop"}, http.StatusUnprocessableEntity, "template"},
		// PostgreSQL cannot store a NUL byte as text: this was a 500 there.
		{"a deprecation note", "POST", "/api/v1/templates/demo-shop/versions/1.0.0/deprecate", map[string]any{"note": "old\x00"}, http.StatusUnprocessableEntity, "note"},
		{"a long deprecation note", "POST", "/api/v1/templates/demo-shop/versions/1.0.0/deprecate", map[string]any{"note": strings.Repeat("n", 5000)}, http.StatusUnprocessableEntity, "note"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, s.api(tt.method, tt.path, tt.body), tt.status, tt.field)
		})
	}
	if r := s.do("GET", "/templates/demo%00shop/launch", "", nil); r.Status != http.StatusBadRequest {
		t.Errorf("launch page for a name with a NUL byte: %d, want 400", r.Status)
	}
}

// A token's name with a NUL byte is refused, naming the field (PostgreSQL
// cannot store it as text: it was a 500 there).
func TestTokenNameIsText(t *testing.T) {
	s := startSignIn(t, startOP(t))
	_, cookie, csrf := mintSession(t, s, "ada", "mayfly-admins")
	form := url.Values{"name": {"ci\x00"}, "ttl": {"1h"}}
	req, err := http.NewRequest("POST", s.url+"/tokens", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", csrf)
	req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "NUL byte") {
		t.Errorf("POST /tokens with a NUL byte in the name: %d %s", resp.StatusCode, body)
	}
}
