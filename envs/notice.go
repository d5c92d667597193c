package envs

import (
	"context"
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
)

// Notice is one thing to tell: who it is for (a user's channels, a
// team's channels, or both), what to say and the links to act on it.
// Links are absolute URLs; a signed one-click link is one of them.
type Notice struct {
	Event         NoticeEvent
	EnvironmentID string // empty when the notice is not about one
	UserID        string // the person told (a user id); empty: nobody in person
	Team          string // the team (by name) whose channels are told; empty: none
	Subject       string // one line, e.g. an e-mail's subject
	Text          string // the message, plain text
	Links         []NoticeLink
	At            time.Time
}

// NoticeLink is an action offered with a notice.
type NoticeLink struct {
	Label string
	URL   string
}

// notice queues n for delivery in tx, the transaction that records its
// event.
//
// Delivery is not built yet: the notification channels replace this body.
func (s *Service) notice(ctx context.Context, tx *storage.Tx, n Notice) error {
	_, _, _ = ctx, tx, n
	return nil
}
