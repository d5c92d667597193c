package storage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
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

// Session is a signed-in browser. TokenHash is the SHA-256 of the cookie.
type Session struct {
	TokenHash  string `gorm:"primaryKey"`
	UserID     string
	CSRFToken  string `gorm:"column:csrf_token"`
	Address    string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
}

// APIToken is a bearer token for scripts; only its hash is stored.
type APIToken struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	Name       string
	TokenHash  string
	Prefix     string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	// Role caps what the token may do: it acts with the lower of this and
	// its owner's current role.
	Role string
}

// LoginState is a sign-in in flight.
type LoginState struct {
	State     string `gorm:"primaryKey"`
	Nonce     string
	Verifier  string
	ReturnTo  string
	CreatedAt time.Time
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

// CreateSession stores a new session.
func (q Queries) CreateSession(ctx context.Context, s *Session) error {
	if err := q.ctx(ctx).Create(s).Error; err != nil {
		return fmt.Errorf("storage: create session: %w", err)
	}
	return nil
}

// Session loads a session by its token hash.
func (q Queries) Session(ctx context.Context, hash string) (*Session, error) {
	var s Session
	if err := q.ctx(ctx).Where("token_hash = ?", hash).Take(&s).Error; err != nil {
		return nil, notFound(err)
	}
	return &s, nil
}

// TouchSession records activity (for the idle expiry).
func (q Queries) TouchSession(ctx context.Context, hash string, at time.Time) error {
	if err := q.ctx(ctx).Model(&Session{}).Where("token_hash = ?", hash).Update("last_seen_at", at).Error; err != nil {
		return fmt.Errorf("storage: touch session: %w", err)
	}
	return nil
}

// RevokeSession ends a session; revoking twice is harmless.
func (q Queries) RevokeSession(ctx context.Context, hash string, at time.Time) error {
	err := q.ctx(ctx).Model(&Session{}).Where("token_hash = ? AND revoked_at IS NULL", hash).Update("revoked_at", at).Error
	if err != nil {
		return fmt.Errorf("storage: revoke session: %w", err)
	}
	return nil
}

// CreateAPIToken stores a new token.
func (q Queries) CreateAPIToken(ctx context.Context, t *APIToken) error {
	if err := q.ctx(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("storage: create token: %w", err)
	}
	return nil
}

// APITokenByHash loads a token by the hash of its secret.
func (q Queries) APITokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	var t APIToken
	if err := q.ctx(ctx).Where("token_hash = ?", hash).Take(&t).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// APITokens lists a user's tokens, newest first ("" for everyone's).
func (q Queries) APITokens(ctx context.Context, userID string) ([]APIToken, error) {
	db := q.ctx(ctx)
	if userID != "" {
		db = db.Where("user_id = ?", userID)
	}
	var ts []APIToken
	if err := db.Order("created_at DESC, id DESC").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("storage: list tokens: %w", err)
	}
	return ts, nil
}

// APIToken loads a token by id.
func (q Queries) APIToken(ctx context.Context, id string) (*APIToken, error) {
	var t APIToken
	if err := q.ctx(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// RevokeAPIToken revokes a token; revoking twice is harmless.
func (q Queries) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	err := q.ctx(ctx).Model(&APIToken{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", at).Error
	if err != nil {
		return fmt.Errorf("storage: revoke token %s: %w", id, err)
	}
	return nil
}

// TouchAPIToken records a use.
func (q Queries) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	if err := q.ctx(ctx).Model(&APIToken{}).Where("id = ?", id).Update("last_used_at", at).Error; err != nil {
		return fmt.Errorf("storage: touch token %s: %w", id, err)
	}
	return nil
}

// SaveLoginState stores a sign-in in flight.
func (q Queries) SaveLoginState(ctx context.Context, s *LoginState) error {
	if err := q.ctx(ctx).Create(s).Error; err != nil {
		return fmt.Errorf("storage: save login state: %w", err)
	}
	return nil
}

// TakeLoginState loads and deletes a sign-in in flight, so it can be used
// once only. ErrNotFound if it does not exist (or was used already).
func (q Queries) TakeLoginState(ctx context.Context, state string) (*LoginState, error) {
	var s LoginState
	err := q.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("state = ?", state).Take(&s).Error; err != nil {
			return notFound(err)
		}
		res := tx.Where("state = ?", state).Delete(&LoginState{})
		if res.Error != nil {
			return fmt.Errorf("storage: delete login state: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound // taken concurrently
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteLoginStatesBefore drops sign-ins that were never completed.
func (q Queries) DeleteLoginStatesBefore(ctx context.Context, before time.Time) error {
	if err := q.ctx(ctx).Where("created_at < ?", before).Delete(&LoginState{}).Error; err != nil {
		return fmt.Errorf("storage: delete old login states: %w", err)
	}
	return nil
}

// AuditFilter narrows the audit log.
type AuditFilter struct {
	Actor  string
	Action string // a prefix: "environment." matches every environment action
	Target string
	Result string
	Since  *time.Time
	Until  *time.Time
	// Before keeps the entries older than this id (the next page);
	// After those newer than it (the previous page, still newest first).
	Before, After int64
	Limit         int
}

// AuditSearch lists audit entries matching f, newest first.
func (q Queries) AuditSearch(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	db := q.ctx(ctx)
	if f.Actor != "" {
		db = db.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		db = db.Where("action LIKE ? ESCAPE '\\'", escapeLike(f.Action)+"%")
	}
	if f.Target != "" {
		db = db.Where("target = ?", f.Target)
	}
	if f.Result != "" {
		db = db.Where("result = ?", f.Result)
	}
	if f.Since != nil {
		db = db.Where("at >= ?", *f.Since)
	}
	if f.Until != nil {
		db = db.Where("at < ?", *f.Until)
	}
	if f.Before > 0 {
		db = db.Where("id < ?", f.Before)
	}
	order := "id DESC"
	if f.After > 0 {
		// The page just newer than After: the oldest ones above it,
		// turned back to newest first below.
		db, order = db.Where("id > ?", f.After), "id ASC"
	}
	if f.Limit > 0 {
		db = db.Limit(f.Limit)
	}
	var as []AuditEntry
	if err := db.Order(order).Find(&as).Error; err != nil {
		return nil, fmt.Errorf("storage: search audit log: %w", err)
	}
	if f.After > 0 {
		slices.Reverse(as)
	}
	return as, nil
}

func escapeLike(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out)
}

// SecretRows lists environments that hold encrypted secrets (for key
// rotation).
func (q Queries) SecretRows(ctx context.Context) ([]Environment, error) {
	var es []Environment
	if err := q.ctx(ctx).Select("id", "secrets").Where("secrets IS NOT NULL AND length(secrets) > 0").Find(&es).Error; err != nil {
		return nil, fmt.Errorf("storage: list sealed secrets: %w", err)
	}
	return es, nil
}

// SetSecrets replaces an environment's sealed secrets (updated at `at`).
func (q Queries) SetSecrets(ctx context.Context, id string, sealed []byte, at time.Time) error {
	if err := q.ctx(ctx).Model(&Environment{}).Where("id = ?", id).Updates(map[string]any{"secrets": sealed, "updated_at": at}).Error; err != nil {
		return fmt.Errorf("storage: reseal secrets of %s: %w", id, err)
	}
	return nil
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
