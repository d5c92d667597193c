package envs_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

func TestGroupMapping(t *testing.T) {
	m, err := envs.ParseGroupMapping("ops=admin, devs=member,writers=author,all=viewer", "team-a=alpha,team-b=beta", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		groups []string
		role   envs.Role
		teams  []string
	}{
		{"highest role wins", []string{"all", "devs", "ops"}, envs.RoleAdmin, nil},
		{"teams in group order", []string{"team-b", "devs", "team-a"}, envs.RoleMember, []string{"beta", "alpha"}},
		{"no mapped group", []string{"other"}, envs.RoleNone, nil},
		{"no groups", nil, envs.RoleNone, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role, teams := m.Map(tt.groups)
			if role != tt.role || !slices.Equal(teams, tt.teams) {
				t.Errorf("Map(%v) = %s %v, want %s %v", tt.groups, role, teams, tt.role, tt.teams)
			}
		})
	}
	withDefault, _ := envs.ParseGroupMapping("ops=admin", "", "viewer")
	if role, _ := withDefault.Map([]string{"other"}); role != envs.RoleViewer {
		t.Errorf("default role = %s, want viewer", role)
	}
	for _, bad := range [][3]string{{"ops=root", "", ""}, {"ops", "", ""}, {"", "team-a", ""}, {"", "", "owner"}} {
		if _, err := envs.ParseGroupMapping(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("ParseGroupMapping(%q, %q, %q) accepted", bad[0], bad[1], bad[2])
		}
	}
}

func TestCanActOnAndTemplateTeams(t *testing.T) {
	env := &envs.Environment{Name: "e", Owner: "bob@example.com", OwnerID: "usr-bob", Team: "shop"}
	spec := envs.Spec{Name: "t", Teams: []string{"data"}}
	tests := []struct {
		name        string
		actor       envs.Actor
		act, launch bool
	}{
		{"owner", envs.Actor{Name: "bob@example.com", UserID: "usr-bob", Role: envs.RoleMember}, true, false},
		// Ownership is by user id: another account showing the same name
		// (an unverified e-mail address) is not the owner.
		{"same name, other user", envs.Actor{Name: "bob@example.com", UserID: "usr-mallory", Role: envs.RoleMember}, false, false},
		{"no user id", envs.Actor{Name: "bob@example.com", Role: envs.RoleMember}, false, false},
		{"team mate", envs.Actor{Name: "bea", Role: envs.RoleMember, Teams: []string{"shop"}}, true, false},
		{"other team", envs.Actor{Name: "carol", Role: envs.RoleMember, Teams: []string{"data"}}, false, true},
		{"author elsewhere", envs.Actor{Name: "dave", Role: envs.RoleAuthor}, false, false},
		{"viewer owner", envs.Actor{Name: "bob@example.com", UserID: "usr-bob", Role: envs.RoleViewer, Teams: []string{"shop"}}, false, false},
		{"admin", envs.Actor{Name: "ada", Role: envs.RoleAdmin}, true, true},
		{"local user", envs.Actor{Name: "local", Admin: true}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := envs.CanActOn(tt.actor, env); (err == nil) != tt.act {
				t.Errorf("CanActOn = %v, want allowed %v", err, tt.act)
			} else if err != nil && envs.ErrorCode(err) != envs.EForbidden {
				t.Errorf("CanActOn code = %s, want forbidden", envs.ErrorCode(err))
			}
			if err := envs.CanLaunchTemplate(tt.actor, spec); (err == nil) != tt.launch {
				t.Errorf("CanLaunchTemplate = %v, want allowed %v", err, tt.launch)
			}
		})
	}
}

func TestTemplateTeamsParsedWithoutChangingOldDigests(t *testing.T) {
	src := "name: t1\nversion: 1.0.0\nkind: demo\nprovider: local\nttl: {default: 1h, max: 2h}\nstack: {}\n"
	plain, err := envs.ParseSpec([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	limited, err := envs.ParseSpec([]byte(src + "teams: [data, shop]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(limited.Teams, []string{"data", "shop"}) {
		t.Errorf("teams = %v", limited.Teams)
	}
	if plain.Digest() == limited.Digest() {
		t.Error("limiting a template to teams does not change its digest")
	}
	// A spec without teams marshals (and so digests) as before the field
	// existed: versions published earlier keep their digests.
	b, _ := json.Marshal(plain)
	if strings.Contains(string(b), "teams") {
		t.Errorf("a spec without teams marshals with them: %s", b)
	}
}
