package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
	"github.com/mayflyhq/mayfly/storage"
)

func TestAWSOrphanSweep(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		ghostDelete bool // the Mayfly-tagged stack of no environment
	}{
		{"deletes orphans past the grace", []string{"--aws-orphan-grace", "0s"}, true},
		{"dry run only reports", []string{"--aws-orphan-grace", "0s", "--aws-orphan-dry-run"}, false},
		{"keeps orphans within the grace", []string{"--aws-orphan-grace", "1h"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fake := startAWSMain(t, append([]string{"--aws-orphan-sweep-interval", "200ms"}, tt.args...)...)
			ctx := context.Background()
			instance, err := s.DB.Setting(ctx, "instance_id")
			if err != nil {
				t.Fatal(err)
			}
			live := s.launch(map[string]any{"template": "aws-topic", "name": "live", "params": map[string]any{"customer": "a"}})
			s.waitStatus(live.ID, "ready", 20*time.Second)
			ghost := fake.AddForeignStack("mayfly-ghost", map[string]string{mfaws.TagInstance: instance, mfaws.TagEnvironment: "env-ghost"})
			foreign := fake.AddForeignStack("billing-prod", map[string]string{"team": "billing"})
			other := fake.AddForeignStack("mayfly-elsewhere", map[string]string{mfaws.TagInstance: "mfi-other", mfaws.TagEnvironment: "env-x"})

			// The orphan is reported (admin view) whatever the policy.
			orphans, err := s.Service.Orphans(ctx)
			if err != nil || len(orphans) != 1 || orphans[0].Handle != ghost {
				t.Fatalf("orphans: %+v, %v; want only %s", orphans, err, ghost)
			}
			// Wait for the deletion, or for a few sweeps (each lists the
			// stacks; nothing else does once the environment is ready).
			base := fake.Calls("DescribeStacks")
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) && statusOf(fake.Stacks(), ghost) != "DELETE_COMPLETE" && fake.Calls("DescribeStacks") < base+3 {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(5 * fake.Step) // a deletion started by the last sweep completes
			if got := statusOf(fake.Stacks(), ghost) == "DELETE_COMPLETE"; got != tt.ghostDelete {
				t.Errorf("orphan deleted: got %v, want %v", got, tt.ghostDelete)
			}
			for _, id := range []string{foreign, other} {
				if st := statusOf(fake.Stacks(), id); st != "CREATE_COMPLETE" {
					t.Errorf("a stack that is not this instance's was touched: %s is %s", id, st)
				}
			}
			if st := s.env(live.ID).Status; st != "ready" {
				t.Errorf("live environment: %s", st)
			}
		})
	}
}

func statusOf(stacks []awstest.Stack, id string) string {
	for _, s := range stacks {
		if s.ID == id {
			return s.Status
		}
	}
	return ""
}

// awsTemplate is a one-topic aws template version with a region and role.
func awsTemplate(name, region, role string) string {
	return `name: ` + name + `
version: 1.0.0
kind: demo
description: A topic elsewhere.
owner: tests
provider: aws
ttl: {default: 1h, max: 2h}
stack:
  region: "` + region + `"
  role_arn: "` + role + `"
  template: |
    Resources:
      Topic: {Type: AWS::SNS::Topic}
`
}

