package envs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/storage"
)

// Delivery of notices. s.notice queues a noticeArgs job in the
// transaction of the event; its worker resolves the channels and queues
// one deliverArgs job per channel; each delivery is tried up to
// NotifyAttempts times with backoff, every attempt written to the
// delivery log. Both run on the notify queue, with workers of their own,
// and each attempt is bounded by NotifyTimeout: a channel that hangs or
// fails takes nothing from provisioning and destroying.

const notifyQueue = "notify"

// deliveryLogKept is how long the delivery log keeps an attempt (the
// reaper's sweep prunes older ones).
const deliveryLogKept = 30 * 24 * time.Hour

type noticeArgs struct {
	ID     string `json:"id" river:"unique"`
	Notice Notice `json:"notice"`
}

func (noticeArgs) Kind() string { return "notice" }

func (noticeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: notifyQueue, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type deliverArgs struct {
	NoticeID  string `json:"notice_id" river:"unique"`
	ChannelID string `json:"channel_id" river:"unique"`
	Notice    Notice `json:"notice"`
}

func (deliverArgs) Kind() string { return "notice_delivery" }

// A delivery is unique per notice and channel, so a fan-out run twice (a
// crash after it queued) queues each delivery once.
func (deliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: notifyQueue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

func (s *Service) notifyJobs(workers *river.Workers) river.QueueConfig {
	river.AddWorker(workers, &noticeWorker{s: s})
	river.AddWorker(workers, &deliverWorker{s: s})
	return river.QueueConfig{MaxWorkers: s.cfg.NotifyWorkers}
}

type noticeWorker struct {
	river.WorkerDefaults[noticeArgs]
	s *Service
}

func (w *noticeWorker) NextRetry(job *river.Job[noticeArgs]) time.Time {
	return w.s.retryDelay(job.Attempt)
}

// Work queues a delivery to every channel that hears the notice: the
// person's channels that chose its event, the team's, and the approvers'
// own (once each).
func (w *noticeWorker) Work(ctx context.Context, job *river.Job[noticeArgs]) error {
	s, n := w.s, job.Args.Notice
	var channels []storage.NotifyChannel
	if n.UserID != "" {
		rows, err := s.store.NotifyChannels(ctx, ScopeUser, []string{n.UserID})
		if err != nil {
			return err
		}
		channels = append(channels, rows...)
	}
	if n.Team != "" {
		rows, err := s.store.NotifyChannels(ctx, ScopeTeam, []string{n.Team})
		if err != nil {
			return err
		}
		channels = append(channels, rows...)
	}
	if n.Approvers != nil {
		users, err := s.store.Users(ctx)
		if err != nil {
			return err
		}
		rows, err := s.store.NotifyChannels(ctx, ScopeUser, approvers(users, *n.Approvers))
		if err != nil {
			return err
		}
		channels = append(channels, rows...)
	}
	var params []river.InsertManyParams
	seen := map[string]bool{}
	for _, c := range channels {
		if !hears(c.Events, n.Event) || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		params = append(params, river.InsertManyParams{Args: deliverArgs{NoticeID: job.Args.ID, ChannelID: c.ID, Notice: n},
			InsertOpts: &river.InsertOpts{MaxAttempts: s.cfg.NotifyAttempts}})
	}
	if len(params) == 0 {
		return nil
	}
	return s.store.InTx(ctx, func(tx *storage.Tx) error { return s.jobs.InsertManyTx(ctx, tx, params) })
}

// hears reports whether a channel listening to events ("" all) hears ev.
func hears(events string, ev NoticeEvent) bool {
	return events == "" || slices.Contains(strings.Split(events, ","), string(ev))
}

type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	s *Service
}

// NextRetry backs off: see notifyBackoff.
func (w *deliverWorker) NextRetry(job *river.Job[deliverArgs]) time.Time {
	return time.Now().Add(notifyBackoff(w.s.cfg.RetryDelay, job.Attempt))
}

// notifyBackoff is the wait after a failed attempt: base, doubled with
// every attempt, at most an hour.
func notifyBackoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Work makes one attempt and logs it; a failure is retried (River's
// backoff, NextRetry) until the job's attempts are used up.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	s := w.s
	c, err := s.store.NotifyChannel(ctx, job.Args.ChannelID)
	if errors.Is(err, storage.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("channel %s was removed", job.Args.ChannelID))
	}
	if err != nil {
		return err
	}
	m := s.message(ctx, job.Args.NoticeID, job.Args.Notice)
	sctx, cancel := context.WithTimeout(ctx, s.cfg.NotifyTimeout)
	code, sendErr := s.send(sctx, c, m)
	cancel()
	final := sendErr == nil || job.Attempt >= job.MaxAttempts
	d := &storage.NotifyDelivery{ID: "dlv_" + strings.ToLower(randomID(20)), NoticeID: job.Args.NoticeID, ChannelID: c.ID,
		Scope: c.Scope, Owner: c.Owner, Kind: c.Kind, Target: c.Target, Event: string(job.Args.Notice.Event),
		EnvironmentID: job.Args.Notice.EnvironmentID, Attempt: job.Attempt, Final: final, OK: sendErr == nil,
		StatusCode: code, At: s.now()}
	if sendErr != nil {
		d.Error = oneLine(sendErr.Error())
		if len(d.Error) > 500 {
			d.Error = d.Error[:500] + "…"
		}
	}
	rctx, rcancel := recordCtx(ctx)
	defer rcancel()
	if err := s.store.AddNotifyDelivery(rctx, d); err != nil {
		s.log.Error("record delivery", "notice", job.Args.NoticeID, "channel", c.ID, "err", err)
	}
	if sendErr != nil {
		s.log.Warn("notice not delivered", "notice", job.Args.NoticeID, "channel", c.ID, "kind", c.Kind,
			"attempt", job.Attempt, "final", final, "err", d.Error)
		return fmt.Errorf("deliver %s to %s: %s", job.Args.NoticeID, c.ID, d.Error)
	}
	return nil
}

