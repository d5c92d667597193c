package envs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// One-click links: an expiry warning offers to extend the environment (by
// its version's ttl.default, within the maximum lifetime), to keep it
// until its maximum lifetime, or to destroy it now. A link is a row
// (id, environment, action, deadline, expires_at, used_at) and an HMAC
// over it with a key derived from the server's secret key, so a link is
// neither guessable nor editable, and the row makes it work once. Opening
// a link (GET) only shows what it would do: mail scanners fetch links.
// Confirming it (POST) acts as the environment's owner, with the owner's
// current rights, like an API token would. A link expires at the deadline
// it was sent for, and an extend since (a new deadline) supersedes it.
// Every use and every refusal is audited.

// Link actions.
const (
	LinkExtend  = "extend"
	LinkKeep    = "keep"
	LinkDestroy = "destroy"
)

// LinkPath is where the links are served: LinkPath + token.
const LinkPath = "/links/"

const linkPurpose = "one-click link v1"

// linkMAC signs a link's row.
func (c *Cipher) linkMAC(l *storage.ActionLink) []byte {
	m := hmac.New(sha256.New, c.linkKey)
	fmt.Fprintf(m, "%s\n%s\n%s\n%d\n%d", l.ID, l.EnvironmentID, l.Action, l.Deadline.UnixMicro(), l.ExpiresAt.UnixMicro())
	return m.Sum(nil)
}

// linkToken is what a link's URL carries: the row's id and its HMAC.
func (c *Cipher) linkToken(l *storage.ActionLink) string {
	return l.ID + "." + base64.RawURLEncoding.EncodeToString(c.linkMAC(l))
}

