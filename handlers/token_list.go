package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// tokenList renders the user's API tokens.
func (h *Handler) tokenList(c *echo.Context) error {
	v, err := h.tokensView(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, web.TokensPage(h.page(c, "API tokens", "tokens"), v))
}

func (h *Handler) tokensView(c *echo.Context) (web.TokensView, error) {
	toks, err := h.svc.Tokens(c.Request().Context(), actorOf(c))
	if err != nil {
		return web.TokensView{}, err
	}
	now := h.svc.Now()
	var v web.TokensView
	for _, t := range toks {
		v.Tokens = append(v.Tokens, web.TokenView{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt,
			ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, Revoked: t.RevokedAt != nil, Expired: !t.Active(now) && t.RevokedAt == nil,
			Role: string(t.Role)})
	}
	own := actorOf(c).EffectiveRole()
	for _, r := range []envs.Role{envs.RoleViewer, envs.RoleMember, envs.RoleAuthor, envs.RoleAdmin} {
		if own.AtLeast(r) {
			v.Roles = append(v.Roles, string(r))
		}
	}
	return v, nil
}