func TestAWSOrphanSweepAcrossRegionsAndRoles(t *testing.T) {
	const (
		roleAccount = "210987654321"
		role        = "arn:aws:iam::" + roleAccount + ":role/mayfly-drills"
	)
	s, fake := startAWSMain(t, "--aws-orphan-sweep-interval", "200ms", "--aws-orphan-grace", "0s")
	fake.Deny("sa-east-1") // a region the account's policy forbids
	ctx := context.Background()
	instance, err := s.DB.Setting(ctx, "instance_id")
	if err != nil {
		t.Fatal(err)
	}
	for _, tpl := range []struct{ name, region, role string }{
		{"east", "us-east-2", ""}, {"drills", "", role}, {"forbidden", "sa-east-1", ""},
	} {
		if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(awsTemplate(tpl.name, tpl.region, tpl.role))); r.Status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", tpl.name, r.Status, r.Body)
		}
	}
	// A deprecated version still has stacks out there.
	if r := s.api("POST", "/api/v1/templates/drills/versions/1.0.0/deprecate", nil); r.Status != http.StatusOK {
		t.Fatalf("deprecate: %d %s", r.Status, r.Body)
	}
	ours := func(env string) map[string]string {
		return map[string]string{mfaws.TagInstance: instance, mfaws.TagEnvironment: env}
	}
	ghostEast := fake.AddForeignStackIn(fake.Account, "us-east-2", "mayfly-ghost-east", ours("env-ghost1"))
	ghostRole := fake.AddForeignStackIn(roleAccount, fake.Region, "mayfly-ghost-drill", ours("env-ghost2"))
	keep := []string{
		fake.AddForeignStackIn(fake.Account, "us-east-2", "billing", map[string]string{"team": "billing"}),
		fake.AddForeignStackIn(roleAccount, fake.Region, "mayfly-elsewhere", map[string]string{mfaws.TagInstance: "mfi-other", mfaws.TagEnvironment: "env-x"}),
		fake.AddForeignStackIn(fake.Account, "eu-north-1", "mayfly-unswept", ours("env-ghost3")), // no template or environment goes there
	}

	// The admin view lists the orphans of every scope it could, and says
	// which scope it could not.
	orphans, err := s.Service.Orphans(ctx)
	var handles []string
	for _, o := range orphans {
		handles = append(handles, o.Handle)
	}
	if want := []string{ghostEast, ghostRole + "|" + role}; !sameSet(handles, want) {
		t.Errorf("orphans: got %q, want %q", handles, want)
	}
	if err == nil || !strings.Contains(err.Error(), "sa-east-1") {
		t.Errorf("orphans error %v; want it to name sa-east-1", err)
	}
	status, body, err := httpGet(s.url + "/admin")
	if err != nil || status != http.StatusOK {
		t.Fatalf("admin: %d %v", status, err)
	}
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
	if got := doc.Find(`[data-testid="orphans-error"]`).Text(); !strings.Contains(got, "sa-east-1") {
		t.Errorf("admin page orphans error %q; want sa-east-1 named", got)
	}
	if n := doc.Find(`[data-testid^="orphan-arn:"]`).Length(); n != 2 {
		t.Errorf("admin page lists %d orphans, want 2", n)
	}

	// The failing region does not stop the sweep elsewhere.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (statusOf(fake.Stacks(), ghostEast) != "DELETE_COMPLETE" || statusOf(fake.Stacks(), ghostRole) != "DELETE_COMPLETE") {
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range []string{ghostEast, ghostRole} {
		if st := statusOf(fake.Stacks(), id); st != "DELETE_COMPLETE" {
			t.Errorf("orphan %s: %s, want DELETE_COMPLETE", id, st)
		}
	}
	for _, id := range keep {
		if st := statusOf(fake.Stacks(), id); st != "CREATE_COMPLETE" {
			t.Errorf("%s was touched: %s", id, st)
		}
	}
	if !slices.Contains(fake.AssumedRoles(), role) {
		t.Errorf("assumed roles %q, want %s", fake.AssumedRoles(), role)
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// The orphan detection on the aws wire fake judges a replaced
// environment's CloudFormation stacks by its stacks table, as the stacks
// are listed and tagged for real: the stack in service and a standby
// within its rollback grace are not orphans, through a replace and a
// rollback; a stack tagged with the environment that it does not know
// is, and so is a standby past its grace that its destroy has not
// removed yet; once the environment is destroyed its stacks are gone.
func TestAWSOrphansJudgedByStacks(t *testing.T) {
	s, fake := startAWSMain(t, "--aws-orphan-grace", "1h") // the sweep reports, never deletes, here
	ctx := context.Background()
	instance, err := s.DB.Setting(ctx, "instance_id")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "aws-catalog", "topic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(next)); r.Status != http.StatusCreated {
		t.Fatalf("publish 1.1.0: %d %s", r.Status, r.Body)
	}
	e := s.launch(map[string]any{"template": "aws-topic", "version": "1.0.0", "name": "judged", "params": map[string]any{"customer": "acme"}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"version": "1.1.0"}); r.Status != http.StatusAccepted {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	second := s.waitReplace(e.ID, "switched").StackID
	stackOf := func(tag string) string { // the fake's id of the environment's stack with this stack tag
		t.Helper()
		for _, st := range fake.Stacks() {
			if st.Tags[mfaws.TagEnvironment] == e.ID && st.Tags[mfaws.TagStack] == tag && st.Status != "DELETE_COMPLETE" {
				return st.ID
			}
		}
		t.Fatalf("no live stack tagged %s in %+v", tag, fake.Stacks())
		return ""
	}
	first, secondStack := stackOf(e.ID), stackOf(second)
	orphans := func(when string, want ...string) map[string]string {
		t.Helper()
		found, err := s.Service.Orphans(ctx)
		if err != nil {
			t.Fatalf("%s: orphans: %v", when, err)
		}
		got := map[string]string{}
		var handles []string
		for _, o := range found {
			got[o.Handle] = o.Reason
			handles = append(handles, o.Handle)
		}
		slices.Sort(handles)
		slices.Sort(want)
		if !slices.Equal(handles, want) {
			t.Errorf("%s: orphans %v, want %v (first stack %s, second %s)", when, got, want, first, secondStack)
		}
		return got
	}
	orphans("after the replace (one in service, the first on standby)")

	stranger := fake.AddForeignStack("mayfly-judged-stranger", map[string]string{mfaws.TagInstance: instance,
		mfaws.TagEnvironment: e.ID, mfaws.TagStack: "stk-nobody"})
	orphans("with a stack the environment does not know", stranger)

	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/rollback", nil); r.Status != http.StatusAccepted {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	if back := s.replaced(e.ID); back.StackID != e.ID {
		t.Fatalf("after the rollback stack %s is in service, want the first", back.StackID)
	}
	orphans("after the rollback (the first in service, the second on standby)", stranger)

	// The second stack's grace runs out before its destroy job has come
	// round to it (it is scheduled for the grace's end, an hour away).
	if err := s.DB.UpdateStack(ctx, second, storage.StackUpdate{StandbyUntil: storage.At(time.Now().Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	got := orphans("with the standby past its grace", stranger, secondStack)
	if !strings.Contains(got[secondStack], "no longer uses it") {
		t.Errorf("the standby past its grace: reason %q", got[secondStack])
	}

	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d", r.Status)
	}
	s.waitStatus(e.ID, "destroyed", 30*time.Second)
	got = orphans("after the destroy", stranger)
	if !strings.Contains(got[stranger], "is destroyed") {
		t.Errorf("the stranger once the environment is destroyed: reason %q", got[stranger])
	}
}
