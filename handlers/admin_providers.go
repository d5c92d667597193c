package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// ProviderCheck is the last reachability check of a cloud provider, made in
// the background by whoever owns the provider (cmd). /readyz stays about the
// database: a cloud outage must not take the portal out of its load balancer.
type ProviderCheck struct {
	Provider  string    `json:"provider"`
	Checked   bool      `json:"checked"`
	Reachable bool      `json:"reachable"`
	Detail    string    `json:"detail,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

func (h *Handler) providerChecks() []ProviderCheck {
	if h.checks == nil {
		return nil
	}
	return h.checks()
}

func providerCheckViews(checks []ProviderCheck) []web.ProviderCheckView {
	var out []web.ProviderCheckView
	for _, c := range checks {
		out = append(out, web.ProviderCheckView{Provider: c.Provider, Checked: c.Checked, Reachable: c.Reachable,
			Detail: c.Detail, CheckedAt: c.CheckedAt})
	}
	return out
}

// apiProviderChecks is GET /api/v1/admin/providers (admins only).
func (h *Handler) apiProviderChecks(c *echo.Context) error {
	if !actorOf(c).IsAdmin() {
		return envs.Errorf(envs.EForbidden, "only administrators can see this")
	}
	checks := h.providerChecks()
	if checks == nil {
		checks = []ProviderCheck{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": checks})
}
