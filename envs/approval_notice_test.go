package envs_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
	"github.com/mayflyhq/mayfly/storage"
)

// queuedJobArgs are the JSON args of the jobs of kind in the job queue,
// oldest first.
func queuedJobArgs(t *testing.T, db *storage.DB, kind string) [][]byte {
	t.Helper()
	// River keeps args as SQLite's binary JSONB, or PostgreSQL's jsonb.
	q := `SELECT json(args) FROM river_job WHERE kind = ? ORDER BY id`
	if db.Dialect() == "postgres" {
		q = `SELECT args::text FROM river_job WHERE kind = $1 ORDER BY id`
	}
	rows, err := db.SQL().Query(q, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// queuedDeliveries are the channels the fan-out queued a delivery of ev
// to, from the job queue itself.
func queuedDeliveries(t *testing.T, db *storage.DB, ev envs.NoticeEvent) []string {
	t.Helper()
	var out []string
	for _, raw := range queuedJobArgs(t, db, "notice_delivery") {
		var a struct {
			ChannelID string `json:"channel_id"`
			Notice    struct{ Event string }
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		if a.Notice.Event == string(ev) {
			out = append(out, a.ChannelID)
		}
	}
	slices.Sort(out)
	return out
}

// TestApprovalRequestsReachTheirApprovers: a request past a user's limit
// goes to the administrators' own channels, one past a team's limit also
// to the team's admins'; never to the requester's, nor to a team channel
// (the requester's too), nor to a member's; each with the absolute link
// to the approvals page.
func TestApprovalRequestsReachTheirApprovers(t *testing.T) {
	ctx := context.Background()
	svc, db := notifyService(t, newFaultyProvider(nil), envs.Config{})
	if _, _, err := svc.Publish(ctx, envs.System, []byte(pricedTemplate)); err != nil {
		t.Fatal(err)
	}
	pete := envs.Actor{Name: "pete", UserID: "usr-pete", Role: envs.RoleAuthor, Team: "pay", Teams: []string{"pay"}}
	for _, a := range []envs.Actor{ada, ann, ben, paula, pete} {
		u := &storage.User{ID: a.UserID, Issuer: "https://idp.example", Subject: a.Name, Email: a.Name + "@example.com",
			Role: string(a.Role), Teams: a.Team, GroupsJSON: "[]", CreatedAt: time.Now(), LastLoginAt: time.Now()}
		if err := db.UpsertUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	secret := notify.NewSecret()
	hears := []string{string(envs.NoticeApprovalRequested)}
	rcv := map[string]*notifytest.Receiver{}
	chans := map[string]string{}
	for _, a := range []envs.Actor{ada, ann, ben, paula, pete} {
		rcv[a.Name] = notifytest.StartReceiver(t, secret)
		chans[a.Name] = addChannel(t, svc, a, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: rcv[a.Name].URL, Secret: secret, Events: hears}).ID
	}
	rcv["team"] = notifytest.StartReceiver(t, secret)
	chans["team"] = addChannel(t, svc, paula, envs.ChannelRequest{Scope: envs.ScopeTeam, Team: "pay", Kind: envs.ChannelWebhook,
		URL: rcv["team"].URL, Secret: secret, Events: hears}).ID
	// Set by ada, so the request is not ada's own either way.
	if err := svc.SetQuota(ctx, ada, envs.Quota{Scope: envs.QuotaUser, Name: "ann", MaxLive: intp(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := launchPriced(svc, ann, "small", ""); err != nil {
		t.Fatal(err)
	}
	request := func(a envs.Actor, name string) *envs.Approval {
		t.Helper()
		launch := envs.LaunchRequest{Template: "priced", Name: name, Params: map[string]any{"size": "small"}}
		ap, err := svc.RequestApproval(ctx, a, envs.ApprovalRequest{Kind: envs.ApprovalLaunch, Launch: launch, Reason: "demo for Acme"})
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}
	check := func(d notifytest.Delivery, ap *envs.Approval) {
		t.Helper()
		if d.Payload["event"] != string(envs.NoticeApprovalRequested) || d.Payload["text"] == nil {
			t.Errorf("payload %s", d.Body)
		}
		links, _ := d.Payload["links"].([]any)
		if len(links) != 1 || links[0].(map[string]any)["url"] != "https://mayfly.example/approvals" {
			t.Errorf("links %v, want the approvals page's absolute URL", links)
		}
		if txt, _ := d.Payload["text"].(string); !strings.Contains(txt, ap.Requester+" asks to launch priced") || !strings.Contains(txt, "demo for Acme") {
			t.Errorf("text %q does not name the requester %s", txt, ap.Requester)
		}
	}

	t.Run("a user's limit: the administrators", func(t *testing.T) {
		ap := request(ann, "ann-two")
		check(rcv["ada"].Wait(t, 1, 10*time.Second)[0], ap)
		// The fan-out queued every delivery in one transaction, before the
		// one just received: these are all.
		want := []string{chans["ada"]}
		if got := queuedDeliveries(t, db, envs.NoticeApprovalRequested); !slices.Equal(got, want) {
			t.Errorf("deliveries queued to %v, want only ada's %v (channels %v)", got, want, chans)
		}
	})
	t.Run("a team's limit: the administrators and the team's other admins", func(t *testing.T) {
		if err := svc.SetQuota(ctx, ada, envs.Quota{Scope: envs.QuotaTeam, Name: "pay", MaxLive: intp(1)}); err != nil {
			t.Fatal(err)
		}
		ap := request(paula, "paula-one")
		if ap.Team != "pay" {
			t.Fatalf("request %+v, want on team pay's limit", ap)
		}
		check(rcv["ada"].Wait(t, 2, 10*time.Second)[1], ap)
		check(rcv["pete"].Wait(t, 1, 10*time.Second)[0], ap)
		want := []string{chans["ada"], chans["ada"], chans["pete"]}
		slices.Sort(want)
		if got := queuedDeliveries(t, db, envs.NoticeApprovalRequested); !slices.Equal(got, want) {
			t.Errorf("deliveries queued to %v, want ada's twice and pete's %v (channels %v)", got, want, chans)
		}
	})
	for _, name := range []string{"ann", "ben", "paula", "team"} {
		if _, refused := rcv[name].Requests(); len(rcv[name].Accepted()) != 0 || refused != 0 {
			t.Errorf("%s's channel heard an approval request", name)
		}
	}
}

// TestRequestersHearTheDecision: an approval and a denial each reach the
// requester's own channel that hears approval.decided, with the decider,
// the reason and the link to the approvals page.
func TestRequestersHearTheDecision(t *testing.T) {
	ctx := context.Background()
	svc, db := notifyService(t, newFaultyProvider(nil), envs.Config{})
	if _, _, err := svc.Publish(ctx, envs.System, []byte(pricedTemplate)); err != nil {
		t.Fatal(err)
	}
	for _, a := range []envs.Actor{ada, ann} {
		u := &storage.User{ID: a.UserID, Issuer: "https://idp.example", Subject: a.Name, Email: a.Name + "@example.com",
			Role: string(a.Role), Teams: a.Team, GroupsJSON: "[]", CreatedAt: time.Now(), LastLoginAt: time.Now()}
		if err := db.UpsertUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	secret := notify.NewSecret()
	rcv := notifytest.StartReceiver(t, secret)
	addChannel(t, svc, ann, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: rcv.URL, Secret: secret,
		Events: []string{string(envs.NoticeApprovalDecided)}})
	if err := svc.SetQuota(ctx, ada, envs.Quota{Scope: envs.QuotaUser, Name: "ann", MaxLive: intp(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := launchPriced(svc, ann, "small", ""); err != nil {
		t.Fatal(err)
	}
	request := func(name string) *envs.Approval {
		t.Helper()
		launch := envs.LaunchRequest{Template: "priced", Name: name, Params: map[string]any{"size": "small", "password": "pw"}}
		ap, err := svc.RequestApproval(ctx, ann, envs.ApprovalRequest{Kind: envs.ApprovalLaunch, Launch: launch})
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}
	first, second := request("ann-two"), request("ann-three")
	if _, _, err := svc.Approve(ctx, ada, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deny(ctx, ada, second.ID, "no budget left this month"); err != nil {
		t.Fatal(err)
	}
	got := rcv.Wait(t, 2, 10*time.Second)
	texts := map[string]string{}
	for _, d := range got {
		if d.Payload["event"] != string(envs.NoticeApprovalDecided) {
			t.Errorf("event %v, want approval.decided", d.Payload["event"])
		}
		links, _ := d.Payload["links"].([]any)
		if len(links) != 1 || links[0].(map[string]any)["url"] != "https://mayfly.example/approvals" {
			t.Errorf("links %v, want the approvals page", links)
		}
		txt, _ := d.Payload["text"].(string)
		for _, id := range []string{first.ID, second.ID} {
			if strings.Contains(txt, id) {
				texts[id] = txt
			}
		}
	}
	if txt := texts[first.ID]; !strings.Contains(txt, "ada approved") {
		t.Errorf("approval notice %q, want it to say ada approved", txt)
	}
	if txt := texts[second.ID]; !strings.Contains(txt, "ada denied") || !strings.Contains(txt, "no budget left this month") {
		t.Errorf("denial notice %q, want ada denied and the reason", txt)
	}
}
