package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mayflyhq/mayfly/envs"
)

// pricedLocal costs $0.50 an hour, $2.50 when large; up to 8h.
const pricedLocal = `name: priced
version: 1.0.0
kind: demo
description: A template with a cost estimate.
owner: tests
provider: local
ttl: {default: 2h, max: 8h}
cost: {hourly: 0.50, by_param: {size: {small: 0, large: 2}}}
parameters:
  - {name: size, type: enum, options: [small, large], default: small}
  - {name: password, type: string, secret: true, required: true}
stack:
  services:
    - name: web
      command: ["sleep", "300"]
`

func publishPriced(t *testing.T, s *testServer) {
	t.Helper()
	if _, _, err := s.Service.Publish(context.Background(), envs.System, []byte(pricedLocal)); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserLaunchCostEstimate: the launch form says what the launch
// costs until expiry, and says it again as the TTL and the priced size
// change.
func TestBrowserLaunchCostEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	publishPriced(t, s)
	ctx := newBrowser(t)
	cost := chromedp.Text(chromedp.CSS(`[data-testid="launch-cost-text"]`))
	do(t, ctx, "open the launch form",
		chromedp.Navigate(s.url+"/templates/priced/launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-cost"]`)),
	)
	if got := value(t, ctx, "estimate", cost); got != "≈ $1.00 until expiry" {
		t.Errorf("estimate %q, want ≈ $1.00 until expiry (2h at $0.50)", got)
	}
	do(t, ctx, "a longer TTL", chromedp.SetValue(chromedp.CSS(`#launch-ttl`), "6h"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#launch-ttl').dispatchEvent(new Event('change', {bubbles: true}))`))
	waitFor(t, ctx, "the estimate for 6h", cost, statusIs("≈ $3.00 until expiry"))
	do(t, ctx, "a large size", chromedp.SetValue(chromedp.CSS(`select[name="params.size"]`), "large"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('select[name="params.size"]').dispatchEvent(new Event('change', {bubbles: true}))`))
	waitFor(t, ctx, "the estimate for large", cost, statusIs("≈ $15.00 until expiry"))
	if d := value(t, ctx, "detail", chromedp.Text(chromedp.CSS(`[data-testid="launch-cost-detail"]`))); d != "$2.50 an hour for 6h" {
		t.Errorf("detail %q, want $2.50 an hour for 6h", d)
	}
	screenshot(t, ctx, "launch-cost-estimate")
}

// TestBrowserQuotaRefusalAndApproval: an admin sets a member's quota on
// the quotas page (a bad limit is named); the member over it is told
// which limit and how to free room, asks for an approval from the form,
// cannot approve it themselves, and an admin's approval launches it.
func TestBrowserQuotaRefusalAndApproval(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startSignIn(t, startOP(t))
	publishPriced(t, s)
	ctx0 := context.Background()
	bob, bobCookie, _ := mintSession(t, s, "bob", "developers", "team-shop")
	ada, adaCookie, _ := mintSession(t, s, "ada", "mayfly-admins")
	ctx := newBrowser(t)
	useSession(t, ctx, s, adaCookie)
	do(t, ctx, "set bob's quota on the quotas page",
		chromedp.Navigate(s.url+"/admin/quotas"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="quotas-empty"]`)),
		chromedp.SendKeys(chromedp.CSS(`#quota-name`), bob.Name),
		chromedp.SendKeys(chromedp.CSS(`#quota-max_live`), "x"),
		chromedp.Click(chromedp.CSS(`[data-testid="quota-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="quota-error-max_live"]`)),
		chromedp.SetValue(chromedp.CSS(`#quota-max_live`), "1"),
		chromedp.Click(chromedp.CSS(`[data-testid="quota-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="quota-user-`+bob.Name+`"]`)),
	)
	if got := value(t, ctx, "limit", chromedp.Text(chromedp.CSS(`[data-testid="quota-max-live"]`))); got != "1" {
		t.Errorf("the quotas page shows a limit of %q, want 1", got)
	}
	if _, err := s.Service.Launch(ctx0, bob, envs.LaunchRequest{Template: "priced", Params: map[string]any{"password": "pw"}}); err != nil {
		t.Fatal(err)
	}

	useSession(t, ctx, s, bobCookie)
	do(t, ctx, "launch past the quota",
		chromedp.Navigate(s.url+"/templates/priced/launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="name"]`), "bob-second"),
		chromedp.SendKeys(chromedp.CSS(`input[name="params.password"]`), "s3cret"),
		chromedp.Click(chromedp.CSS(`[data-testid="launch-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="quota-refusal"]`)),
	)
	want := "user " + bob.Name + " has 1 of 1 live environments; destroy one or ask an admin to approve"
	if got := value(t, ctx, "refusal", chromedp.Text(chromedp.CSS(`[data-testid="quota-limit"]`))); got != want {
		t.Errorf("refusal %q, want %q", got, want)
	}
	screenshot(t, ctx, "quota-refusal")
	do(t, ctx, "ask for an approval",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="quota-reason"]`), "demo for Acme"),
		chromedp.SendKeys(chromedp.CSS(`input[name="params.password"]`), "s3cret"),
		chromedp.Click(chromedp.CSS(`[data-testid="quota-ask"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"]`)),
	)
	if n := value(t, ctx, "decide buttons", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="approval-approve"]').length`)); n != 0 {
		t.Errorf("the requester is offered %d Approve buttons", n)
	}
	list, err := s.Service.Approvals(ctx0, ada)
	if err != nil || len(list) != 1 || list[0].Status != envs.ApprovalPending || list[0].Reason != "demo for Acme" {
		t.Fatalf("approvals %+v, %v; want bob's one, pending", list, err)
	}
	if _, _, err := s.Service.Approve(ctx0, bob, list[0].ID); envs.ErrorCode(err) != envs.EForbidden {
		t.Errorf("bob approved his own request: %v", err)
	}

	useSession(t, ctx, s, adaCookie)
	do(t, ctx, "approve as an admin",
		chromedp.Navigate(s.url+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="approval-`+list[0].ID+`"] [data-testid="approval-approve"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="approval-approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="approval-result"]`)),
	)
	if st := value(t, ctx, "status", chromedp.Text(chromedp.CSS(`[data-testid="approval-status"]`))); st != "approved" {
		t.Errorf("status %q, want approved", st)
	}
	screenshot(t, ctx, "quota-approved")
	envID := strings.TrimSpace(value(t, ctx, "launched", chromedp.Text(chromedp.CSS(`[data-testid="approval-result"]`))))
	env, err := s.Service.Environment(ctx0, envID)
	if err != nil {
		t.Fatal(err)
	}
	if env.Name != "bob-second" || env.OwnerID != bob.UserID {
		t.Errorf("launched %s of %s, want bob-second of bob (%s)", env.Name, env.OwnerID, bob.UserID)
	}
	if vals, err := s.Service.TypedParams(ctx0, env); err != nil || vals[0]["size"] != "small" {
		t.Errorf("params %v, %v", vals, err)
	}
}

// TestBrowserSavingsPage: an environment the reaper destroyed shows on
// the savings page, in the totals and as a bar of today's chart.
func TestBrowserSavingsPage(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	publishPriced(t, s)
	env := s.launch(map[string]any{"template": "priced", "params": map[string]any{"password": "pw", "size": "large"}, "ttl": "1s"})
	s.waitStatus(env.ID, "destroyed", 30*time.Second)
	got, err := s.Service.Environment(context.Background(), env.ID)
	if err != nil || got.DestroyCause != envs.CauseTTL {
		t.Fatalf("destroyed with cause %q (%v), want ttl", got.DestroyCause, err)
	}
	ctx := newBrowser(t)
	do(t, ctx, "open the savings page",
		chromedp.Navigate(s.url+"/savings?days=7"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="savings-svg"]`)),
	)
	// $2.50 an hour from about a second after launch to 8h after it.
	if sum := value(t, ctx, "sum", chromedp.Text(chromedp.CSS(`[data-testid="savings-sum"]`))); sum != "$20.00" && sum != "$19.99" {
		t.Errorf("saved %q, want about $20.00", sum)
	}
	bars := value(t, ctx, "bars", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="savings-bar"]')].map(g => g.dataset.ttl + '/' + g.querySelectorAll('rect').length)`))
	if len(bars) != 7 {
		t.Fatalf("%d bars, want 7", len(bars))
	}
	last := bars[6]
	if !strings.HasSuffix(last, "/1") || strings.HasPrefix(last, "0/") {
		t.Errorf("today's bar %q, want a TTL amount drawn as one rectangle", last)
	}
	for _, b := range bars[:6] {
		if b != "0/0" {
			t.Errorf("an earlier day has %q, want nothing", b)
		}
	}
	screenshot(t, ctx, "savings")
}
