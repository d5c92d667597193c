package envs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Approvals: a launch or an extend refused by a quota may be asked for
// again as an approval request. An administrator, or for a team's limit
// one of the team's admins (its members with the author role or above),
// other than the requester approves it, and it is carried out then, once,
// with the requester's rights as they were when they asked (the request
// is kept sealed: its parameters may be secrets); or they deny it. Each
// step is audited, and a request is announced with a notice.

// Approval kinds and states.
const (
	ApprovalLaunch = "launch"
	ApprovalExtend = "extend"

	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
)

// ApprovalRequest asks for a refused launch or extend to be approved.
type ApprovalRequest struct {
	Kind string // ApprovalLaunch or ApprovalExtend
	// Launch is the launch to carry out (kind launch).
	Launch LaunchRequest
	// EnvironmentID and TTL are the extend (kind extend).
	EnvironmentID string
	TTL           string
	// Reason is the requester's why, for the approvers.
	Reason string
}

// Approval is an approval request as people see it.
type Approval struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"`
	Status        string     `json:"status"`
	Requester     string     `json:"requester"`
	RequesterID   string     `json:"requester_id,omitempty"`
	Team          string     `json:"team,omitempty"` // the team whose limit was hit ("": a user's)
	Template      string     `json:"template,omitempty"`
	EnvironmentID string     `json:"environment_id,omitempty"`
	TTL           string     `json:"ttl,omitempty"`
	Limit         string     `json:"limit"`
	Reason        string     `json:"reason,omitempty"`
	Cost          Money      `json:"-"` // what it is projected to cost over the quota window
	CreatedAt     time.Time  `json:"created_at"`
	DecidedBy     string     `json:"decided_by,omitempty"`
	DecidedAt     *time.Time `json:"decided_at,omitempty"`
	// Result is the launched environment (approved launch), or the
	// reason for a denial.
	Result string `json:"result,omitempty"`
	// Mine: the viewer asked for it; CanDecide: the viewer may decide it.
	Mine      bool `json:"-"`
	CanDecide bool `json:"-"`
}

// actorRecord is a requester as they were, kept with the request.
type actorRecord struct {
	Name    string   `json:"name"`
	Team    string   `json:"team,omitempty"`
	UserID  string   `json:"user_id,omitempty"`
	Issuer  string   `json:"issuer,omitempty"`
	Subject string   `json:"subject,omitempty"`
	Role    Role     `json:"role,omitempty"`
	Teams   []string `json:"teams,omitempty"`
	Admin   bool     `json:"admin,omitempty"`
	Via     string   `json:"via,omitempty"`
	TokenID string   `json:"token_id,omitempty"`
}

func recordOf(a Actor) actorRecord {
	return actorRecord{Name: a.Name, Team: a.Team, UserID: a.UserID, Issuer: a.Issuer, Subject: a.Subject,
		Role: a.Role, Teams: a.Teams, Admin: a.Admin, Via: a.Via, TokenID: a.TokenID}
}

func (r actorRecord) actor(address string) Actor {
	return Actor{Name: r.Name, Team: r.Team, UserID: r.UserID, Issuer: r.Issuer, Subject: r.Subject,
		Role: r.Role, Teams: r.Teams, Admin: r.Admin, Via: r.Via, TokenID: r.TokenID, Address: address}
}

