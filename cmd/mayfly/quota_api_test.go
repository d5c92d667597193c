package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

// callAs calls the API with an API token.
func callAs(t *testing.T, s *testServer, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %s", method, path, b)
		}
	}
	return resp.StatusCode, out
}

// TestQuotaAPI: an admin sets a team's cost limit; a launch past it is a
// 403 quota_exceeded problem naming the limit; the member asks for an
// approval, cannot approve it, and the admin's approval launches it once.
func TestQuotaAPI(t *testing.T) {
	s := startSignIn(t, startOP(t))
	publishPriced(t, s)
	ctx := context.Background()
	bob, _, _ := mintSession(t, s, "bob", "developers", "team-shop")
	ada, _, _ := mintSession(t, s, "ada", "mayfly-admins")
	bobTok, _, err := s.Service.CreateToken(ctx, bob, "ci", "", "")
	if err != nil {
		t.Fatal(err)
	}
	adaTok, _, err := s.Service.CreateToken(ctx, ada, "ops", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := callAs(t, s, bobTok, "PUT", "/api/v1/quotas/team/shop", `{"max_monthly":"5"}`); st != http.StatusForbidden {
		t.Errorf("a member set a quota: %d", st)
	}
	if st, p := callAs(t, s, adaTok, "PUT", "/api/v1/quotas/team/shop", `{"max_monthly":"five"}`); st != http.StatusUnprocessableEntity || !strings.Contains(toJSON(p), "max_monthly") {
		t.Errorf("a bad limit: %d %v, want 422 naming max_monthly", st, p)
	}
	if st, _ := callAs(t, s, adaTok, "PUT", "/api/v1/quotas/team/shop", `{"max_monthly":"4.99"}`); st != http.StatusOK {
		t.Fatalf("set the quota: %d", st)
	}
	launch := `{"template":"priced","name":"big","params":{"size":"large","password":"pw"}}` // $2.50 x 2h
	st, p := callAs(t, s, bobTok, "POST", "/api/v1/environments", launch)
	if st != http.StatusForbidden || p["type"] != "urn:mayfly:problem:quota_exceeded" ||
		!strings.Contains(p["detail"].(string), "team shop's live environments would cost $5.00 over the next 30 days") {
		t.Fatalf("launch past the quota: %d %v", st, p)
	}
	st, ap := callAs(t, s, bobTok, "POST", "/api/v1/approvals", `{"kind":"launch","launch":`+launch+`,"reason":"load test"}`)
	if st != http.StatusCreated || ap["status"] != "pending" || ap["team"] != "shop" || ap["cost"] != "5" {
		t.Fatalf("ask for approval: %d %v", st, ap)
	}
	id := ap["id"].(string)
	if st, _ := callAs(t, s, bobTok, "POST", "/api/v1/approvals/"+id+"/approve", ""); st != http.StatusForbidden {
		t.Errorf("bob approved his own request: %d", st)
	}
	st, res := callAs(t, s, adaTok, "POST", "/api/v1/approvals/"+id+"/approve", "")
	if st != http.StatusOK {
		t.Fatalf("approve: %d %v", st, res)
	}
	env := res["environment"].(map[string]any)
	if env["name"] != "big" || env["owner_id"] != bob.UserID {
		t.Errorf("launched %v, want big of bob", env)
	}
	if st, _ := callAs(t, s, adaTok, "POST", "/api/v1/approvals/"+id+"/approve", ""); st != http.StatusConflict {
		t.Errorf("approved twice: %d, want 409", st)
	}
	// The default's name, escaped in the path as the quotas page does.
	if st, _ := callAs(t, s, adaTok, "PUT", "/api/v1/quotas/user/%2A", `{"max_live":50}`); st != http.StatusOK {
		t.Errorf("set the users' default: %d", st)
	}
	if q, err := s.Service.Quotas(ctx, ada); err != nil || len(q) != 2 || q[1].Name != "*" || q[1].MaxLive == nil || *q[1].MaxLive != 50 {
		t.Errorf("quotas %+v, %v; want shop's and the users' default (*)", q, err)
	}
	if st, _ := callAs(t, s, adaTok, "DELETE", "/api/v1/quotas/user/%2A", ""); st != http.StatusNoContent {
		t.Errorf("delete the users' default: %d", st)
	}
	if _, err := s.Service.Destroy(ctx, ada, env["id"].(string)); err != nil {
		t.Fatal(err)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCostPages: the environment page's cost card, the cost page focused
// on a template, a user and a team, and the API's cost of an environment;
// accrued and projected exact on a clock that stands still.
func TestCostPages(t *testing.T) {
	clock := testclock.New(time.Now().UTC().Truncate(time.Hour))
	cfg := localConfig(t)
	cfg.Clock = clock.Now
	s := runTestMain(t, cfg)
	publishPriced(t, s)
	env := s.launch(map[string]any{"template": "priced", "params": map[string]any{"password": "pw", "size": "large"}, "ttl": "2h"})
	// A team's environment, launched as one of its members.
	tess := envs.Actor{Name: "tess@example.com", Role: envs.RoleMember, Team: "shop", Teams: []string{"shop"}}
	teamEnv, err := s.Service.Launch(context.Background(), tess, envs.LaunchRequest{Template: "priced", Name: "shop-priced", TTL: "4h",
		Params: map[string]any{"password": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(30 * time.Minute)
	text := func(path, sel string) string {
		t.Helper()
		st, body, err := httpGet(s.url + path)
		if err != nil || st != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, st, err)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(doc.Find(sel).First().Text())
	}
	if got := text("/environments/"+env.ID, `[data-testid="cost-hourly"]`); got != "$2.50 an hour" {
		t.Errorf("rate %q, want $2.50 an hour", got)
	}
	if got := text("/cost", `[data-testid="cost-by-template-row"] a`); got != "priced" {
		t.Errorf("by template: %q, want priced", got)
	}
	// Half an hour in: large $2.50 an hour accrued $1.25, $3.75 to go;
	// small $0.50 an hour $0.25 and $1.75.
	for _, c := range []struct{ path, sel, want string }{
		{"/environments/" + env.ID, `[data-testid="cost-accrued"]`, "$1.25"},
		{"/environments/" + env.ID, `[data-testid="cost-projected"]`, "$3.75"},
		{"/environments/" + teamEnv.ID, `[data-testid="cost-accrued"]`, "$0.25"},
		{"/cost?user=local", `[data-testid="cost-focus"] [data-testid="cost-accrued"]`, "$1.25"},
		{"/cost?user=local", `[data-testid="cost-focus"] [data-testid="cost-projected"]`, "$3.75"},
		{"/cost?team=shop", `[data-testid="cost-focus"] [data-testid="cost-accrued"]`, "$0.25"},
		{"/cost?team=shop", `[data-testid="cost-focus"] [data-testid="cost-projected"]`, "$1.75"},
		{"/cost?template=priced", `[data-testid="cost-focus"] [data-testid="cost-accrued"]`, "$1.50"},
		{"/cost?template=priced", `[data-testid="cost-focus"] [data-testid="cost-projected"]`, "$5.50"},
		{"/templates/priced", `[data-testid="template-cost"] [data-testid="cost-accrued"]`, "$1.50"},
		{"/templates/priced", `[data-testid="template-cost"] [data-testid="cost-projected"]`, "$5.50"},
	} {
		if got := text(c.path, c.sel); got != c.want {
			t.Errorf("%s %s: %q, want %s", c.path, c.sel, got, c.want)
		}
	}
	var j struct {
		Cost struct{ Hourly, Accrued, Projected string } `json:"cost"`
	}
	s.api("GET", "/api/v1/environments/"+env.ID, nil).decode(t, &j)
	if j.Cost.Hourly != "2.5" || j.Cost.Accrued != "1.25" || j.Cost.Projected != "3.75" {
		t.Errorf("API cost %+v, want hourly 2.5, accrued 1.25, projected 3.75", j.Cost)
	}
}
