package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// User is someone who signed in through an identity provider, known by
// (Issuer, Subject).
type User struct {
	ID      string `gorm:"primaryKey"`
	Issuer  string // "" for rows from before issuers were recorded
	Subject string
	Email   string
	// EmailUnverified: the provider said email_verified: false.
	EmailUnverified bool
	Name            string
	GroupsJSON      string `gorm:"column:groups_json"`
	Role            string
	Teams           string // comma-separated
	CreatedAt       time.Time
	LastLoginAt     time.Time

	// Membership re-checks (see envs/membership.go). IdpGrant is the
	// sealed refresh and access tokens of the last sign-in; ConfirmedAt
	// when the provider last confirmed role and teams; CheckAt, CheckResult
	// and CheckDetail the last attempt; CheckClaim and CheckClaimUntil the
	// replica checking right now.
	IdpGrant        []byte
	ConfirmedAt     *time.Time
	CheckAt         *time.Time
	CheckResult     string
	CheckDetail     string
	CheckClaim      string
	CheckClaimUntil *time.Time
}

// UpsertUser creates the user or refreshes what the identity provider says
// about them at a sign-in, keyed by (issuer, subject). A row from before
// issuers were recorded (an empty issuer) with the same subject is adopted
// by the first sign-in from an issuer. A sign-in confirms role and teams,
// so it also records the new grant and ends any re-check in flight.
func (q Queries) UpsertUser(ctx context.Context, u *User) error {
	if u.Issuer == "" {
		return fmt.Errorf("storage: save user %s: no issuer", u.Subject)
	}
	err := q.ctx(ctx).Model(&User{}).Where("issuer = '' AND subject = ?", u.Subject).Update("issuer", u.Issuer).Error
	if err != nil {
		return fmt.Errorf("storage: adopt user %s: %w", u.Subject, err)
	}
	err = q.ctx(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "issuer"}, {Name: "subject"}},
		DoUpdates: clause.AssignmentColumns([]string{"email", "email_unverified", "name", "groups_json", "role", "teams", "last_login_at",
			"idp_grant", "confirmed_at", "check_at", "check_result", "check_detail", "check_claim", "check_claim_until"}),
	}).Create(u).Error
	if err != nil {
		return fmt.Errorf("storage: save user %s: %w", u.Subject, err)
	}
	// Read back into a fresh value: on conflict the row keeps its first id,
	// and Take on u would filter by the id we generated.
	var saved User
	if err := q.ctx(ctx).Where("issuer = ? AND subject = ?", u.Issuer, u.Subject).Take(&saved).Error; err != nil {
		return fmt.Errorf("storage: load user %s: %w", u.Subject, err)
	}
	*u = saved
	return nil
}

// ClaimUserCheck makes this caller the one re-checking a user's membership
// (claim, until the given time), if the role was last confirmed before
// staleBefore, no attempt was made since triedBefore and nobody else holds
// a live claim. One conditional update, so of several replicas (or
// requests) only one uses the user's refresh token at a time.
func (q Queries) ClaimUserCheck(ctx context.Context, id, claim string, staleBefore, triedBefore, now, until time.Time) (bool, error) {
	res := q.ctx(ctx).Model(&User{}).
		Where("id = ? AND (confirmed_at IS NULL OR confirmed_at <= ?) AND (check_at IS NULL OR check_at <= ?) AND (check_claim_until IS NULL OR check_claim_until < ?)",
			id, staleBefore, triedBefore, now).
		Updates(map[string]any{"check_claim": claim, "check_claim_until": until})
	if res.Error != nil {
		return false, fmt.Errorf("storage: claim the check of user %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// FinishUserCheck records the outcome of a re-check (u) and releases the
// claim, only if the caller still holds it: a sign-in meanwhile, or
// another replica after the claim ran out, wins.
func (q Queries) FinishUserCheck(ctx context.Context, id, claim string, u UserCheckUpdate) (bool, error) {
	up := u.columns()
	up["check_claim"], up["check_claim_until"] = "", nil
	res := q.ctx(ctx).Model(&User{}).Where("id = ? AND check_claim = ?", id, claim).Updates(up)
	if res.Error != nil {
		return false, fmt.Errorf("storage: record the check of user %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SetUserCheck records a check decided without asking the provider (there
// was nothing to ask with).
func (q Queries) SetUserCheck(ctx context.Context, id, result, detail string, at time.Time) error {
	err := q.ctx(ctx).Model(&User{}).Where("id = ?", id).
		Updates(map[string]any{"check_result": result, "check_detail": detail, "check_at": at}).Error
	if err != nil {
		return fmt.Errorf("storage: record the check of user %s: %w", id, err)
	}
	return nil
}

// UserGrants lists the users holding a sealed grant (for key rotation).
func (q Queries) UserGrants(ctx context.Context) ([]User, error) {
	var us []User
	if err := q.ctx(ctx).Select("id", "idp_grant").Where("idp_grant IS NOT NULL AND length(idp_grant) > 0").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("storage: list sealed grants: %w", err)
	}
	return us, nil
}

// SetUserGrant replaces a user's sealed grant.
func (q Queries) SetUserGrant(ctx context.Context, id string, sealed []byte) error {
	if err := q.ctx(ctx).Model(&User{}).Where("id = ?", id).Update("idp_grant", sealed).Error; err != nil {
		return fmt.Errorf("storage: reseal grant of %s: %w", id, err)
	}
	return nil
}

// User loads a user by id.
func (q Queries) User(ctx context.Context, id string) (*User, error) {
	var u User
	if err := q.ctx(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// Users lists everyone who ever signed in, by e-mail address.
func (q Queries) Users(ctx context.Context) ([]User, error) {
	var us []User
	if err := q.ctx(ctx).Order("email, subject, issuer").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("storage: list users: %w", err)
	}
	return us, nil
}

// RevokeUserSessions ends every session of a user and returns how many.
func (q Queries) RevokeUserSessions(ctx context.Context, userID string, at time.Time) (int64, error) {
	res := q.ctx(ctx).Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", at)
	if res.Error != nil {
		return 0, fmt.Errorf("storage: revoke sessions of %s: %w", userID, res.Error)
	}
	return res.RowsAffected, nil
}

// RevokeUserAccess ends every session and revokes every API token of a
// user, and returns how many of each.
func (q Queries) RevokeUserAccess(ctx context.Context, userID string, at time.Time) (sessions, tokens int64, err error) {
	sessions, err = q.RevokeUserSessions(ctx, userID, at)
	if err != nil {
		return 0, 0, err
	}
	res := q.ctx(ctx).Model(&APIToken{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", at)
	if res.Error != nil {
		return 0, 0, fmt.Errorf("storage: revoke tokens of %s: %w", userID, res.Error)
	}
	return sessions, res.RowsAffected, nil
}
