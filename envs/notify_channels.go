package envs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/storage"
)

// Notification channels: where a person's or a team's notices go. A
// person keeps their own (a webhook, a Slack webhook, an e-mail address),
// each hearing the events they chose; a team's channels hear the notices
// of the team's environments and are set by administrators and by the
// team's members who are authors or above. Secrets (a webhook's signing
// secret, a Slack URL) are sealed with the secret key and never shown
// back.

// Channel kinds.
const (
	ChannelWebhook = "webhook"
	ChannelSlack   = "slack"
	ChannelEmail   = "email"
)

// Channel scopes.
const (
	ScopeUser = "user"
	ScopeTeam = "team"
)

// NoticeEvents are the events a channel may hear, in the order the
// settings page lists them, with what people call them.
var NoticeEvents = []struct {
	Event NoticeEvent
	Label string
}{
	{NoticeReady, "Ready"},
	{NoticeFailed, "Launch failed"},
	{NoticeExpiringSoon, "Expiring soon"},
	{NoticeInactiveSoon, "Inactive: destroyed soon"},
	{NoticeDestroyed, "Destroyed"},
	{NoticeDestroyFailed, "Destroy failed (given up)"},
	{NoticeDrill, "DR drill result"},
	{NoticeDrift, "Drift detected"},
	{NoticeApprovalRequested, "Approval requested"},
	{NoticeApprovalDecided, "Approval decided (your requests)"},
}

// Channel is a notification channel as people see it: never its secret.
type Channel struct {
	ID    string `json:"id"`
	Scope string `json:"scope"`
	Team  string `json:"team,omitempty"`
	Kind  string `json:"kind"`
	// Target is the webhook's URL, the e-mail address, or for Slack only
	// the host (the URL is a credential).
	Target    string        `json:"target"`
	Events    []NoticeEvent `json:"events"` // empty: every event
	HasSecret bool          `json:"has_secret"`
	CreatedBy string        `json:"created_by"`
	CreatedAt time.Time     `json:"created_at"`
}

// ChannelRequest adds a channel: the actor's own (Scope "user", the
// default) or Team's.
type ChannelRequest struct {
	Scope  string
	Team   string
	Kind   string
	URL    string // webhook, slack
	Email  string // email
	Secret string // webhook: whsec_...; "" generates one
	Events []string
}

// Delivery is one attempt of the delivery log.
type Delivery struct {
	NoticeID      string    `json:"notice_id"`
	ChannelID     string    `json:"channel_id"`
	Scope         string    `json:"scope"`
	Owner         string    `json:"owner"`
	Kind          string    `json:"kind"`
	Target        string    `json:"target"`
	Event         string    `json:"event"`
	EnvironmentID string    `json:"environment_id,omitempty"`
	Attempt       int       `json:"attempt"`
	Final         bool      `json:"final"`
	OK            bool      `json:"ok"`
	StatusCode    int       `json:"status_code,omitempty"`
	Error         string    `json:"error,omitempty"`
	At            time.Time `json:"at"`
}

// EmailConfigured reports whether e-mail channels can be added.
func (s *Service) EmailConfigured() bool { return s.cfg.SMTP.Configured() }

// NotifyChannels lists the actor's own channels and those of their teams
// (every team's for an administrator).
func (s *Service) NotifyChannels(ctx context.Context, actor Actor) ([]Channel, error) {
	if err := Authorize(actor, PermRead); err != nil {
		return nil, err
	}
	var rows []storage.NotifyChannel
	if actor.UserID != "" {
		own, err := s.store.NotifyChannels(ctx, ScopeUser, []string{actor.UserID})
		if err != nil {
			return nil, err
		}
		rows = append(rows, own...)
	}
	if actor.IsAdmin() {
		all, err := s.store.AllNotifyChannels(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			if c.Scope == ScopeTeam {
				rows = append(rows, c)
			}
		}
	} else {
		teams, err := s.store.NotifyChannels(ctx, ScopeTeam, actor.Teams)
		if err != nil {
			return nil, err
		}
		rows = append(rows, teams...)
	}
	out := make([]Channel, 0, len(rows))
	for i := range rows {
		out = append(out, channelFromRow(&rows[i]))
	}
	return out, nil
}

