package envs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Claims is what the identity provider says about someone who signed in.
// (Issuer, Subject) names the person; the e-mail address is only how
// people recognise them.
type Claims struct {
	Issuer  string
	Subject string
	Email   string
	// EmailVerified is the provider's email_verified claim; nil when it
	// said nothing, as many providers do.
	EmailVerified *bool
	Name          string
	Groups        []string
	// Grant is what the provider gave to ask about the person again later
	// (see membership.go).
	Grant Grant
}

// unverifiedEmail reports whether the provider said the e-mail address is
// not verified (an absent claim is not a "no").
func (c Claims) unverifiedEmail() bool {
	return c.Email != "" && c.EmailVerified != nil && !*c.EmailVerified
}

// User is a person known to Mayfly, with the role and teams their groups
// gave them when the identity provider last confirmed them.
type User struct {
	ID      string
	Issuer  string
	Subject string
	Email   string
	// EmailUnverified: the provider said the address is not verified; it is
	// shown flagged and never used as the user's name.
	EmailUnverified bool
	Name            string
	Groups          []string
	Role            Role
	Teams           []string
	// The last membership check (see membership.go): when the provider
	// last confirmed role and teams, when Mayfly last asked, and how that
	// ended (CheckOK, CheckRefused, CheckUnreachable, CheckSignInNeeded).
	ConfirmedAt *time.Time
	CheckAt     *time.Time
	CheckResult string
	CheckDetail string
}

// Session is a signed-in browser. Token is set only when the session is
// created: the database keeps a hash of it.
type Session struct {
	Token     string
	CSRFToken string
	User      User
	ExpiresAt time.Time
}

// secretToken returns a random token with 256 bits of entropy.
func secretToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken hashes a session or API token for storage. A fast hash is
// enough: the tokens are random with 256 bits of entropy, so nobody can
// guess one from its hash (passwords would need a slow hash).
func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// actorOf builds the actor of a user.
func actorOf(u *storage.User, address, via string) Actor {
	teams := splitNames(u.Teams)
	a := Actor{Name: displayName(u), UserID: u.ID, Issuer: u.Issuer, Subject: u.Subject, Role: Role(u.Role), Teams: teams,
		Address: address, Via: via}
	if len(teams) > 0 {
		a.Team = teams[0]
	}
	return a
}

// displayName is how a user appears as an owner and in the audit log: the
// e-mail address, which people recognise, or the subject when there is
// none. An address the provider says is not verified could be anyone's, so
// it is never the name: the user's name qualified with their subject
// ("Mallory (sub-123)", which is no e-mail address and stays unique), or
// the subject alone. Names decide nothing (ownership is by user id); they
// must only not mislead.
func displayName(u *storage.User) string {
	switch {
	case u.Issuer == LocalIssuer:
		return "local" // the local administrator, named as before it had a row
	case u.Email != "" && !u.EmailUnverified:
		return u.Email
	case u.EmailUnverified && u.Name != "":
		return u.Name + " (" + u.Subject + ")"
	default:
		return u.Subject
	}
}

func userFromRow(u *storage.User) User {
	var groups []string
	_ = json.Unmarshal([]byte(u.GroupsJSON), &groups) // we wrote it
	return User{ID: u.ID, Issuer: u.Issuer, Subject: u.Subject, Email: u.Email, EmailUnverified: u.EmailUnverified, Name: u.Name,
		Groups: groups, Role: Role(u.Role), Teams: splitNames(u.Teams),
		ConfirmedAt: utcPtr(u.ConfirmedAt), CheckAt: utcPtr(u.CheckAt), CheckResult: u.CheckResult, CheckDetail: u.CheckDetail}
}

// SignIn records a successful sign-in: the user (known by issuer and
// subject; created, or refreshed from the claims with their role and teams
// mapped from their groups, which the sign-in confirms) and a new session.
func (s *Service) SignIn(ctx context.Context, c Claims, address string) (sess *Session, err error) {
	role, teams := s.cfg.Groups.Map(c.Groups)
	groups, _ := json.Marshal(c.Groups)
	now := s.now()
	u := &storage.User{ID: "usr-" + strings.ToLower(randomID(10)), Issuer: c.Issuer, Subject: c.Subject, Email: c.Email,
		EmailUnverified: c.unverifiedEmail(), Name: c.Name, GroupsJSON: string(groups), Role: string(role), Teams: strings.Join(teams, ","),
		CreatedAt: now, LastLoginAt: now, ConfirmedAt: &now, CheckAt: &now, CheckResult: CheckOK}
	actor := Actor{Name: displayName(u), Issuer: c.Issuer, Subject: c.Subject, Address: address, Via: "oidc"}
	defer func() { s.audit(ctx, actor, "auth.signin", actor.Name, err) }()
	if c.Subject == "" {
		return nil, Errorf(EUnauthorized, "the identity provider did not name the user (no subject)")
	}
	if c.Issuer == "" {
		return nil, Errorf(EUnauthorized, "the identity provider did not name itself (no issuer)")
	}
	if u.IdpGrant, err = s.sealGrant(c.Grant, c.Issuer, c.Subject); err != nil {
		return nil, err
	}
	if err := s.store.UpsertUser(ctx, u); err != nil {
		return nil, err
	}
	raw, csrf := secretToken(), secretToken()
	row := &storage.Session{TokenHash: hashToken(raw), UserID: u.ID, CSRFToken: csrf, Address: address,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionMax)}
	if err := s.store.CreateSession(ctx, row); err != nil {
		return nil, err
	}
	actor = actorOf(u, address, "session")
	return &Session{Token: raw, CSRFToken: csrf, User: userFromRow(u), ExpiresAt: row.ExpiresAt}, nil
}

