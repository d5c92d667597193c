package envs

import (
	"fmt"
	"slices"
	"strings"
)

// Templates are owned by a team: the owner field of the version that
// first published the name. Only the owning team's members and
// administrators publish further versions or deprecate them, so nobody
// takes over a template others launch (and type their secrets into); and
// only an administrator hands a template to another team, by publishing a
// version with another owner. See docs/decisions.md.

// checkOwner refuses an actor who may not publish spec as a version of a
// template owned by team. first says the name is new (team is then
// spec.Owner, as the publish would record it).
func checkOwner(a Actor, team string, spec *Spec, first bool) error {
	if a.IsAdmin() {
		return nil
	}
	if first && !slices.Contains(a.Teams, team) {
		return Errorf(EForbidden, "template %s would be owned by the team %q, which you are not in (your teams: %s); name one of your teams as its owner",
			spec.Name, team, teamList(a.Teams))
	}
	if err := checkMember(a, spec.Name, team, "publish versions of it"); err != nil {
		return err
	}
	if spec.Owner != team {
		return Errorf(EForbidden, "template %s is owned by the team %q; handing it to %q needs an administrator",
			spec.Name, team, spec.Owner)
	}
	return nil
}

// checkMember refuses an actor who is neither in team, the owner of
// template, nor an administrator; what is what they may not do.
func checkMember(a Actor, template, team, what string) error {
	if a.IsAdmin() || (team != "" && slices.Contains(a.Teams, team)) {
		return nil
	}
	if team == "" {
		return Errorf(EForbidden, "template %s is owned by no team; only an administrator can %s", template, what)
	}
	return Errorf(EForbidden, "template %s is owned by the team %q; only its members or an administrator can %s", template, team, what)
}

// ownerRequired is the refusal of a version without an owner from someone
// who is not an administrator: the owner names the team that will own it.
func ownerRequired(a Actor) error {
	return Invalid("template is not valid", FieldError{Field: "owner",
		Message: fmt.Sprintf("is required: the team that owns the template (your teams: %s)", teamList(a.Teams))})
}

func teamList(teams []string) string {
	if len(teams) == 0 {
		return "none"
	}
	return strings.Join(teams, ", ")
}