func channelFromRow(c *storage.NotifyChannel) Channel {
	ch := Channel{ID: c.ID, Scope: c.Scope, Kind: c.Kind, Target: c.Target, HasSecret: len(c.Secret) > 0,
		CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt.UTC(), Events: []NoticeEvent{}}
	if c.Scope == ScopeTeam {
		ch.Team = c.Owner
	}
	for _, e := range splitNames(c.Events) {
		ch.Events = append(ch.Events, NoticeEvent(e))
	}
	return ch
}

// AddNotifyChannel adds a channel; secret is the webhook's signing secret
// when Mayfly generated it (shown once, to configure the receiver), else
// "".
func (s *Service) AddNotifyChannel(ctx context.Context, actor Actor, req ChannelRequest) (ch Channel, secret string, err error) {
	target := "user"
	defer func() { s.audit(ctx, actor, "notify.channel.add", target, err) }()
	row, secret, err := s.checkChannel(actor, req)
	if err != nil {
		return Channel{}, "", err
	}
	target = row.Scope + ":" + row.Owner + " " + row.Kind + " " + row.ID
	if err := s.store.CreateNotifyChannel(ctx, row); err != nil {
		return Channel{}, "", err
	}
	return channelFromRow(row), secret, nil
}

// checkChannel validates a request into a row with its secret sealed.
func (s *Service) checkChannel(actor Actor, req ChannelRequest) (*storage.NotifyChannel, string, error) {
	if err := Authorize(actor, PermRead); err != nil {
		return nil, "", err
	}
	id := "ch_" + strings.ToLower(randomID(16))
	row := &storage.NotifyChannel{ID: id, Scope: cmpOr(strings.TrimSpace(req.Scope), ScopeUser), Kind: strings.TrimSpace(req.Kind),
		CreatedBy: actor.Name, CreatedAt: s.now()}
	var fields []FieldError
	bad := func(field, msg string) { fields = append(fields, FieldError{Field: field, Message: msg}) }
	switch row.Scope {
	case ScopeUser:
		if actor.UserID == "" {
			return nil, "", Errorf(EConflict, "notification channels of your own need a signed-in user; %s has no user id", actor.Name)
		}
		row.Owner = actor.UserID
	case ScopeTeam:
		team := strings.TrimSpace(req.Team)
		if msg := textProblem(team); team == "" || msg != "" || len(team) > 200 {
			return nil, "", Invalid("channel is not valid", FieldError{Field: "team", Message: cmpOr(msg, "is required for a team's channel (at most 200 bytes)")})
		}
		if err := canSetTeamChannels(actor, team); err != nil {
			return nil, "", err
		}
		row.Owner = team
	default:
		bad("scope", fmt.Sprintf("%q is not user or team", req.Scope))
	}
	var secret, generated string
	switch row.Kind {
	case ChannelWebhook:
		if msg := checkHookURL(req.URL); msg != "" {
			bad("url", msg)
		}
		row.Target = strings.TrimSpace(req.URL)
		secret = strings.TrimSpace(req.Secret)
		if secret == "" {
			secret = notify.NewSecret()
			generated = secret
		} else if msg := notify.CheckSecret(secret); msg != "" {
			bad("secret", msg)
		}
	case ChannelSlack:
		if msg := checkHookURL(req.URL); msg != "" {
			bad("url", msg)
		}
		secret = strings.TrimSpace(req.URL)
		if u, err := url.Parse(secret); err == nil {
			row.Target = u.Host
		}
		if req.Secret != "" {
			bad("secret", "a Slack webhook has no signing secret: its URL is the secret")
		}
	case ChannelEmail:
		addr := strings.TrimSpace(req.Email)
		switch {
		case !s.cfg.SMTP.Configured():
			bad("email", "e-mail is not configured on this server (--smtp-host, --smtp-from)")
		case addr == "":
			bad("email", "is required for an e-mail channel")
		default:
			if msg := notify.CheckAddress(addr); msg != "" {
				bad("email", msg)
			}
		}
		row.Target = addr
	default:
		bad("kind", fmt.Sprintf("%q is not webhook, slack or email", req.Kind))
	}
	var events []string
	for _, e := range req.Events {
		e = strings.TrimSpace(e)
		if e == "" || slices.Contains(events, e) {
			continue
		}
		if !slices.ContainsFunc(NoticeEvents, func(k struct {
			Event NoticeEvent
			Label string
		}) bool {
			return string(k.Event) == e
		}) {
			bad("events", fmt.Sprintf("%q is not an event; the events are %s", e, eventNames()))
			continue
		}
		events = append(events, e)
	}
	row.Events = strings.Join(events, ",")
	if len(fields) > 0 {
		return nil, "", Invalid("channel is not valid", fields...)
	}
	if secret != "" {
		sealed, err := s.cipher.Seal([]byte(secret), channelAD(id))
		if err != nil {
			return nil, "", err
		}
		row.Secret = sealed
	}
	return row, generated, nil
}

