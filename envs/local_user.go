package envs

import (
	"context"
	"fmt"
	"strings"

	"github.com/mayflyhq/mayfly/storage"
)

// The local administrator's user row: in local mode (no sign-in) everyone
// on this machine is this one user, who can hold API tokens (to try the
// command line). No identity provider has the issuer "local" (issuers are
// URLs), so no signed-in person is ever this user.
const (
	LocalIssuer  = "local"
	LocalSubject = "admin"
)

// LocalAdmin records the local administrator's user row (once; later
// starts find it) and returns its actor: the administrator, with the row's
// user id, so that tokens and idempotency keys have an owner. Call it at
// start in local mode only; the caller sets Address per request.
func (s *Service) LocalAdmin(ctx context.Context) (Actor, error) {
	now := s.now()
	u := &storage.User{ID: "usr-" + strings.ToLower(randomID(10)), Issuer: LocalIssuer, Subject: LocalSubject, GroupsJSON: "[]",
		Role: string(RoleAdmin), CreatedAt: now, LastLoginAt: now, ConfirmedAt: &now, CheckAt: &now, CheckResult: CheckOK}
	if err := s.store.UpsertUser(ctx, u); err != nil {
		return Actor{}, fmt.Errorf("envs: local administrator: %w", err)
	}
	a := actorOf(u, "", "local")
	a.Admin = true
	return a, nil
}
