package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/catalog/shop"
	"github.com/mayflyhq/mayfly/envs"
)

// relaunchTemplate's setup step succeeds only when the secret password
// reached the stack with the SHA-256 digest in the plain parameter expect:
// a relaunch that lost or changed the secret fails its launch.
const relaunchTemplate = `name: again
version: 1.0.0
kind: demo
description: Launched again and again.
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
parameters:
  - name: greeting
    type: string
    default: hello
  - name: expect
    type: string
    required: true
  - name: password
    type: string
    secret: true
    required: true
stack:
  setup:
    - name: check the password
      command: ["sh", "-c", "test \"$(printf %s \"$MAYFLY_PARAM_PASSWORD\" | sha256sum | cut -d' ' -f1)\" = \"$MAYFLY_PARAM_EXPECT\""]
  services:
    - name: web
      command: ["sleep", "300"]
`

// relaunchedJSON is what the tests read of an environment beyond envJSON.
type relaunchedJSON struct {
	envJSON
	Version        string    `json:"version"`
	Owner          string    `json:"owner"`
	OwnerID        string    `json:"owner_id"`
	CreatedAt      time.Time `json:"created_at"`
	RelaunchedFrom string    `json:"relaunched_from"`
	PinnedSnapshot string    `json:"pinned_snapshot"`
}

func (s *testServer) relaunch(id string, body any) relaunchedJSON {
	s.t.Helper()
	r := s.api("POST", "/api/v1/environments/"+id+"/relaunch", body)
	if r.Status != http.StatusAccepted {
		s.t.Fatalf("relaunch %s: status %d: %s", id, r.Status, r.Body)
	}
	var e relaunchedJSON
	r.decode(s.t, &e)
	if loc := r.Header.Get("Location"); loc != "/api/v1/environments/"+e.ID {
		s.t.Errorf("Location %q, want the new environment", loc)
	}
	return e
}

