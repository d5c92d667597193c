package envs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Membership re-checks. Role and teams come from the identity provider's
// groups, but a session lasts days and an API token up to a year: someone
// removed from the admin group must not stay an admin until they sign in
// again. So when a session or token is used and the user's role was last
// confirmed longer than Config.RoleRecheck ago, Mayfly asks the provider
// again, with the refresh token of their last sign-in (or a still valid
// access token), and recomputes role and teams:
//
//   - the provider answers: the new role and teams hold for another interval;
//   - it refuses (invalid_grant, 401: the person was removed or disabled):
//     the role drops to none at once and every session of the user ends;
//   - it cannot be reached: the old role is kept for at most one more
//     interval, then requests are refused (fail closed) until it answers;
//   - there is nothing to ask with (no refresh token, the access token
//     expired): browsers are sent to sign in again, API tokens get a 401
//     saying why.
//
// One replica (one request) at a time re-checks a user: it claims the
// check with a conditional update, so a refresh token, which providers
// rotate and refuse on reuse, is never used twice at once.

// IdentityProvider re-reads what the identity provider says about someone.
// handlers.OIDC implements it.
type IdentityProvider interface {
	// Recheck asks the provider about subject again with the grant of their
	// last sign-in, and returns their claims, with the grant to keep
	// (rotated when the provider sent new tokens). Errors wrapping
	// ErrIdentityRefused: the provider said no; ErrNoGrant: there was
	// nothing to ask with; any other: the provider could not be reached.
	Recheck(ctx context.Context, subject string, g Grant) (Claims, error)
}

// Errors an IdentityProvider wraps.
var (
	ErrIdentityRefused = errors.New("the identity provider refused")
	ErrNoGrant         = errors.New("nothing to re-check the access with")
)

// Grant is what the identity provider gave at sign-in to ask about the
// person again: a refresh token (with the offline_access scope) and an
// access token until it expires. It is stored sealed with the secret key.
type Grant struct {
	RefreshToken string
	AccessToken  string
	AccessExpiry time.Time
}

// usable reports whether the grant can still be used at now.
func (g Grant) usable(now time.Time) bool {
	return g.RefreshToken != "" || (g.AccessToken != "" && now.Before(g.AccessExpiry))
}

// The results of a membership check, as the users page shows them.
const (
	CheckOK           = "ok"
	CheckRefused      = "refused"
	CheckUnreachable  = "unreachable"
	CheckSignInNeeded = "signin_needed"
)

const (
	// checkTimeout bounds one question to the provider. The request that
	// asks waits for it, so it is short; the claim outlives it a little so
	// that a replica that died mid-check is replaced soon after.
	checkTimeout = 10 * time.Second
	checkClaim   = checkTimeout + 5*time.Second
	// checkRetry is how long after an attempt the next may be made (at most
	// half the interval): a provider that is down is not asked, and waited
	// for, on every request.
	checkRetry = 30 * time.Second
)

// grantAAD binds a sealed grant to its user: a ciphertext copied onto
// another user's row does not decrypt.
func grantAAD(issuer, subject string) string { return "grant\n" + issuer + "\n" + subject }

func (s *Service) sealGrant(g Grant, issuer, subject string) ([]byte, error) {
	if g.RefreshToken == "" && g.AccessToken == "" {
		return nil, nil
	}
	m := map[string]string{"refresh_token": g.RefreshToken, "access_token": g.AccessToken}
	if !g.AccessExpiry.IsZero() {
		m["access_expiry"] = g.AccessExpiry.UTC().Format(time.RFC3339Nano)
	}
	sealed, err := s.cipher.seal(m, grantAAD(issuer, subject))
	if err != nil {
		return nil, fmt.Errorf("envs: seal the sign-in grant: %w", err)
	}
	return sealed, nil
}

func (s *Service) openGrant(u *storage.User) (Grant, error) {
	m, err := s.cipher.open(u.IdpGrant, grantAAD(u.Issuer, u.Subject))
	if err != nil {
		return Grant{}, err
	}
	g := Grant{RefreshToken: m["refresh_token"], AccessToken: m["access_token"]}
	if t, err := time.Parse(time.RFC3339Nano, m["access_expiry"]); err == nil {
		g.AccessExpiry = t
	}
	return g, nil
}

