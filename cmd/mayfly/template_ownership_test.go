package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/envs"
)

// ownedTemplate is a local template of the given version and owner ("" for
// none).
func ownedTemplate(name, version, owner string) string {
	src := strings.NewReplacer("name: tiny", "name: "+name, "version: 1.0.0", "version: "+version, "    required: true\n", "").
		Replace(publishedTemplate)
	if owner == "" {
		return strings.Replace(src, "owner: tests\n", "", 1)
	}
	return strings.Replace(src, "owner: tests", "owner: "+owner, 1)
}

// TestTemplateOwnership signs people in through the real OpenID provider
// and publishes as them: the first publish of a name records its owner as
// the owning team; only its members and admins publish further versions
// or deprecate them, and only an admin hands it to another team.
func TestTemplateOwnership(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	type user struct{ cookie, csrf string }
	signIn := func(name string) user {
		t.Helper()
		c := browserless(t)
		resp := loginAtOP(t, c, s.url+"/auth/signin?return=/catalog", name)
		resp.Body.Close()
		ck := sessionCookie(t, c, s)
		_, csrf, err := s.Service.SessionActor(context.Background(), ck, "")
		if err != nil {
			t.Fatalf("%s after sign-in: %v", name, err)
		}
		return user{ck, csrf}
	}
	// gina: author in team shop; dave: author in no team; ada: admin.
	gina, dave, ada := signIn("gina"), signIn("dave"), signIn("ada")
	call := func(u user, method, path, contentType, body string) apiResponse {
		t.Helper()
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: u.cookie})
		req.Header.Set("X-CSRF-Token", u.csrf)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	publish := func(u user, name, version, owner string) apiResponse {
		t.Helper()
		return call(u, "POST", "/api/v1/templates", "application/yaml", ownedTemplate(name, version, owner))
	}
	deprecate := func(u user, version string) apiResponse {
		t.Helper()
		return call(u, "POST", "/api/v1/templates/owned/versions/"+version+"/deprecate", "application/json", `{}`)
	}
	expect := func(what string, r apiResponse, status int, says string) {
		t.Helper()
		if r.Status != status || !strings.Contains(string(r.Body), says) {
			t.Errorf("%s: %d %s, want %d saying %q", what, r.Status, r.Body, status, says)
		}
	}

	expect("gina publishes a name for her team", publish(gina, "owned", "1.0.0", "shop"), http.StatusCreated, `"version":"1.0.0"`)
	expect("dave publishes a version of shop's template", publish(dave, "owned", "1.0.1", "shop"), http.StatusForbidden, `owned by the team \"shop\"`)
	expect("dave claims it for another team", publish(dave, "owned", "1.0.1", "tests"), http.StatusForbidden, `owned by the team \"shop\"`)
	expect("dave deprecates shop's version", deprecate(dave, "1.0.0"), http.StatusForbidden, `owned by the team \"shop\"`)
	expect("dave names a team he is not in", publish(dave, "daves", "1.0.0", "shop"), http.StatusForbidden, `which you are not in`)
	assertProblem(t, publish(dave, "daves", "1.0.0", ""), http.StatusUnprocessableEntity, "owner")
	expect("gina publishes the next version", publish(gina, "owned", "1.0.1", "shop"), http.StatusCreated, `"version":"1.0.1"`)
	expect("gina deprecates a version", deprecate(gina, "1.0.0"), http.StatusOK, `"owner_team":"shop"`)
	expect("gina hands it to another team", publish(gina, "owned", "1.0.2", "data"), http.StatusForbidden, `handing it to \"data\" needs an administrator`)
	expect("ada publishes a version", publish(ada, "owned", "1.1.0", "shop"), http.StatusCreated, `"version":"1.1.0"`)
	expect("ada hands it to data", publish(ada, "owned", "2.0.0", "data"), http.StatusCreated, `"version":"2.0.0"`)
	expect("gina after the hand-over", publish(gina, "owned", "2.0.1", "data"), http.StatusForbidden, `owned by the team \"data\"`)
	expect("ada deprecates", deprecate(ada, "1.0.1"), http.StatusOK, `"owner_team":"data"`)

	r := call(ada, "GET", "/api/v1/templates/owned", "", "")
	expect("the API", r, http.StatusOK, `"owner_team":"data"`)
	page := call(ada, "GET", "/catalog", "", "")
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(page.Body)))
	if err != nil {
		t.Fatal(err)
	}
	card := doc.Find(`[data-testid="template-owned"]`)
	if got := strings.TrimSpace(card.Find(`[data-testid="owner"]`).Text()); got != "data" {
		t.Errorf("the catalog shows the owning team %q, want data", got)
	}
	entries, _ := s.Service.AuditLog(context.Background(), envs.System, envs.AuditFilter{Action: "template.publish", Result: "forbidden"})
	if len(entries) < 4 {
		t.Errorf("%d refused publishes audited, want at least 4", len(entries))
	}
}