// TestRelaunchThroughTheAPI relaunches a destroyed environment as it was
// (its secret re-used: the local user owns it), then a live one with
// overrides, and the refusals a relaunch shares with a launch.
func TestRelaunchThroughTheAPI(t *testing.T) {
	s := startMain(t, "")
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(relaunchTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	const secret = "s3cret-of-the-first"
	src := s.launch(map[string]any{"template": "again", "name": "first", "params": map[string]any{"greeting": "hi", "expect": hashHex(secret), "password": secret}})
	s.waitStatus(src.ID, "ready", 20*time.Second)
	s.destroyClean(src.ID)

	// A destroyed environment, as it was: its name, values and secret.
	again := s.relaunch(src.ID, nil)
	if again.Status != "pending" || again.RelaunchedFrom != src.ID || again.Name != "first" || again.Version != "1.0.0" {
		t.Errorf("relaunch: %+v, want pending first@1.0.0 relaunched from %s", again, src.ID)
	}
	ready := s.waitStatus(again.ID, "ready", 20*time.Second) // the setup step saw the same secret
	if ready.Params["greeting"] != "hi" || ready.Params["expect"] != hashHex(secret) || len(ready.SecretParams) != 1 {
		t.Errorf("relaunched values %v, secrets %v", ready.Params, ready.SecretParams)
	}
	if got := s.env(again.ID); !strings.Contains(strings.Join(s.events(again.ID), "\n"), "Relaunched from first ("+src.ID+")") || got.Status != "ready" {
		t.Errorf("new timeline %q", s.events(again.ID))
	}
	if msgs := s.events(src.ID); !containsAny(msgs, "Relaunched as first ("+again.ID+")") {
		t.Errorf("source timeline %q, want the relaunch", msgs)
	}

	// A live one, with overrides.
	over := s.relaunch(again.ID, map[string]any{"name": "second", "ttl": "30m", "params": map[string]any{"greeting": "hey"}})
	e := s.waitStatus(over.ID, "ready", 20*time.Second)
	if e.Name != "second" || e.Params["greeting"] != "hey" || e.Params["expect"] != hashHex(secret) {
		t.Errorf("overridden relaunch: %s %v", e.Name, e.Params)
	}
	if d := over.ExpiresAt.Sub(over.CreatedAt); d != 30*time.Minute {
		t.Errorf("TTL %s, want 30m", d)
	}
	// A changed secret reaches the stack: the setup step now fails.
	bad := s.relaunch(again.ID, map[string]any{"name": "third", "params": map[string]any{"password": "another-secret"}})
	if got := s.waitCleaned(bad.ID, 30*time.Second); got.Status != "failed" || !strings.Contains(got.FailureReason, "check the password") {
		t.Errorf("a relaunch with another secret: failure %q, want its setup step to fail", got.FailureReason)
	}

	var audit struct {
		Items []struct {
			Target string `json:"target"`
			Detail string `json:"detail"`
			Result string `json:"result"`
		} `json:"items"`
	}
	s.api("GET", "/api/v1/audit?action=environment.relaunch", nil).decode(t, &audit)
	found := false
	for _, a := range audit.Items {
		found = found || a.Target == again.ID && a.Detail == src.ID && a.Result == "ok"
	}
	if !found {
		t.Errorf("audit %+v lacks the relaunch of %s as %s", audit.Items, src.ID, again.ID)
	}

	// Deprecated since: refused naming the version, and another is taken.
	next := strings.Replace(relaunchTemplate, "version: 1.0.0", "version: 1.1.0", 1)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(next)); r.Status != http.StatusCreated {
		t.Fatalf("publish 1.1.0: %d %s", r.Status, r.Body)
	}
	if r := s.api("POST", "/api/v1/templates/again/versions/1.0.0/deprecate", map[string]string{}); r.Status != http.StatusOK && r.Status != http.StatusNoContent {
		t.Fatalf("deprecate: %d %s", r.Status, r.Body)
	}
	for _, tt := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"a deprecated version", map[string]any{"name": "fourth"}, http.StatusUnprocessableEntity, "version"},
		{"a version that does not exist", map[string]any{"version": "7.0.0"}, http.StatusUnprocessableEntity, "version"},
		{"past the maximum TTL", map[string]any{"version": "1.1.0", "ttl": "5h"}, http.StatusUnprocessableEntity, "ttl"},
		{"an unknown parameter", map[string]any{"version": "1.1.0", "params": map[string]any{"colour": "red"}}, http.StatusUnprocessableEntity, "params.colour"},
		{"the same snapshot of a demo", map[string]any{"version": "1.1.0", "same_snapshot": true}, http.StatusUnprocessableEntity, "same_snapshot"},
		{"an unknown field", map[string]any{"template": "again"}, http.StatusUnprocessableEntity, "template"},
		{"a name in use", map[string]any{"version": "1.1.0", "name": "second"}, http.StatusConflict, "name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, s.api("POST", "/api/v1/environments/"+src.ID+"/relaunch", tt.body), tt.status, tt.field)
		})
	}
	if r := s.api("POST", "/api/v1/environments/env-nothere/relaunch", nil); r.Status != http.StatusNotFound {
		t.Errorf("relaunch of an unknown environment: %d %s", r.Status, r.Body)
	}
	upgraded := s.relaunch(src.ID, map[string]any{"version": "1.1.0", "name": "upgraded"})
	if upgraded.Version != "1.1.0" {
		t.Errorf("relaunched as %s, want 1.1.0", upgraded.Version)
	}
	s.waitStatus(upgraded.ID, "ready", 20*time.Second)
}

