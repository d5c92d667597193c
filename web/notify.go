package web

import "time"

// NotifySettingsView is the notification settings page: the person's
// channels and their teams', a form to add one, and a new webhook's
// generated signing secret, shown once.
type NotifySettingsView struct {
	Channels []ChannelView
	// Teams are the teams whose channels the person may set (a select in
	// the form); AnyTeam: an administrator, who types the team.
	Teams   []string
	AnyTeam bool
	// Events are the events a channel may hear, value and label.
	Events       []EventOption
	EmailEnabled bool
	NewSecret    string
	Errors       map[string]string // field -> message, on a refused add
}

// EventOption is one event a channel may choose.
type EventOption struct {
	Value, Label string
}

// ChannelView is one channel, never its secret.
type ChannelView struct {
	ID        string
	Scope     string // "Mine" or "Team <name>"
	Kind      string
	Target    string
	Events    string // "every event" or the labels
	HasSecret bool
	CreatedBy string
	CreatedAt time.Time
	CanRemove bool
}

// DeliveriesView is the administrators' delivery log.
type DeliveriesView struct {
	Deliveries []DeliveryView
}

// DeliveryView is one delivery attempt.
type DeliveryView struct {
	At            time.Time
	Event         string
	Channel       string // kind and target
	Owner         string // "user <id>" or "team <name>"
	EnvironmentID string
	Attempt       int
	Final         bool
	OK            bool
	StatusCode    int
	Error         string
}