// sealedLaunch is a launch request as sealed with its approval request.
type sealedLaunch struct {
	Template string            `json:"template"`
	Version  string            `json:"version,omitempty"`
	Name     string            `json:"name,omitempty"`
	Params   map[string]any    `json:"params,omitempty"`
	TTL      string            `json:"ttl,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

func approvalAAD(id string) []byte { return []byte("approval:" + id) }

// RequestApproval records a request to carry out a launch or an extend
// past the quota that refuses it. A request that no quota refuses is
// refused (EConflict: just do it); an invalid one is refused as the
// launch or extend would be.
func (s *Service) RequestApproval(ctx context.Context, actor Actor, req ApprovalRequest) (ap *Approval, err error) {
	target := req.EnvironmentID
	if req.Kind == ApprovalLaunch {
		target = req.Launch.Template
	}
	id := "apr-" + strings.ToLower(randomID(10))
	defer func() {
		if err != nil {
			s.audit(ctx, actor, "approval.request", target, err)
		}
	}()
	if err := Authorize(actor, PermLaunch); err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.Reason)
	if len(reason) > 1000 {
		return nil, Invalid("approval request is not valid", FieldError{Field: "reason", Message: "must be at most 1000 bytes"})
	}
	row := &storage.QuotaApproval{ID: id, Kind: req.Kind, Status: ApprovalPending, Requester: actor.Name, RequesterID: actor.UserID,
		Reason: reason, CreatedAt: s.now()}
	rec, _ := json.Marshal(recordOf(actor)) // plain strings always marshal
	row.Actor = string(rec)
	var change func(tx *storage.Tx) (quotaChange, error)
	switch req.Kind {
	case ApprovalLaunch:
		_, _, envRow, err := s.prepareLaunch(ctx, actor, req.Launch)
		if err != nil {
			return nil, err
		}
		l := req.Launch
		plain, _ := json.Marshal(sealedLaunch{Template: l.Template, Version: l.Version, Name: l.Name, Params: l.Params, TTL: l.TTL, Labels: l.Labels})
		if row.Request, err = s.cipher.Seal(plain, approvalAAD(id)); err != nil {
			return nil, err
		}
		row.TemplateName, row.TTL = envRow.TemplateName, req.Launch.TTL
		row.CostMicros = int64(projected(Money(envRow.HourlyCostMicros), envRow.CreatedAt, envRow.ExpiresAt))
		change = func(*storage.Tx) (quotaChange, error) { return changeOfRow(envRow, 1), nil }
	case ApprovalExtend:
		d, perr := time.ParseDuration(req.TTL)
		if perr != nil || d <= 0 {
			return nil, Invalid("approval request is not valid", FieldError{Field: "ttl", Message: fmt.Sprintf("%q is not a positive duration such as 30m or 1h", req.TTL)})
		}
		row.EnvironmentID, row.TTL = req.EnvironmentID, req.TTL
		change = func(tx *storage.Tx) (quotaChange, error) {
			r, err := tx.Environment(ctx, req.EnvironmentID)
			if errors.Is(err, storage.ErrNotFound) {
				return quotaChange{}, Errorf(ENotFound, "environment %q does not exist", req.EnvironmentID)
			}
			if err != nil {
				return quotaChange{}, err
			}
			e := environmentFromRow(r, nil)
			if err := CanActOn(actor, e); err != nil {
				return quotaChange{}, err
			}
			if !e.Status.Live() {
				return quotaChange{}, Errorf(EConflict, "environment %s is %s and can no longer be extended", e.Name, e.Status)
			}
			next := e.ExpiresAt.Add(d)
			if next.After(e.MaxExpiresAt) {
				return quotaChange{}, Invalid("approval request is not valid", FieldError{Field: "ttl", Message: fmt.Sprintf(
					"extending by %s would pass the maximum lifetime (%s)", FormatDuration(d), e.MaxExpiresAt.Format(time.RFC3339))})
			}
			row.TemplateName = r.TemplateName
			row.CostMicros = int64(Money(r.HourlyCostMicros).Over(d))
			c := changeOfRow(r, 0)
			c.expires = next
			return c, nil
		}
	default:
		return nil, Invalid("approval request is not valid", FieldError{Field: "kind", Message: fmt.Sprintf("%q is not launch or extend", req.Kind)})
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		c, err := change(tx)
		if err != nil {
			return err
		}
		refusal, err := s.checkQuota(ctx, tx, c)
		if err != nil {
			return err
		}
		if refusal == nil {
			return Errorf(EConflict, "no quota refuses this %s: %s it without an approval", req.Kind, req.Kind)
		}
		row.LimitText = refusal.Text
		if refusal.Scope == QuotaTeam {
			row.Team = refusal.Name
		}
		if err := tx.CreateApproval(ctx, row); err != nil {
			return err
		}
		what := fmt.Sprintf("launch %s", row.TemplateName)
		if req.Kind == ApprovalExtend {
			what = fmt.Sprintf("extend %s by %s", row.EnvironmentID, row.TTL)
		}
		text := fmt.Sprintf("%s asks to %s past a quota: %s.", actor.Name, what, refusal.Text)
		if reason != "" {
			text += " Reason: " + reason
		}
		text += " Approve or deny it on the Approvals page."
		// To the deciders' own channels only: a team's channel may be
		// the requester's too.
		n := Notice{Event: NoticeApprovalRequested, Subject: "Approval requested: " + what, Text: text, At: row.CreatedAt,
			Approvers: &NoticeApprovers{Team: row.Team, RequesterID: row.RequesterID, RequesterName: row.Requester}}
		if u := s.approvalsURL(); u != "" {
			n.Links = []NoticeLink{{Label: "Approve or deny " + id + " in Mayfly", URL: u}}
		}
		if err := s.notice(ctx, tx, n); err != nil {
			return err
		}
		return tx.Audit(ctx, s.auditEntry(actor, "approval.request", id, nil))
	})
	if err != nil {
		return nil, err
	}
	a := approvalFromRow(*row, actor)
	return &a, nil
}

// Approvals lists the requests the actor may see: administrators every
// one; others their own and those they may decide (their teams' limits,
// as a team's admin).
func (s *Service) Approvals(ctx context.Context, actor Actor) ([]Approval, error) {
	if err := Authorize(actor, PermLaunch); err != nil {
		return nil, err
	}
	rows, err := s.store.Approvals(ctx, nil, 200)
	if err != nil {
		return nil, err
	}
	var out []Approval
	for _, r := range rows {
		a := approvalFromRow(r, actor)
		if actor.IsAdmin() || a.Mine || mayDecide(actor, r) {
			out = append(out, a)
		}
	}
	return out, nil
}

// GetApproval loads one request as the actor may see it.
func (s *Service) GetApproval(ctx context.Context, actor Actor, id string) (*Approval, error) {
	r, err := s.store.Approval(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "approval request %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	a := approvalFromRow(*r, actor)
	if !actor.IsAdmin() && !a.Mine && !mayDecide(actor, *r) {
		return nil, Errorf(ENotFound, "approval request %q does not exist", id)
	}
	return &a, nil
}

func approvalFromRow(r storage.QuotaApproval, viewer Actor) Approval {
	a := Approval{ID: r.ID, Kind: r.Kind, Status: r.Status, Requester: r.Requester, RequesterID: r.RequesterID, Team: r.Team,
		Template: r.TemplateName, EnvironmentID: r.EnvironmentID, TTL: r.TTL, Limit: r.LimitText, Reason: r.Reason,
		Cost: Money(r.CostMicros), CreatedAt: r.CreatedAt.UTC(), DecidedBy: r.DecidedBy, DecidedAt: utcPtr(r.DecidedAt), Result: r.Result}
	a.Mine = requestedBy(viewer, r)
	a.CanDecide = r.Status == ApprovalPending && !a.Mine && mayDecide(viewer, r)
	return a
}

// requestedBy reports whether a asked for r: by user id when both have
// one, else by name.
func requestedBy(a Actor, r storage.QuotaApproval) bool {
	if a.UserID != "" && r.RequesterID != "" {
		return a.UserID == r.RequesterID
	}
	return a.Name == r.Requester
}

// mayDecide: administrators decide every request; a team's admins (its
// members with the author role or above) those of the team's limit.
func mayDecide(a Actor, r storage.QuotaApproval) bool {
	if a.IsAdmin() {
		return true
	}
	return r.Team != "" && a.EffectiveRole().AtLeast(RoleAuthor) && slices.Contains(a.Teams, r.Team)
}

// decidable loads a pending request the actor may decide.
func (s *Service) decidable(ctx context.Context, actor Actor, id string) (*storage.QuotaApproval, error) {
	if err := Authorize(actor, PermLaunch); err != nil {
		return nil, err
	}
	r, err := s.store.Approval(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "approval request %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	if requestedBy(actor, *r) {
		return nil, Errorf(EForbidden, "you asked for this approval: someone else must decide it")
	}
	if !mayDecide(actor, *r) {
		if r.Team != "" {
			return nil, Errorf(EForbidden, "only an administrator or an admin of team %s can decide this request", r.Team)
		}
		return nil, Errorf(EForbidden, "only an administrator can decide this request")
	}
	if r.Status != ApprovalPending {
		return nil, Errorf(EConflict, "approval request %s was %s already by %s", id, r.Status, r.DecidedBy)
	}
	return r, nil
}

// Approve approves a pending request and carries it out, once: the
// launch or extend runs as the requester, past the quotas, in the
// transaction that marks the request approved (so a second approval, or
// two at once, find it decided). A launch or extend that fails (the name
// was taken meanwhile, the environment is gone) leaves it pending.
func (s *Service) Approve(ctx context.Context, actor Actor, id string) (ap *Approval, env *Environment, err error) {
	defer func() { s.audit(ctx, actor, "approval.approve", id, err) }()
	r, err := s.decidable(ctx, actor, id)
	if err != nil {
		return nil, nil, err
	}
	var rec actorRecord
	if err := json.Unmarshal([]byte(r.Actor), &rec); err != nil {
		return nil, nil, fmt.Errorf("envs: approval %s: requester: %w", id, err)
	}
	requester := rec.actor(actor.Address)
	decide := func(tx *storage.Tx, result string) error {
		ok, err := tx.DecideApproval(ctx, id, ApprovalApproved, actor.Name, s.now(), result)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(EConflict, "approval request %s was decided already", id)
		}
		return s.noticeDecided(ctx, tx, r, actor, ApprovalApproved, "")
	}
	switch r.Kind {
	case ApprovalLaunch:
		plain, err := s.cipher.Open(r.Request, approvalAAD(id))
		if err != nil {
			return nil, nil, fmt.Errorf("envs: approval %s: request: %w", id, err)
		}
		var l sealedLaunch
		if err := json.Unmarshal(plain, &l); err != nil {
			return nil, nil, fmt.Errorf("envs: approval %s: request: %w", id, err)
		}
		req := LaunchRequest{Template: l.Template, Version: l.Version, Name: l.Name, Params: l.Params, TTL: l.TTL, Labels: l.Labels, approval: id}
		env, err = s.launch(ctx, requester, req, func(tx *storage.Tx, envID string) error { return decide(tx, envID) })
		if err != nil {
			return nil, nil, err
		}
	case ApprovalExtend:
		env, err = s.extend(ctx, requester, r.EnvironmentID, r.TTL, func(tx *storage.Tx) error {
			if err := decide(tx, r.EnvironmentID); err != nil {
				return err
			}
			return s.addEvent(ctx, tx, r.EnvironmentID, EventAction, "", fmt.Sprintf("Extend past a quota approved by %s (approval %s)", actor.Name, id), actor.Name)
		})
		if err != nil {
			return nil, nil, err
		}
		s.audit(ctx, requester, "environment.extend", r.EnvironmentID, nil)
		s.Touch(r.EnvironmentID, ViaExtend)
	default:
		return nil, nil, fmt.Errorf("envs: approval %s: unknown kind %q", id, r.Kind)
	}
	ap, err = s.GetApproval(ctx, actor, id)
	return ap, env, err
}

// Deny denies a pending request, with an optional reason for the
// requester.
func (s *Service) Deny(ctx context.Context, actor Actor, id, reason string) (ap *Approval, err error) {
	defer func() { s.audit(ctx, actor, "approval.deny", id, err) }()
	r, err := s.decidable(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > 1000 {
		return nil, Invalid("denial is not valid", FieldError{Field: "reason", Message: "must be at most 1000 bytes"})
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.DecideApproval(ctx, id, ApprovalDenied, actor.Name, s.now(), reason)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(EConflict, "approval request %s was decided already", id)
		}
		return s.noticeDecided(ctx, tx, r, actor, ApprovalDenied, reason)
	})
	if err != nil {
		return nil, err
	}
	return s.GetApproval(ctx, actor, id)
}

// noticeDecided tells the requester how their request was decided, in
// the decision's transaction.
func (s *Service) noticeDecided(ctx context.Context, tx *storage.Tx, r *storage.QuotaApproval, decider Actor, status, reason string) error {
	what := "launch " + r.TemplateName
	if r.Kind == ApprovalExtend {
		what = fmt.Sprintf("extend %s by %s", r.EnvironmentID, r.TTL)
	}
	text := fmt.Sprintf("%s %s your request %s to %s.", decider.Name, status, r.ID, what)
	if reason != "" {
		text += " Reason: " + reason
	}
	n := Notice{Event: NoticeApprovalDecided, UserID: r.RequesterID, EnvironmentID: r.EnvironmentID,
		Subject: fmt.Sprintf("Request to %s %s", what, status), Text: text, At: s.now()}
	if u := s.approvalsURL(); u != "" {
		n.Links = []NoticeLink{{Label: "Your requests in Mayfly", URL: u}}
	}
	return s.notice(ctx, tx, n)
}
