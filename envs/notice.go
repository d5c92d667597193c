package envs

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Notices are what people are told about beyond the timeline: an
// environment ready, failed or about to expire, an approval waiting. The
// code that records the event calls s.notice inside the same transaction,
// so a notice exists exactly when its event does, once however many
// replicas run; delivery to the channels (webhooks, Slack, e-mail) happens
// later, in jobs of its own, so that a failing channel never delays what
// caused the notice.

// NoticeEvent names what a notice is about, as channels and preferences
// name it.
type NoticeEvent string

const (
	NoticeReady             NoticeEvent = "environment.ready"
	NoticeFailed            NoticeEvent = "environment.failed"
	NoticeExpiringSoon      NoticeEvent = "environment.expiring"
	NoticeDestroyed         NoticeEvent = "environment.destroyed"
	NoticeDestroyFailed     NoticeEvent = "environment.destroy_failed"
	NoticeDrill             NoticeEvent = "environment.drill"
	NoticeDrift             NoticeEvent = "environment.drift"
	NoticeInactiveSoon      NoticeEvent = "environment.inactive"
	NoticeApprovalRequested NoticeEvent = "approval.requested"
	NoticeApprovalDecided   NoticeEvent = "approval.decided"
)

// Notice is one thing to tell: who it is for (a user's channels, a
// team's channels, or both), what to say and the links to act on it.
// Links are absolute URLs; a signed one-click link is one of them.
type Notice struct {
	Event         NoticeEvent
	EnvironmentID string // empty when the notice is not about one
	UserID        string // the person told (a user id); empty: nobody in person
	Team          string // the team (by name) whose channels are told; empty: none
	// Approvers, when set, also tells the people who may decide an
	// approval request, each on their own channels (see approvers).
	Approvers *NoticeApprovers `json:",omitempty"`
	Subject   string           // one line, e.g. an e-mail's subject
	Text      string           // the message, plain text
	Links     []NoticeLink
	At        time.Time
}

// NoticeApprovers addresses the deciders of an approval request: the
// administrators and, for a team's limit, the team's admins (its members
// with the author role or above); never the requester. They are resolved
// when the notice goes out, from the users as they are then.
type NoticeApprovers struct {
	Team          string `json:"team,omitempty"` // the team whose limit was hit ("": a user's)
	RequesterID   string `json:"requester_id,omitempty"`
	RequesterName string `json:"requester_name,omitempty"`
}

// NoticeLink is an action offered with a notice.
type NoticeLink struct {
	Label string
	URL   string
}

// notice queues n for delivery in tx, the transaction that records its
// event: one fan-out job, which resolves the channels (the person's, per
// their choice of events, and the team's) and queues one delivery job per
// channel (see notify_jobs.go). Queued on a queue of its own, it never
// holds up the orchestrator's jobs.
func (s *Service) notice(ctx context.Context, tx *storage.Tx, n Notice) error {
	if n.UserID == "" && n.Team == "" && n.Approvers == nil {
		return nil // nobody to tell
	}
	// Most events have no channel to go to: no job for them. A channel
	// added after this look would not have heard the event anyway. (The
	// approvers are only known in the fan-out: an approval request, rare,
	// always gets its job.)
	if n.Approvers == nil {
		if ok, err := tx.HasNotifyChannels(ctx, n.UserID, n.Team); err != nil || !ok {
			return err
		}
	}
	if n.At.IsZero() {
		n.At = s.now()
	}
	args := noticeArgs{ID: "ntc_" + strings.ToLower(randomID(20)), Notice: n}
	return s.jobs.InsertTx(ctx, tx, args, nil)
}

// envNotice is a notice about environment r, for its owner and its team,
// with a link to its page.
func (s *Service) envNotice(r *storage.Environment, ev NoticeEvent, subject, text string) Notice {
	n := Notice{Event: ev, EnvironmentID: r.ID, UserID: r.OwnerID, Team: r.Team, Subject: oneLine(subject),
		Text: text, At: s.now()}
	if u := s.environmentURL(r.ID); u != "" {
		n.Links = append(n.Links, NoticeLink{Label: "Open " + r.Name + " in Mayfly", URL: u})
	}
	return n
}

// environmentURL is the absolute URL of an environment's page ("" when
// no external URL is configured).
func (s *Service) environmentURL(id string) string {
	if s.cfg.ExternalURL == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.ExternalURL, "/") + "/environments/" + url.PathEscape(id)
}

// approvalsURL is the absolute URL of the approvals page ("" when no
// external URL is configured).
func (s *Service) approvalsURL() string {
	if s.cfg.ExternalURL == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.ExternalURL, "/") + "/approvals"
}

// approvers are the ids of the users who may decide a request addressed
// by a: mayDecide as each user's own actor, minus the requester, minus
// anyone whose identity provider refused them at the last re-check.
func approvers(users []storage.User, a NoticeApprovers) []string {
	req := storage.QuotaApproval{Team: a.Team, RequesterID: a.RequesterID, Requester: a.RequesterName}
	var ids []string
	for i := range users {
		u := &users[i]
		if u.CheckResult == CheckRefused {
			continue
		}
		actor := actorOf(u, "", "notice")
		actor.Admin = u.Issuer == LocalIssuer // the local administrator (see LocalAdmin)
		if requestedBy(actor, req) || !mayDecide(actor, req) {
			continue
		}
		ids = append(ids, u.ID)
	}
	return ids
}