// RecordSignInFailure audits a sign-in that failed before anyone was known
// (bad state, a token that does not verify, ...).
func (s *Service) RecordSignInFailure(ctx context.Context, address string, cause error) {
	var de *Error
	if !errors.As(cause, &de) {
		// Not a domain error (a token that does not verify): the admin reading
		// the audit log needs the reason, which is no secret.
		cause = Errorf(EUnauthorized, "%v", cause)
	}
	s.audit(ctx, Actor{Name: "anonymous", Address: address}, "auth.signin", "", cause)
}

var errSignedOut = Errorf(EUnauthorized, "your session has ended; sign in again")

// SessionActor resolves a session cookie to its actor and CSRF token. It
// refuses revoked sessions and sessions past their idle or absolute expiry.
func (s *Service) SessionActor(ctx context.Context, raw, address string) (Actor, string, error) {
	if raw == "" {
		return Actor{}, "", errSignedOut
	}
	hash := hashToken(raw)
	row, err := s.store.Session(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return Actor{}, "", errSignedOut
	}
	if err != nil {
		return Actor{}, "", err
	}
	now := s.now()
	if !s.sessionLive(row, now) {
		return Actor{}, "", errSignedOut
	}
	u, err := s.store.User(ctx, row.UserID)
	if err != nil {
		return Actor{}, "", fmt.Errorf("envs: user of session: %w", err)
	}
	if u, err = s.confirmMembership(ctx, u, "session"); err != nil {
		return Actor{}, "", err
	}
	// One write a minute at most: the idle expiry does not need more
	// precision, and a write per request would serialise SQLite.
	if now.Sub(row.LastSeenAt) > time.Minute {
		if err := s.store.TouchSession(ctx, hash, now); err != nil {
			s.log.Warn("could not record session activity", "err", err)
		}
	}
	a := actorOf(u, address, "session")
	a.session = hash
	return a, row.CSRFToken, nil
}

// sessionLive reports whether a session may still be used at now: not
// revoked, not past its absolute or idle expiry.
func (s *Service) sessionLive(row *storage.Session, now time.Time) bool {
	return row.RevokedAt == nil && now.Before(row.ExpiresAt) && now.Before(row.LastSeenAt.Add(s.cfg.SessionIdle))
}

// StillValid checks again that the session or API token an actor came
// with still works (not revoked, not expired, not idle, and the identity
// provider still confirms the user when their membership is due for a
// re-check), for requests that outlive a moment, such as SSE streams. When
// nothing is due it is a lookup of the session or token and of the user,
// and records no activity: an open stream is not a person using Mayfly.
// Local and system actors are always valid.
func (s *Service) StillValid(ctx context.Context, a Actor) error {
	switch a.Via {
	case "session":
		row, err := s.store.Session(ctx, a.session)
		if errors.Is(err, storage.ErrNotFound) {
			return errSignedOut
		}
		if err != nil {
			return err
		}
		if !s.sessionLive(row, s.now()) {
			return errSignedOut
		}
	case "token":
		row, err := s.store.APIToken(ctx, a.TokenID)
		if errors.Is(err, storage.ErrNotFound) {
			return errBadToken
		}
		if err != nil {
			return err
		}
		if !tokenFromRow(row).Active(s.now()) {
			return errBadToken
		}
	default:
		return nil
	}
	u, err := s.store.User(ctx, a.UserID)
	if err != nil {
		return fmt.Errorf("envs: user of %s: %w", a.Via, err)
	}
	if u, err = s.confirmMembership(ctx, u, a.Via); err != nil {
		return err
	}
	if !Role(u.Role).AtLeast(RoleViewer) {
		return Errorf(EForbidden, "your account no longer has a role in Mayfly")
	}
	return nil
}

// SignOut revokes a session.
func (s *Service) SignOut(ctx context.Context, actor Actor, raw string) (err error) {
	defer func() { s.audit(ctx, actor, "auth.signout", actor.Name, err) }()
	return s.store.RevokeSession(ctx, hashToken(raw), s.now())
}

// LoginState is one sign-in in flight: what the callback must check.
type LoginState struct {
	State, Nonce, Verifier, ReturnTo string
}

// loginStateTTL is how long someone may take at the identity provider.
const loginStateTTL = 15 * time.Minute

// BeginSignIn records a sign-in in flight and drops the ones abandoned.
func (s *Service) BeginSignIn(ctx context.Context, st LoginState) error {
	now := s.now()
	if err := s.store.DeleteLoginStatesBefore(ctx, now.Add(-loginStateTTL)); err != nil {
		s.log.Warn("could not drop old sign-ins", "err", err)
	}
	return s.store.SaveLoginState(ctx, &storage.LoginState{State: st.State, Nonce: st.Nonce, Verifier: st.Verifier,
		ReturnTo: st.ReturnTo, CreatedAt: now})
}

// TakeSignIn returns the sign-in in flight named by state and forgets it,
// so a callback cannot be replayed.
func (s *Service) TakeSignIn(ctx context.Context, state string) (LoginState, error) {
	row, err := s.store.TakeLoginState(ctx, state)
	if errors.Is(err, storage.ErrNotFound) {
		return LoginState{}, Errorf(EUnauthorized, "this sign-in is unknown, was used already or took too long; sign in again")
	}
	if err != nil {
		return LoginState{}, err
	}
	if s.now().Sub(row.CreatedAt) > loginStateTTL {
		return LoginState{}, Errorf(EUnauthorized, "this sign-in took too long; sign in again")
	}
	return LoginState{State: row.State, Nonce: row.Nonce, Verifier: row.Verifier, ReturnTo: row.ReturnTo}, nil
}
