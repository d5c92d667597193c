package envs

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a person may do. Roles are ordered: each includes the rights
// of the ones before it.
type Role string

const (
	RoleNone   Role = ""
	RoleViewer Role = "viewer" // read everything (never secret values: nobody reads those)
	RoleMember Role = "member" // launch; extend and destroy own and own teams' environments
	RoleAuthor Role = "author" // publish and deprecate templates
	RoleAdmin  Role = "admin"  // everything: anyone's environments, failures, orphans, audit, tokens
)

var roleRank = map[Role]int{RoleNone: 0, RoleViewer: 1, RoleMember: 2, RoleAuthor: 3, RoleAdmin: 4}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(s))
	if _, ok := roleRank[r]; !ok || r == RoleNone {
		return RoleNone, fmt.Errorf("envs: %q is not a role (viewer, member, author, admin)", s)
	}
	return r, nil
}

// AtLeast reports whether r includes the rights of min.
func (r Role) AtLeast(min Role) bool { return roleRank[r] >= roleRank[min] }

// EffectiveRole is the actor's role; the local user (local mode) and the
// system are administrators.
func (a Actor) EffectiveRole() Role {
	if a.Admin {
		return RoleAdmin
	}
	return a.Role
}

// IsAdmin reports whether the actor may do everything.
func (a Actor) IsAdmin() bool { return a.EffectiveRole() == RoleAdmin }

// Permission is a kind of action, checked before any object is looked at.
type Permission string

const (
	PermRead    Permission = "read"    // catalog, environments, timelines, logs
	PermLaunch  Permission = "launch"  // launch, and act on own/team environments
	PermPublish Permission = "publish" // publish and deprecate templates
	PermAdmin   Permission = "admin"   // failures, orphans, audit log, everyone's tokens
	PermTokens  Permission = "tokens"  // manage one's own API tokens
)

var permRole = map[Permission]Role{
	PermRead: RoleViewer, PermLaunch: RoleMember, PermPublish: RoleAuthor, PermAdmin: RoleAdmin, PermTokens: RoleViewer,
}

// Authorize returns EForbidden unless the actor's role grants p.
func Authorize(a Actor, p Permission) error {
	need, ok := permRole[p]
	if !ok {
		return Errorf(EInternal, "unknown permission %q", p)
	}
	if a.EffectiveRole().AtLeast(need) {
		return nil
	}
	if a.EffectiveRole() == RoleNone {
		return Errorf(EForbidden, "your account has no role in Mayfly; ask an administrator to map one of your groups to a role")
	}
	return Errorf(EForbidden, "this needs the %s role; you are %s", need, a.EffectiveRole())
}

// CanActOn decides whether the actor may extend or destroy an environment:
// admins any, members and authors their own and their teams' ones. Own is
// decided by user id, never by name: two accounts may show the same e-mail
// address. Environments without an owner id (local mode, the system, or
// from before ids were recorded with an ambiguous name) are the admins'.
func CanActOn(a Actor, e *Environment) error {
	if err := Authorize(a, PermLaunch); err != nil {
		return err
	}
	own := e.OwnerID != "" && e.OwnerID == a.UserID
	if a.IsAdmin() || own || (e.Team != "" && slices.Contains(a.Teams, e.Team)) {
		return nil
	}
	return Errorf(EForbidden, "environment %s belongs to %s; only its owner, its team (%s) or an administrator can change it",
		e.Name, e.Owner, valueOr(e.Team, "none"))
}

// CanLaunchTemplate decides whether the actor may launch a template that is
// limited to some teams (an empty list means everyone may).
func CanLaunchTemplate(a Actor, spec Spec) error {
	if err := Authorize(a, PermLaunch); err != nil {
		return err
	}
	if len(spec.Teams) == 0 || a.IsAdmin() {
		return nil
	}
	for _, t := range a.Teams {
		if slices.Contains(spec.Teams, t) {
			return nil
		}
	}
	return Errorf(EForbidden, "template %s can only be launched by the teams %s", spec.Name, strings.Join(spec.Teams, ", "))
}

func valueOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// GroupMapping turns the identity provider's groups into a role and teams.
type GroupMapping struct {
	// Roles maps a group to a role; a person gets the highest role of their
	// groups.
	Roles map[string]Role
	// Teams maps a group to a team name; a person is in every team of their
	// groups, the first one (by group order) being their primary team.
	Teams map[string]string
	// DefaultRole is the role of people none of whose groups has a role
	// (RoleNone: they can sign in but see nothing).
	DefaultRole Role
}

// Map returns the role and teams of someone in the given groups.
func (m GroupMapping) Map(groups []string) (Role, []string) {
	role := m.DefaultRole
	var teams []string
	for _, g := range groups {
		if r, ok := m.Roles[g]; ok && roleRank[r] > roleRank[role] {
			role = r
		}
		if t, ok := m.Teams[g]; ok && !slices.Contains(teams, t) {
			teams = append(teams, t)
		}
	}
	return role, teams
}

// ParseGroupMapping reads "group=value,group=value" lists (as configured).
func ParseGroupMapping(roles, teams, defaultRole string) (GroupMapping, error) {
	m := GroupMapping{Roles: map[string]Role{}, Teams: map[string]string{}}
	for _, pair := range splitList(roles) {
		g, r, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(g) == "" {
			return m, fmt.Errorf("envs: role mapping %q: want group=role", pair)
		}
		role, err := ParseRole(r)
		if err != nil {
			return m, err
		}
		m.Roles[strings.TrimSpace(g)] = role
	}
	for _, pair := range splitList(teams) {
		g, t, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(g) == "" || strings.TrimSpace(t) == "" {
			return m, fmt.Errorf("envs: team mapping %q: want group=team", pair)
		}
		m.Teams[strings.TrimSpace(g)] = strings.TrimSpace(t)
	}
	if defaultRole != "" {
		r, err := ParseRole(defaultRole)
		if err != nil {
			return m, err
		}
		m.DefaultRole = r
	}
	return m, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
