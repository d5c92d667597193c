package aws_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
)

func TestStackInfosAcrossRegionsAndRoles(t *testing.T) {
	const (
		drillRole   = "arn:aws:iam::210987654321:role/mayfly-drills"
		sameAccount = "arn:aws:iam::123456789012:role/mayfly-same" // a role in the default account
		deniedRole  = "arn:aws:iam::333333333333:role/mayfly-untrusted"
	)
	p, srv := newProvider(t)
	srv.Deny("sa-east-1")
	srv.Deny(deniedRole)
	ctx := context.Background()
	body := func(region, role string) json.RawMessage {
		return stackBody(t, mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": "x"}, Region: region, RoleARN: role})
	}
	launch := func(id string, stack json.RawMessage) string {
		t.Helper()
		req := request(t, stack)
		req.EnvironmentID, req.Name = id, "n"+strings.TrimPrefix(id, "env-")
		h, err := p.Provision(ctx, req)
		if err != nil {
			t.Fatalf("Provision %s: %v", id, err)
		}
		return h
	}
	home := launch("env-home", body("", ""))
	east := launch("env-east", body("us-east-2", ""))
	drill := launch("env-drill", body("", drillRole))
	// A stack in a region no template names any more (the default region
	// was changed): only its environment's handle tells where it is.
	old := srv.AddForeignStackIn("123456789012", "eu-central-1", "mayfly-old", map[string]string{mfaws.TagInstance: instance, mfaws.TagEnvironment: "env-old"})
	// Never listed, wherever they are.
	srv.AddForeignStackIn("123456789012", "us-east-2", "billing", map[string]string{"team": "billing"})
	srv.AddForeignStackIn("210987654321", srv.Region, "other-mayfly", map[string]string{mfaws.TagInstance: "mfi-other", mfaws.TagEnvironment: "env-z"})

	tests := []struct {
		name      string
		where     envs.StackScopes
		want      []string
		wantErrs  []string // each failed scope is named
		wantLists int      // DescribeStacks listings: one per distinct scope
	}{
		{"the default scope only", envs.StackScopes{}, []string{home}, nil, 1},
		{"every template's region and role, each once",
			envs.StackScopes{Stacks: []json.RawMessage{body("", ""), body("us-east-2", ""), body("us-east-2", ""), body("", drillRole), body("", drillRole)}},
			[]string{home, east, drill}, nil, 3},
		{"regions and roles recorded on environments",
			envs.StackScopes{Handles: []string{east, drill, old, "not-a-handle"}},
			[]string{home, east, drill, old}, nil, 4},
		{"a stack reachable from two scopes is reported once",
			envs.StackScopes{Stacks: []json.RawMessage{body(srv.Region, sameAccount)}},
			[]string{home}, nil, 2},
		{"a denied region and an unassumable role do not stop the others",
			envs.StackScopes{Stacks: []json.RawMessage{body("sa-east-1", ""), body("", deniedRole), body("us-east-2", "")}, Handles: []string{drill}},
			[]string{home, east, drill}, []string{"sa-east-1", deniedRole, "AccessDenied"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Calls("DescribeStacks")
			infos, err := p.StackInfos(ctx, tt.where)
			var got []string
			for _, in := range infos {
				got = append(got, in.Handle)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("stacks:\n got %q\nwant %q", got, want)
			}
			switch {
			case len(tt.wantErrs) == 0 && err != nil:
				t.Errorf("error: %v", err)
			case len(tt.wantErrs) > 0 && err == nil:
				t.Errorf("no error; want one naming %q", tt.wantErrs)
			}
			for _, w := range tt.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if got := srv.Calls("DescribeStacks") - before; got != tt.wantLists {
				t.Errorf("DescribeStacks calls: got %d, want %d", got, tt.wantLists)
			}
		})
	}
}
