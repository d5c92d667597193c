package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Templates and their versions.

// SaveTemplate creates the catalog entry or updates its descriptive fields
// (never its owning team). On PostgreSQL the row stays locked by the
// transaction, so a Template read after it sees the owning team as
// committed by any concurrent first publish.
func (q Queries) SaveTemplate(ctx context.Context, t *Template) error {
	err := q.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"kind", "description", "owner", "updated_at"}),
	}).Create(t).Error
	if err != nil {
		return fmt.Errorf("storage: save template %s: %w", t.Name, err)
	}
	return nil
}

// SetTemplateOwnerTeam hands a template name to another team (updated at
// `at`).
func (q Queries) SetTemplateOwnerTeam(ctx context.Context, name, team string, at time.Time) error {
	err := q.ctx(ctx).Model(&Template{}).Where("name = ?", name).Updates(map[string]any{"owner_team": team, "updated_at": at}).Error
	if err != nil {
		return fmt.Errorf("storage: set owner team of template %s: %w", name, err)
	}
	return nil
}

// CreateVersion inserts a version; ErrConflict if it exists already.
func (q Queries) CreateVersion(ctx context.Context, v *TemplateVersion) error {
	if err := q.ctx(ctx).Create(v).Error; err != nil {
		if isUniqueViolation(err) {
			return ErrConflict
		}
		return fmt.Errorf("storage: create version %s@%s: %w", v.TemplateName, v.Version, err)
	}
	return nil
}

// Version loads one version of a template.
func (q Queries) Version(ctx context.Context, template, version string) (*TemplateVersion, error) {
	var v TemplateVersion
	err := q.ctx(ctx).Where("template_name = ? AND version = ?", template, version).Take(&v).Error
	if err != nil {
		return nil, notFound(err)
	}
	return &v, nil
}

// VersionByID loads a version by its id.
func (q Queries) VersionByID(ctx context.Context, id int64) (*TemplateVersion, error) {
	var v TemplateVersion
	if err := q.ctx(ctx).Take(&v, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &v, nil
}

// Template loads one catalog entry.
func (q Queries) Template(ctx context.Context, name string) (*Template, error) {
	var t Template
	if err := q.ctx(ctx).Where("name = ?", name).Take(&t).Error; err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// Templates lists the catalog by name.
func (q Queries) Templates(ctx context.Context) ([]Template, error) {
	var ts []Template
	if err := q.ctx(ctx).Order("name").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("storage: list templates: %w", err)
	}
	return ts, nil
}

// Versions lists the versions of the given templates (all when names is
// empty), newest first by semantic version.
func (q Queries) Versions(ctx context.Context, names ...string) ([]TemplateVersion, error) {
	var vs []TemplateVersion
	db := q.ctx(ctx)
	if len(names) > 0 {
		db = db.Where("template_name IN ?", names)
	}
	err := db.Order("template_name, major DESC, minor DESC, patch DESC, prerelease = '' DESC, prerelease DESC").Find(&vs).Error
	if err != nil {
		return nil, fmt.Errorf("storage: list versions: %w", err)
	}
	return vs, nil
}

// DeprecateVersion marks a version deprecated (a no-op if it already is).
func (q Queries) DeprecateVersion(ctx context.Context, id int64, at time.Time, note string) error {
	err := q.ctx(ctx).Model(&TemplateVersion{}).Where("id = ? AND deprecated_at IS NULL", id).
		Updates(map[string]any{"deprecated_at": at, "deprecation_note": note}).Error
	if err != nil {
		return fmt.Errorf("storage: deprecate version %d: %w", id, err)
	}
	return nil
}

// SetDeprecationSchedule sets when a deprecated version's environments
// are acted on (nil date: never), unless that was done already.
func (q Queries) SetDeprecationSchedule(ctx context.Context, id int64, date *time.Time, action string) error {
	err := q.ctx(ctx).Model(&TemplateVersion{}).Where("id = ? AND deprecation_done_at IS NULL", id).
		Updates(map[string]any{"deprecation_date": date, "deprecation_action": action}).Error
	if err != nil {
		return fmt.Errorf("storage: set deprecation schedule of version %d: %w", id, err)
	}
	return nil
}

// DueDeprecations lists the deprecated versions whose deprecation date is
// at or before now and whose environments were not acted on yet.
func (q Queries) DueDeprecations(ctx context.Context, now time.Time, limit int) ([]TemplateVersion, error) {
	var vs []TemplateVersion
	err := q.ctx(ctx).Where("deprecation_date IS NOT NULL AND deprecation_done_at IS NULL AND deprecation_date <= ? AND deprecated_at IS NOT NULL", now).
		Order("deprecation_date").Limit(limit).Find(&vs).Error
	if err != nil {
		return nil, fmt.Errorf("storage: list due deprecations: %w", err)
	}
	return vs, nil
}

// ClaimDeprecation marks a due deprecation done and reports whether this
// call did: however many replicas run the sweep, one acts on it.
func (q Queries) ClaimDeprecation(ctx context.Context, id int64, now time.Time) (bool, error) {
	res := q.ctx(ctx).Model(&TemplateVersion{}).Where("id = ? AND deprecation_done_at IS NULL AND deprecation_date <= ?", id, now).
		Update("deprecation_done_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("storage: claim deprecation of version %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}