// message is a notice as the channels say it, with a summary of its
// environment as it is now.
func (s *Service) message(ctx context.Context, id string, n Notice) notify.Message {
	m := notify.Message{ID: id, Event: string(n.Event), Subject: n.Subject, Text: n.Text, At: n.At}
	for _, l := range n.Links {
		m.Links = append(m.Links, notify.Link{Label: l.Label, URL: l.URL})
	}
	if n.EnvironmentID != "" {
		if r, err := s.store.Environment(ctx, n.EnvironmentID); err == nil {
			m.Environment = &notify.Environment{ID: r.ID, Name: r.Name, Owner: r.Owner, Team: r.Team,
				Template: r.TemplateName, Version: r.Version, Status: r.Status, URL: s.environmentURL(r.ID)}
		}
	}
	return m
}

// send delivers m to channel c.
func (s *Service) send(ctx context.Context, c *storage.NotifyChannel, m notify.Message) (int, error) {
	secret, err := s.channelSecret(c)
	if err != nil {
		return 0, err
	}
	// Signed with the wall clock, not the service's (a test's may be days
	// off): receivers check the timestamp against theirs.
	h := s.cfg.NotifyHTTP
	switch c.Kind {
	case ChannelWebhook:
		return h.Webhook(ctx, c.Target, secret, m)
	case ChannelSlack:
		return h.Slack(ctx, secret, m)
	case ChannelEmail:
		return 0, s.cfg.SMTP.Send(ctx, c.Target, m)
	}
	return 0, fmt.Errorf("envs: channel %s has an unknown kind %q", c.ID, c.Kind)
}

func (s *Service) channelSecret(c *storage.NotifyChannel) (string, error) {
	if len(c.Secret) == 0 {
		return "", nil
	}
	plain, err := s.cipher.Open(c.Secret, channelAD(c.ID))
	if err != nil {
		return "", fmt.Errorf("envs: channel %s: secret: %w", c.ID, err)
	}
	return string(plain), nil
}

// channelAD binds a channel's sealed secret to the channel: copied onto
// another row, it does not open.
func channelAD(id string) []byte { return []byte("notify-channel " + id) }