// createLinks records the one-click links of a warning about e's expiry
// and returns them as the notice offers them.
func (s *Service) createLinks(ctx context.Context, tx *storage.Tx, e *Environment, p warnPolicy, now time.Time) ([]NoticeLink, error) {
	deadline := e.ExpiresAt.UTC().Truncate(time.Microsecond)
	base := strings.TrimRight(s.cfg.ExternalURL, "/") + LinkPath
	var rows []storage.ActionLink
	var out []NoticeLink
	add := func(action, label string) {
		r := storage.ActionLink{ID: "lnk-" + strings.ToLower(randomID(20)), EnvironmentID: e.ID, Action: action,
			Deadline: deadline, ExpiresAt: deadline, CreatedAt: now}
		rows = append(rows, r)
		out = append(out, NoticeLink{Label: label, URL: base + s.cipher.linkToken(&r)})
	}
	left := e.ExtendableBy()
	if ext := min(p.extension, left); ext > 0 {
		add(LinkExtend, "Extend by "+FormatDuration(ext))
	}
	if left > p.extension {
		add(LinkKeep, "Keep until "+e.MaxExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	add(LinkDestroy, "Destroy now")
	return out, tx.CreateActionLinks(ctx, rows)
}

// Link is a one-click link as its page shows it.
type Link struct {
	Action      string
	Environment *Environment
	// By is what an extend adds; NewExpiry the expiry after it (extend
	// and keep).
	By        time.Duration
	NewExpiry time.Time
	// Deadline is the expiry the link was sent about.
	Deadline time.Time
}

// errLinkInvalid: a link Mayfly did not send, or one changed since.
var errLinkInvalid = Errorf(EForbidden, "This link is not valid: it is incomplete, was changed, or was not sent by this Mayfly. Open the environment in Mayfly instead.")

// OpenLink checks a one-click link and says what it would do, changing
// nothing. A refusal is audited.
func (s *Service) OpenLink(ctx context.Context, token, address string) (*Link, error) {
	l, _, err := s.checkLink(ctx, token)
	if err != nil {
		s.auditLink(ctx, Actor{Name: "anonymous", Address: address, Via: "link"}, "link.refused", token, "", err)
		return nil, err
	}
	return l, nil
}

// UseLink acts on a one-click link as the environment's owner, once, and
// returns what it did with the environment after it. Its use, or its
// refusal, is audited.
func (s *Service) UseLink(ctx context.Context, token, address string) (link *Link, env *Environment, err error) {
	actor := Actor{Name: "anonymous", Address: address, Via: "link"}
	detail := ""
	defer func() {
		action := "link.use"
		if err != nil {
			action = "link.refused"
		}
		s.auditLink(ctx, actor, action, token, detail, err)
	}()
	l, row, err := s.checkLink(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	e := l.Environment
	detail = l.Action + " " + e.ID
	if e.OwnerID == "" {
		return nil, nil, Errorf(EForbidden, "environment %s has no owner account to act as; open it in Mayfly instead", e.Name)
	}
	u, err := s.store.User(ctx, e.OwnerID)
	if err != nil {
		return nil, nil, fmt.Errorf("envs: owner of %s: %w", e.ID, err)
	}
	if u, err = s.confirmMembership(ctx, u, "link"); err != nil {
		return nil, nil, err
	}
	actor = actorOf(u, address, "link")
	actor.TokenID = row.ID // audited as "link <id>"
	if u.Issuer == LocalIssuer {
		actor.Admin = true
	}
	ok, err := s.store.UseActionLink(ctx, row.ID, s.now(), actor.Name)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, Errorf(EConflict, "This link was used already. Open the environment in Mayfly to see where it stands.")
	}
	switch l.Action {
	case LinkExtend, LinkKeep:
		env, err = s.Extend(ctx, actor, e.ID, l.By.String())
	default:
		env, err = s.Destroy(ctx, actor, e.ID)
	}
	if err != nil {
		// Not spent on an action that did not happen: it may be tried again.
		if rerr := s.store.ReleaseActionLink(ctx, row.ID); rerr != nil {
			s.log.Warn("release one-click link", "link", row.ID, "err", rerr)
		}
		return nil, nil, err
	}
	return l, env, nil
}

// checkLink verifies a link's token, row and environment.
func (s *Service) checkLink(ctx context.Context, token string) (*Link, *storage.ActionLink, error) {
	id, sig, ok := strings.Cut(token, ".")
	mac, derr := base64.RawURLEncoding.DecodeString(sig)
	if !ok || derr != nil || !strings.HasPrefix(id, "lnk-") || len(id) > 64 {
		return nil, nil, errLinkInvalid
	}
	row, err := s.store.ActionLink(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, errLinkInvalid
	}
	if err != nil {
		return nil, nil, err
	}
	if !hmac.Equal(mac, s.cipher.linkMAC(row)) {
		return nil, nil, errLinkInvalid
	}
	r, err := s.store.Environment(ctx, row.EnvironmentID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, Errorf(EConflict, "The environment of this link no longer exists.")
	}
	if err != nil {
		return nil, nil, err
	}
	e := environmentFromRow(r, nil)
	now := s.now()
	switch {
	case row.UsedAt != nil:
		return nil, nil, Errorf(EConflict, "This link was used already, at %s. Open environment %s in Mayfly to see where it stands.",
			row.UsedAt.UTC().Format(time.RFC3339), e.Name)
	case !now.Before(row.ExpiresAt):
		return nil, nil, Errorf(EConflict, "This link expired at %s. Open environment %s in Mayfly instead.", row.ExpiresAt.UTC().Format(time.RFC3339), e.Name)
	case !extendable(e.Status):
		return nil, nil, Errorf(EConflict, "Environment %s is %s: there is nothing left for this link to do.", e.Name, e.Status)
	case !e.ExpiresAt.UTC().Truncate(time.Microsecond).Equal(row.Deadline.UTC()):
		return nil, nil, Errorf(EConflict, "This link was sent about the expiry at %s; environment %s now expires at %s, and a newer warning brings new links.",
			row.Deadline.UTC().Format(time.RFC3339), e.Name, e.ExpiresAt.Format(time.RFC3339))
	}
	l := &Link{Action: row.Action, Environment: e, Deadline: row.Deadline.UTC()}
	switch row.Action {
	case LinkExtend:
		p, err := s.warnPolicyOf(ctx, s.store.Queries, r.VersionID)
		if err != nil {
			return nil, nil, err
		}
		l.By = min(p.extension, e.ExtendableBy())
	case LinkKeep:
		l.By = e.ExtendableBy()
	case LinkDestroy:
	default:
		return nil, nil, errLinkInvalid
	}
	if l.Action != LinkDestroy {
		if l.By <= 0 {
			return nil, nil, Errorf(EConflict, "Environment %s is at its maximum lifetime already: it cannot be extended.", e.Name)
		}
		l.NewExpiry = e.ExpiresAt.Add(l.By)
	}
	return l, row, nil
}

// auditLink records a link's use or refusal, naming the link by its id
// only (the token is a credential).
func (s *Service) auditLink(ctx context.Context, actor Actor, action, token, detail string, err error) {
	id, _, _ := strings.Cut(token, ".")
	if len(id) > 64 || textProblem(id) != "" {
		id = "(malformed)"
	}
	entry := s.auditEntry(actor, action, id, err)
	if detail != "" {
		entry.Detail = strings.TrimSpace(detail + ": " + entry.Detail)
		if err == nil {
			entry.Detail = detail
		}
	}
	if aerr := s.store.Audit(context.WithoutCancel(ctx), entry); aerr != nil {
		s.log.Error("audit failed", "action", action, "err", aerr)
	}
}