// TestRelaunchSecretsOnlyForTheOwner: with sign-in, the owner's relaunch
// re-uses the secret; another member of the team must type it (422 naming
// it, and the form shows it empty and required), and owns what they
// relaunch. No answer ever holds the secret.
func TestRelaunchSecretsOnlyForTheOwner(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	ctx := context.Background()
	if _, _, err := s.Service.Publish(ctx, envs.System, []byte(relaunchTemplate)); err != nil {
		t.Fatal(err)
	}
	const secret = "b0b-s-own-secret"
	bob, bobCookie, _ := mintSession(t, s, "bob", "developers", "team-shop")
	bea, beaCookie, beaCSRF := mintSession(t, s, "bea", "developers", "team-shop")
	bobToken, _, err := s.Service.CreateToken(ctx, bob, "ci", "", "")
	if err != nil {
		t.Fatal(err)
	}
	beaToken, _, err := s.Service.CreateToken(ctx, bea, "ci", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	call := func(token, path, body string, want int) relaunchedJSON {
		t.Helper()
		r := bearer(t, s, token, "POST", path, "application/json", body)
		answers = append(answers, string(r.Body))
		if r.Status != want {
			t.Fatalf("POST %s: %d %s, want %d", path, r.Status, r.Body, want)
		}
		var e relaunchedJSON
		if want == http.StatusAccepted {
			r.decode(t, &e)
		}
		return e
	}
	src := call(bobToken, "/api/v1/environments", `{"template":"again","name":"bobs","params":{"expect":"`+hashHex(secret)+`","password":"`+secret+`"}}`, http.StatusAccepted)
	waitEnv(t, s, src.ID, envs.StatusReady, 20*time.Second)

	r := bearer(t, s, beaToken, "POST", "/api/v1/environments/"+src.ID+"/relaunch", "application/json", `{"name":"beas"}`)
	assertProblem(t, r, http.StatusUnprocessableEntity, "params.password")
	if !strings.Contains(string(r.Body), "type it again") {
		t.Errorf("the refusal does not say to type it again: %s", r.Body)
	}
	answers = append(answers, string(r.Body))

	// The form: the owner may leave it empty, bea must type it.
	for _, tt := range []struct {
		who, cookie string
		required    bool
		help        string
	}{{"owner", bobCookie, false, "Leave it empty to re-use the value of bobs."}, {"team member", beaCookie, true, "type it again"}} {
		req, _ := http.NewRequest("GET", s.url+"/environments/"+src.ID+"/relaunch", nil)
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: tt.cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: relaunch form: %d %v", tt.who, resp.StatusCode, err)
		}
		html, _ := doc.Html()
		answers = append(answers, html)
		pw := doc.Find(`input[name="params.password"]`)
		if v, _ := pw.Attr("value"); v != "" {
			t.Errorf("%s: the form carries the secret's value", tt.who)
		}
		if _, req := pw.Attr("required"); req != tt.required {
			t.Errorf("%s: password required = %v, want %v", tt.who, req, tt.required)
		}
		if help := doc.Find(`[data-testid="field-params.password"]`).Text(); !strings.Contains(help, tt.help) {
			t.Errorf("%s: password help %q, want %q", tt.who, strings.TrimSpace(help), tt.help)
		}
		if v, _ := doc.Find(`input[name="params.expect"]`).Attr("value"); v != hashHex(secret) {
			t.Errorf("%s: expect prefilled with %q", tt.who, v)
		}
	}

	// The form sent without it comes back with the error under the field.
	req, _ := http.NewRequest("POST", s.url+"/environments/"+src.ID+"/relaunch", strings.NewReader("name=beas&params.password=&params.greeting=hey"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", beaCSRF)
	req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: beaCookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("the refused form: %d %v", resp.StatusCode, err)
	}
	if msg := doc.Find(`[data-testid="error-params.password"]`).Text(); !strings.Contains(msg, "type it again") {
		t.Errorf("the refused form says %q under the password", strings.TrimSpace(msg))
	}
	if v, _ := doc.Find(`input[name="params.greeting"]`).Attr("value"); v != "hey" {
		t.Errorf("the refused form lost the typed greeting: %q", v)
	}

	beas := call(beaToken, "/api/v1/environments/"+src.ID+"/relaunch", `{"name":"beas","params":{"password":"`+secret+`"}}`, http.StatusAccepted)
	if beas.Owner != bea.Name || beas.OwnerID != bea.UserID || beas.RelaunchedFrom != src.ID {
		t.Errorf("bea's relaunch: owner %s (%s), from %s; want %s (%s), %s", beas.Owner, beas.OwnerID, beas.RelaunchedFrom, bea.Name, bea.UserID, src.ID)
	}
	bobs := call(bobToken, "/api/v1/environments/"+src.ID+"/relaunch", `{"name":"bobs-again"}`, http.StatusAccepted)
	for _, id := range []string{beas.ID, bobs.ID} {
		waitEnv(t, s, id, envs.StatusReady, 20*time.Second) // each stack saw the secret
	}
	for _, id := range []string{src.ID, beas.ID, bobs.ID} {
		answers = append(answers, string(bearer(t, s, bobToken, "GET", "/api/v1/environments/"+id, "", "").Body),
			string(bearer(t, s, bobToken, "GET", "/api/v1/environments/"+id+"/events", "", "").Body))
	}
	for i, a := range answers {
		if strings.Contains(a, secret) {
			t.Errorf("answer %d holds the secret: %.300s", i, a)
		}
	}
}

// TestRelaunchFromTheSameSnapshot relaunches the sample DR drill: from the
// latest snapshot (a second one taken in between with the sample shop's
// snapshot helper), from the same snapshot as its source, and from a
// snapshot that is gone.
func TestRelaunchFromTheSameSnapshot(t *testing.T) {
	s := startMain(t, "")
	src := s.launch(map[string]any{"template": "shop-dr-drill", "name": "drill", "ttl": "10m"})
	first := s.waitStatus(src.ID, "ready", 60*time.Second).Facts["snapshot"]
	if !strings.HasPrefix(first, shop.ProductionDataset+"/") {
		t.Fatalf("the drill restored %q", first)
	}
	// The sample's own snapshot command, as the README tells operators.
	datasetDir := filepath.Join(s.Config.DataDir, "snapshots", shop.ProductionDataset)
	code := shop.Main([]string{"snapshot", "--db", filepath.Join(s.Config.DataDir, "production", "shop.db"),
		"--dataset-dir", datasetDir, "--id", "later"}, io.Discard, os.Stderr)
	if code != 0 {
		t.Fatalf("sample-app snapshot exited %d", code)
	}
	second := shop.ProductionDataset + "/later"

	latest := s.relaunch(src.ID, map[string]any{"name": "drill-latest"})
	same := s.relaunch(src.ID, map[string]any{"name": "drill-same", "same_snapshot": true})
	if same.PinnedSnapshot != first || latest.PinnedSnapshot != "" {
		t.Errorf("pinned %q and %q, want %q and none", same.PinnedSnapshot, latest.PinnedSnapshot, first)
	}
	if got := s.waitStatus(latest.ID, "ready", 60*time.Second).Facts["snapshot"]; got != second {
		t.Errorf("a relaunch restored %q, want the latest %q", got, second)
	}
	e := s.waitStatus(same.ID, "ready", 60*time.Second) // verified against that snapshot's manifest
	if e.Facts["snapshot"] != first || e.RPOSeconds == nil {
		t.Errorf("a relaunch from the same snapshot restored %q (RPO %v), want %q", e.Facts["snapshot"], e.RPOSeconds, first)
	}
	if !containsAny(s.events(same.ID), "restoring the same snapshot "+first) {
		t.Errorf("timeline %q does not say which snapshot", s.events(same.ID))
	}

	// The form offers it for this drill only.
	for _, tt := range []struct {
		id      string
		offered bool
	}{{src.ID, true}} {
		status, body, err := httpGet(s.url + "/environments/" + tt.id + "/relaunch")
		if err != nil || status != http.StatusOK {
			t.Fatalf("relaunch form: %d %v", status, err)
		}
		if got := strings.Contains(body, `name="same_snapshot"`); got != tt.offered || !strings.Contains(body, first) {
			t.Errorf("relaunch form of %s offers the same snapshot: %v, want %v naming %s", tt.id, got, tt.offered, first)
		}
	}
	demo := s.launch(map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "Initech"}})
	if _, body, _ := httpGet(s.url + "/environments/" + demo.ID + "/relaunch"); strings.Contains(body, `name="same_snapshot"`) {
		t.Error("the relaunch form of a demo offers the same snapshot")
	}

	if err := os.RemoveAll(filepath.Join(datasetDir, strings.TrimPrefix(first, shop.ProductionDataset+"/"))); err != nil {
		t.Fatal(err)
	}
	r := s.api("POST", "/api/v1/environments/"+src.ID+"/relaunch", map[string]any{"name": "drill-gone", "same_snapshot": true})
	assertProblem(t, r, http.StatusUnprocessableEntity, "same_snapshot")
	if want := fmt.Sprintf("snapshot %s of dataset %s is gone; relaunch from the latest instead", first, shop.ProductionDataset); !strings.Contains(string(r.Body), want) {
		t.Errorf("refusal %s, want %q", r.Body, want)
	}
}
