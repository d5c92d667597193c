package envs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// API tokens: created for a person with a role at most theirs, listed,
// revoked, and turned into an actor on each request.

// Token is an API token as its owner sees it (never its secret, except
// right after creation).
type Token struct {
	ID         string
	Name       string
	Owner      string // the owner's user id
	Prefix     string // the first characters of the secret, to recognise it
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	// Role caps the token's rights: it acts with the lower of this and its
	// owner's current role.
	Role Role
}

// Active reports whether the token can still be used at t.
func (t Token) Active(at time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || at.Before(*t.ExpiresAt))
}

// tokenPrefix marks Mayfly's tokens, so secret scanners can recognise them.
const tokenPrefix = "mfy_"

// MaxTokenTTL bounds API token lifetimes.
const MaxTokenTTL = 366 * 24 * time.Hour

func tokenFromRow(r *storage.APIToken) Token {
	return Token{ID: r.ID, Name: r.Name, Owner: r.UserID, Prefix: r.Prefix, CreatedAt: r.CreatedAt,
		ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt, Role: Role(r.Role)}
}

// CreateToken makes an API token that acts with at most role ("": the
// actor's role now), never above the actor's own role, and never above its
// owner's role when it is used. The secret is returned once and stored only
// as a hash. ttl "" means the longest lifetime allowed.
func (s *Service) CreateToken(ctx context.Context, actor Actor, name, ttl, role string) (secret string, tok Token, err error) {
	defer func() { s.audit(ctx, actor, "token.create", tok.ID, err) }()
	if err := Authorize(actor, PermTokens); err != nil {
		return "", Token{}, err
	}
	if actor.UserID == "" {
		return "", Token{}, Errorf(EInvalid, "API tokens need a user: sign in (in local mode, restart Mayfly to record the local administrator)")
	}
	// A leaked token must not be able to mint longer-lived ones.
	if actor.Via == "token" {
		return "", Token{}, Errorf(EForbidden, "API tokens are created after signing in, not with another token")
	}
	var fields []FieldError
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		fields = append(fields, FieldError{Field: "name", Message: "must be 1-100 characters"})
	} else if msg := textProblem(name); msg != "" {
		fields = append(fields, FieldError{Field: "name", Message: msg})
	}
	d := MaxTokenTTL
	if ttl != "" {
		v, perr := parseTTL(ttl)
		switch {
		case perr != nil:
			fields = append(fields, FieldError{Field: "ttl", Message: fmt.Sprintf("%q is not a duration such as 720h or 30d", ttl)})
		case v < time.Minute || v > MaxTokenTTL:
			fields = append(fields, FieldError{Field: "ttl", Message: "must be between 1m and 366d"})
		default:
			d = v
		}
	}
	capRole := actor.EffectiveRole()
	if role != "" {
		r, perr := ParseRole(role)
		switch {
		case perr != nil:
			fields = append(fields, FieldError{Field: "role", Message: fmt.Sprintf("%q is not a role (viewer, member, author, admin)", role)})
		case !actor.EffectiveRole().AtLeast(r):
			fields = append(fields, FieldError{Field: "role", Message: fmt.Sprintf("cannot be above your own role (%s)", actor.EffectiveRole())})
		default:
			capRole = r
		}
	}
	if len(fields) > 0 {
		return "", Token{}, Invalid("token request is not valid", fields...)
	}
	secret = tokenPrefix + secretToken()
	now := s.now()
	exp := now.Add(d)
	row := &storage.APIToken{ID: "tok-" + strings.ToLower(randomID(10)), UserID: actor.UserID, Name: name,
		TokenHash: hashToken(secret), Prefix: secret[:len(tokenPrefix)+6], CreatedAt: now, ExpiresAt: &exp, Role: string(capRole)}
	if err := s.store.CreateAPIToken(ctx, row); err != nil {
		return "", Token{}, err
	}
	return secret, tokenFromRow(row), nil
}

// parseTTL accepts Go durations and whole days ("30d").
func parseTTL(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err == nil && fmt.Sprint(n) == d {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}

// Tokens lists the actor's tokens.
func (s *Service) Tokens(ctx context.Context, actor Actor) ([]Token, error) {
	if err := Authorize(actor, PermTokens); err != nil {
		return nil, err
	}
	if actor.UserID == "" {
		return nil, nil
	}
	rows, err := s.store.APITokens(ctx, actor.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]Token, len(rows))
	for i := range rows {
		out[i] = tokenFromRow(&rows[i])
	}
	return out, nil
}

// RevokeToken revokes one of the actor's tokens (an admin: anyone's).
func (s *Service) RevokeToken(ctx context.Context, actor Actor, id string) (err error) {
	defer func() { s.audit(ctx, actor, "token.revoke", id, err) }()
	if err := Authorize(actor, PermTokens); err != nil {
		return err
	}
	row, err := s.store.APIToken(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && row.UserID != actor.UserID && !actor.IsAdmin()) {
		return Errorf(ENotFound, "token %q does not exist", id)
	}
	if err != nil {
		return err
	}
	return s.store.RevokeAPIToken(ctx, id, s.now())
}

var errBadToken = Errorf(EUnauthorized, "the API token is not valid (unknown, revoked or expired)")

// TokenActor resolves a bearer token to its owner, with the lower of the
// token's role cap and the owner's current role (re-checked at the identity
// provider when due), and records its use.
func (s *Service) TokenActor(ctx context.Context, raw, address string) (Actor, error) {
	if !strings.HasPrefix(raw, tokenPrefix) {
		return Actor{}, errBadToken
	}
	row, err := s.store.APITokenByHash(ctx, hashToken(raw))
	if errors.Is(err, storage.ErrNotFound) {
		return Actor{}, errBadToken
	}
	if err != nil {
		return Actor{}, err
	}
	now := s.now()
	if !tokenFromRow(row).Active(now) {
		return Actor{}, errBadToken
	}
	u, err := s.store.User(ctx, row.UserID)
	if err != nil {
		return Actor{}, fmt.Errorf("envs: owner of token %s: %w", row.ID, err)
	}
	if u, err = s.confirmMembership(ctx, u, "token"); err != nil {
		return Actor{}, err
	}
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) > time.Minute {
		if err := s.store.TouchAPIToken(ctx, row.ID, now); err != nil {
			s.log.Warn("could not record token use", "token", row.ID, "err", err)
		}
	}
	a := actorOf(u, address, "token")
	a.TokenID = row.ID
	if !Role(row.Role).AtLeast(a.Role) {
		a.Role = Role(row.Role)
	}
	return a, nil
}