// confirmMembership returns the user with the role and teams to act with
// now, first re-checking them at the identity provider when they are due
// (see the top of this file). via ("session" or "token") words the errors.
func (s *Service) confirmMembership(ctx context.Context, u *storage.User, via string) (*storage.User, error) {
	if s.cfg.Identity == nil {
		return u, nil
	}
	if u.CheckResult == CheckRefused {
		return nil, refusedError(u, via)
	}
	now := s.now()
	interval := s.cfg.RoleRecheck
	if now.Sub(confirmedAt(u)) < interval {
		return u, nil
	}
	g, err := s.openGrant(u)
	if err != nil {
		// Sealed with a key that is gone: as good as none.
		s.log.Warn("could not open a user's sign-in grant", "user", u.ID, "err", err)
		g = Grant{}
	}
	if !g.usable(now) {
		if u.CheckResult != CheckSignInNeeded {
			if err := s.store.SetUserCheck(ctx, u.ID, CheckSignInNeeded, noGrantDetail, now); err != nil {
				return nil, err
			}
		}
		return nil, signInNeeded(via)
	}
	claim := strings.ToLower(randomID(16))
	retry := min(checkRetry, interval/2)
	ok, err := s.store.ClaimUserCheck(ctx, u.ID, claim, now.Add(-interval), now.Add(-retry), now, now.Add(checkClaim))
	if err != nil {
		return nil, err
	}
	if !ok {
		// Another request or replica is asking, has just asked, or asked in
		// vain moments ago: go by what is recorded.
		fresh, err := s.store.User(ctx, u.ID)
		if err != nil {
			return nil, fmt.Errorf("envs: user %s: %w", u.ID, err)
		}
		return s.byRecord(fresh, now, via)
	}
	// Not cut short when the client goes away: a refresh the provider
	// answered must be recorded, its rotated refresh token with it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
	defer cancel()
	c, err := s.cfg.Identity.Recheck(rctx, u.Subject, g)
	if err == nil && c.Subject != u.Subject {
		err = fmt.Errorf("the provider answered about another subject (%q)", c.Subject)
	}
	now = s.now()
	switch {
	case err == nil:
		return s.recordConfirmed(ctx, u, claim, c, now, via)
	case errors.Is(err, ErrIdentityRefused):
		return nil, s.recordRefused(ctx, u, claim, err, now, via)
	case errors.Is(err, ErrNoGrant):
		if _, err := s.store.FinishUserCheck(ctx, u.ID, claim, storage.UserCheckUpdate{CheckAt: storage.At(now),
			CheckResult: storage.Set(CheckSignInNeeded), CheckDetail: storage.Set(noGrantDetail)}); err != nil {
			return nil, err
		}
		return nil, signInNeeded(via)
	default:
		s.log.Warn("could not re-check a user's access at the identity provider", "user", u.ID, "err", err)
		if _, err := s.store.FinishUserCheck(ctx, u.ID, claim, storage.UserCheckUpdate{CheckAt: storage.At(now),
			CheckResult: storage.Set(CheckUnreachable), CheckDetail: storage.Set(err.Error())}); err != nil {
			return nil, err
		}
		u.CheckResult, u.CheckAt = CheckUnreachable, &now
		return s.byRecord(u, now, via)
	}
}

// confirmedAt is when the provider last confirmed the user's role.
func confirmedAt(u *storage.User) time.Time {
	if u.ConfirmedAt != nil {
		return *u.ConfirmedAt
	}
	return u.LastLoginAt
}

// byRecord decides from the recorded check, without asking the provider:
// a role confirmed within the interval holds, and within one more interval
// too (the provider may be unreachable for a while); beyond that the
// request is refused until a check succeeds.
func (s *Service) byRecord(u *storage.User, now time.Time, via string) (*storage.User, error) {
	if u.CheckResult == CheckRefused {
		return nil, refusedError(u, via)
	}
	if u.CheckResult == CheckSignInNeeded && now.Sub(confirmedAt(u)) >= s.cfg.RoleRecheck {
		return nil, signInNeeded(via)
	}
	if now.Sub(confirmedAt(u)) < 2*s.cfg.RoleRecheck {
		return u, nil
	}
	if u.CheckResult == CheckUnreachable {
		whose := "your"
		if via == "token" {
			whose = "this token's owner's"
		}
		return nil, Errorf(EUnavailable, "Mayfly could not reach the identity provider to re-check %s access (confirmed last at %s, tried last at %s); "+
			"requests are refused until it answers", whose, confirmedAt(u).Format(time.RFC3339), timeOr(u.CheckAt, now).Format(time.RFC3339))
	}
	return nil, Errorf(EUnavailable, "your access is being re-checked at the identity provider; try again in a moment")
}

func timeOr(t *time.Time, def time.Time) time.Time {
	if t == nil {
		return def
	}
	return *t
}

const noGrantDetail = "no refresh token (is the offline_access scope granted?) and the access token has expired"

func signInNeeded(via string) error {
	if via == "token" {
		return Errorf(EUnauthorized, "Mayfly can no longer re-check the access of this token's owner at the identity provider "+
			"(%s); the token works again once its owner signs in", noGrantDetail)
	}
	return Errorf(EUnauthorized, "your access must be confirmed by the identity provider again; sign in again")
}

