package envs

import (
	"context"
	"errors"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Users, as administrators see and manage them.

// UserSummary is a user as the admin's users page shows them.
type UserSummary struct {
	User
	LastLoginAt time.Time
}

// Users lists everyone who ever signed in (admins only).
func (s *Service) Users(ctx context.Context, actor Actor) ([]UserSummary, error) {
	if err := Authorize(actor, PermAdmin); err != nil {
		return nil, err
	}
	rows, err := s.store.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]UserSummary, len(rows))
	for i := range rows {
		out[i] = UserSummary{User: userFromRow(&rows[i]), LastLoginAt: rows[i].LastLoginAt}
	}
	return out, nil
}

// RevokeUserAccess signs a user out everywhere and revokes their API tokens
// (admins only), e.g. when someone leaves. They can sign in again while the
// identity provider lets them.
func (s *Service) RevokeUserAccess(ctx context.Context, actor Actor, userID string) (err error) {
	defer func() { s.audit(ctx, actor, "user.revoke_access", userID, err) }()
	if err := Authorize(actor, PermAdmin); err != nil {
		return err
	}
	if _, err := s.store.User(ctx, userID); errors.Is(err, storage.ErrNotFound) {
		return Errorf(ENotFound, "user %q does not exist", userID)
	} else if err != nil {
		return err
	}
	_, _, err = s.store.RevokeUserAccess(ctx, userID, s.now())
	return err
}
