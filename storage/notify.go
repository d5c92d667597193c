package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// NotifyChannel is where notices go (see migration 0021): a person's or a
// team's webhook, Slack webhook or e-mail address. Secret is sealed by the
// domain; storage never sees it in the clear.
type NotifyChannel struct {
	ID        string `gorm:"primaryKey"`
	Scope     string // "user" or "team"
	Owner     string // the user id or the team name
	Kind      string // "webhook", "slack", "email"
	Target    string
	Secret    []byte
	Events    string // comma-separated; "" every event
	CreatedBy string
	CreatedAt time.Time
}

// TableName is the table of migration 0021.
func (NotifyChannel) TableName() string { return "notify_channels" }

// NotifyDelivery is one attempt to deliver a notice to a channel.
type NotifyDelivery struct {
	ID            string `gorm:"primaryKey"`
	NoticeID      string
	ChannelID     string
	Scope         string
	Owner         string
	Kind          string
	Target        string
	Event         string
	EnvironmentID string
	Attempt       int
	// Final: no attempt follows (delivered, or given up).
	Final      bool
	OK         bool `gorm:"column:ok"`
	StatusCode int
	Error      string
	At         time.Time
}

// TableName is the table of migration 0021.
func (NotifyDelivery) TableName() string { return "notify_deliveries" }

// CreateNotifyChannel adds a channel.
func (q Queries) CreateNotifyChannel(ctx context.Context, c *NotifyChannel) error {
	if err := q.ctx(ctx).Create(c).Error; err != nil {
		return fmt.Errorf("storage: create notification channel: %w", err)
	}
	return nil
}

// NotifyChannel loads a channel; ErrNotFound if there is none.
func (q Queries) NotifyChannel(ctx context.Context, id string) (*NotifyChannel, error) {
	var c NotifyChannel
	if err := q.ctx(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("storage: load notification channel %s: %w", id, err)
	}
	return &c, nil
}

// HasNotifyChannels reports whether the user (by id) or the team has any
// channel: a notice for neither is not queued at all.
func (q Queries) HasNotifyChannels(ctx context.Context, userID, team string) (bool, error) {
	var ids []string
	err := q.ctx(ctx).Model(&NotifyChannel{}).Select("id").
		Where("(scope = 'user' AND owner = ?) OR (scope = 'team' AND owner = ?)", userID, team).Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return false, fmt.Errorf("storage: look for notification channels: %w", err)
	}
	return len(ids) > 0, nil
}

// PruneNotifyDeliveries deletes the delivery log's rows older than before.
func (q Queries) PruneNotifyDeliveries(ctx context.Context, before time.Time) (int64, error) {
	res := q.ctx(ctx).Where("at < ?", before).Delete(&NotifyDelivery{})
	if res.Error != nil {
		return 0, fmt.Errorf("storage: prune deliveries: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// NotifyChannels lists the channels of one scope's owners, oldest first.
func (q Queries) NotifyChannels(ctx context.Context, scope string, owners []string) ([]NotifyChannel, error) {
	var rows []NotifyChannel
	if len(owners) == 0 {
		return nil, nil
	}
	if err := q.ctx(ctx).Where("scope = ? AND owner IN ?", scope, owners).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("storage: list notification channels: %w", err)
	}
	return rows, nil
}

// AllNotifyChannels lists every channel, oldest first (for key rotation
// and the admin's view).
func (q Queries) AllNotifyChannels(ctx context.Context) ([]NotifyChannel, error) {
	var rows []NotifyChannel
	if err := q.ctx(ctx).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("storage: list notification channels: %w", err)
	}
	return rows, nil
}

// DeleteNotifyChannel removes a channel; ErrNotFound if there is none.
func (q Queries) DeleteNotifyChannel(ctx context.Context, id string) error {
	res := q.ctx(ctx).Where("id = ?", id).Delete(&NotifyChannel{})
	if res.Error != nil {
		return fmt.Errorf("storage: delete notification channel %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetNotifyChannelSecret replaces a channel's sealed secret (key
// rotation).
func (q Queries) SetNotifyChannelSecret(ctx context.Context, id string, sealed []byte) error {
	if err := q.ctx(ctx).Model(&NotifyChannel{}).Where("id = ?", id).Update("secret", sealed).Error; err != nil {
		return fmt.Errorf("storage: reseal notification channel %s: %w", id, err)
	}
	return nil
}

// AddNotifyDelivery records one delivery attempt.
func (q Queries) AddNotifyDelivery(ctx context.Context, d *NotifyDelivery) error {
	if err := q.ctx(ctx).Create(d).Error; err != nil {
		return fmt.Errorf("storage: record delivery of %s: %w", d.NoticeID, err)
	}
	return nil
}

// NotifyDeliveries lists the newest delivery attempts first (at most
// limit), of one channel when channel is set.
func (q Queries) NotifyDeliveries(ctx context.Context, channel string, limit int) ([]NotifyDelivery, error) {
	var rows []NotifyDelivery
	db := q.ctx(ctx).Order("at DESC, attempt DESC, id").Limit(limit)
	if channel != "" {
		db = db.Where("channel_id = ?", channel)
	}
	if err := db.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("storage: list deliveries: %w", err)
	}
	return rows, nil
}
