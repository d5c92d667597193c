package envs

import (
	"context"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// NoticeEvent names a lifecycle event that people are told about through
// their notification channels (webhooks, Slack, e-mail), beyond the
// timeline. The values are the events' names in webhook payloads and in
// preferences, so they never change.
type NoticeEvent string

const (
	NoticeReady             NoticeEvent = "environment.ready"
	NoticeFailed            NoticeEvent = "environment.failed"
	NoticeExpiringSoon      NoticeEvent = "environment.expiring"
	NoticeDestroyed         NoticeEvent = "environment.destroyed"
	NoticeDestroyFailed     NoticeEvent = "environment.destroy_failed"
	NoticeDrillResult       NoticeEvent = "environment.drill"
	NoticeDrift             NoticeEvent = "environment.drift"
	NoticeInactiveSoon      NoticeEvent = "environment.inactive"
	NoticeApprovalRequested NoticeEvent = "approval.requested"
)

// NoticeEvents lists every event, in the order settings pages show them.
var NoticeEvents = []NoticeEvent{
	NoticeReady, NoticeFailed, NoticeExpiringSoon, NoticeInactiveSoon, NoticeDestroyed,
	NoticeDestroyFailed, NoticeDrillResult, NoticeDrift, NoticeApprovalRequested,
}

// A Notice is one event about one environment (or one approval request),
// for its owner's channels and its team's. Links are absolute URLs, such
// as the signed one-click actions of an expiry warning.
type Notice struct {
	Event         NoticeEvent
	EnvironmentID string
	// UserID is whose channels hear it (the owner, or the approvers of an
	// approval request); TeamID adds the team's channels ("" none).
	UserID, TeamID string
	Subject        string
	Text           string
	Links          []NoticeLink
	At             time.Time
}

// A NoticeLink is an action or page a notice offers.
type NoticeLink struct {
	Label, URL string
}

// notice queues n for delivery to its recipients' channels, in the
// caller's transaction, so that an event committed is an event delivered
// (delivery runs as jobs of its own, retried with backoff, and never
// delays the transaction's own work, such as a destroy).
//
// Contract for the notification channels (issue 13, item 2), which
// replace this body: every caller commits the notice with its event.
func (s *Service) notice(ctx context.Context, tx *storage.Tx, n Notice) error {
	return nil
}