func eventNames() string {
	names := make([]string, 0, len(NoticeEvents))
	for _, e := range NoticeEvents {
		names = append(names, string(e.Event))
	}
	return strings.Join(names, ", ")
}

// checkHookURL reports what is wrong with a webhook's URL ("": nothing).
func checkHookURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "is required (an http or https URL)"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "is not an http or https URL"
	}
	if u.User != nil {
		return "must not carry a user or password"
	}
	if len(raw) > 2000 {
		return "is longer than 2000 bytes"
	}
	return ""
}

// canSetTeamChannels: administrators, and the team's members who are
// authors or above (the people who look after the team's templates).
func canSetTeamChannels(actor Actor, team string) error {
	if actor.IsAdmin() {
		return nil
	}
	if slices.Contains(actor.Teams, team) && actor.EffectiveRole().AtLeast(RoleAuthor) {
		return nil
	}
	return Errorf(EForbidden, "only administrators and the authors of team %q can change its notification channels", team)
}

// RemoveNotifyChannel removes a channel: the actor's own, or a team's
// they may set.
func (s *Service) RemoveNotifyChannel(ctx context.Context, actor Actor, id string) (err error) {
	defer func() { s.audit(ctx, actor, "notify.channel.remove", id, err) }()
	if err := Authorize(actor, PermRead); err != nil {
		return err
	}
	c, err := s.store.NotifyChannel(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return Errorf(ENotFound, "notification channel %q does not exist", id)
	}
	if err != nil {
		return err
	}
	switch c.Scope {
	case ScopeUser:
		if c.Owner != actor.UserID && !actor.IsAdmin() {
			return Errorf(ENotFound, "notification channel %q does not exist", id)
		}
	default:
		if err := canSetTeamChannels(actor, c.Owner); err != nil {
			return err
		}
	}
	err = s.store.DeleteNotifyChannel(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return Errorf(ENotFound, "notification channel %q does not exist", id)
	}
	return err
}

// NotifyDeliveries is the delivery log, newest first (administrators).
func (s *Service) NotifyDeliveries(ctx context.Context, actor Actor, limit int) ([]Delivery, error) {
	if err := Authorize(actor, PermAdmin); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	rows, err := s.store.NotifyDeliveries(ctx, "", limit)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(rows))
	for _, d := range rows {
		out = append(out, Delivery{NoticeID: d.NoticeID, ChannelID: d.ChannelID, Scope: d.Scope, Owner: d.Owner, Kind: d.Kind,
			Target: d.Target, Event: d.Event, EnvironmentID: d.EnvironmentID, Attempt: d.Attempt, Final: d.Final, OK: d.OK,
			StatusCode: d.StatusCode, Error: d.Error, At: d.At.UTC()})
	}
	return out, nil
}

// resealChannels re-encrypts with the current key the channel secrets
// still sealed with a previous one (see ResealSecrets).
func (s *Service) resealChannels(ctx context.Context) (int, error) {
	rows, err := s.store.AllNotifyChannels(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range rows {
		if len(c.Secret) == 0 {
			continue
		}
		plain, current, err := s.cipher.openWith(sealBytesVersion, c.Secret, channelAD(c.ID))
		if err != nil {
			return n, fmt.Errorf("envs: reseal channel %s: %w", c.ID, err)
		}
		if current {
			continue
		}
		sealed, err := s.cipher.Seal(plain, channelAD(c.ID))
		if err != nil {
			return n, err
		}
		if err := s.store.SetNotifyChannelSecret(ctx, c.ID, sealed); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