func refusedError(u *storage.User, via string) error {
	at := timeOr(u.CheckAt, time.Time{}).Format(time.RFC3339)
	if via == "token" {
		return Errorf(EUnauthorized, "the identity provider refused to confirm the access of this token's owner at %s "+
			"(removed or disabled there?); the token works again once its owner signs in", at)
	}
	return Errorf(EUnauthorized, "the identity provider no longer confirms your access (at %s); sign in again", at)
}

// recordConfirmed stores what the provider said: claims, the role and
// teams they map to, the grant to keep, and the confirmation. A change of
// role or teams is audited.
func (s *Service) recordConfirmed(ctx context.Context, u *storage.User, claim string, c Claims, now time.Time, via string) (*storage.User, error) {
	role, teams := s.cfg.Groups.Map(c.Groups)
	groups, _ := json.Marshal(c.Groups)
	sealed, err := s.sealGrant(c.Grant, u.Issuer, u.Subject)
	if err != nil {
		return nil, err
	}
	cols := storage.UserCheckUpdate{GroupsJSON: storage.Set(string(groups)), Role: storage.Set(string(role)),
		Teams: storage.Set(strings.Join(teams, ",")), IdpGrant: storage.Set(sealed), ConfirmedAt: storage.At(now),
		CheckAt: storage.At(now), CheckResult: storage.Set(CheckOK), CheckDetail: storage.Set("")}
	// A provider may leave profile claims out of refreshed tokens: only
	// what it says replaces what is known.
	if c.Email != "" {
		cols.Email, cols.EmailUnverified = storage.Set(c.Email), storage.Set(c.unverifiedEmail())
	}
	if c.Name != "" {
		cols.Name = storage.Set(c.Name)
	}
	ok, err := s.store.FinishUserCheck(ctx, u.ID, claim, cols)
	if err != nil {
		return nil, err
	}
	fresh, err := s.store.User(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("envs: user %s: %w", u.ID, err)
	}
	if !ok {
		// A sign-in (or another replica after our claim ran out) recorded
		// newer facts: they win.
		return s.byRecord(fresh, now, via)
	}
	if fresh.Role != u.Role || fresh.Teams != u.Teams {
		s.auditCheck(ctx, u, "ok", fmt.Sprintf("role %s -> %s; teams %s -> %s", valueOr(u.Role, "none"), valueOr(fresh.Role, "none"),
			valueOr(u.Teams, "none"), valueOr(fresh.Teams, "none")))
	}
	return fresh, nil
}

// recordRefused drops the user's role and teams, forgets the grant and
// ends every session of the user, in one transaction.
func (s *Service) recordRefused(ctx context.Context, u *storage.User, claim string, cause error, now time.Time, via string) error {
	var ended int64
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.FinishUserCheck(ctx, u.ID, claim, storage.UserCheckUpdate{Role: storage.Set(string(RoleNone)), Teams: storage.Set(""),
			IdpGrant: storage.Set[[]byte](nil), CheckAt: storage.At(now), CheckResult: storage.Set(CheckRefused), CheckDetail: storage.Set(cause.Error())})
		if err != nil || !ok {
			return err
		}
		ended, err = tx.RevokeUserSessions(ctx, u.ID, now)
		return err
	})
	if err != nil {
		return err
	}
	s.log.Warn("the identity provider refused to confirm a user's access: role dropped, sessions ended",
		"user", u.ID, "sessions", ended, "err", cause)
	s.auditCheck(ctx, u, string(EUnauthorized), fmt.Sprintf("%v; role %s -> none, %d sessions ended", cause, valueOr(u.Role, "none"), ended))
	u.CheckResult, u.CheckAt = CheckRefused, &now
	return refusedError(u, via)
}

// auditCheck records the outcome of a re-check that changed something: the
// system acted on the user.
func (s *Service) auditCheck(ctx context.Context, u *storage.User, result, detail string) {
	e := s.auditEntry(System, "user.recheck", u.ID, nil)
	e.Result, e.Detail = result, detail
	if err := s.store.Audit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit failed", "action", e.Action, "err", err)
	}
}

// resealGrants re-encrypts with the current key every sign-in grant still
// sealed with a previous one (see ResealSecrets); a grant no key opens is
// dropped: its user signs in again when their role is next due.
func (s *Service) resealGrants(ctx context.Context) (int, error) {
	rows, err := s.store.UserGrants(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		u, err := s.store.User(ctx, r.ID)
		if err != nil {
			return n, fmt.Errorf("envs: reseal grant of %s: %w", r.ID, err)
		}
		values, current, err := s.cipher.openAny(u.IdpGrant, grantAAD(u.Issuer, u.Subject))
		if current && err == nil {
			continue
		}
		var sealed []byte
		if err == nil {
			if sealed, err = s.cipher.seal(values, grantAAD(u.Issuer, u.Subject)); err != nil {
				return n, err
			}
		}
		if err := s.store.SetUserGrant(ctx, u.ID, sealed); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
