package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// tokenCreate creates an API token and shows its secret, once. The answer
// is never cached.
func (h *Handler) tokenCreate(c *echo.Context) error {
	secret, tok, err := h.svc.CreateToken(c.Request().Context(), actorOf(c), c.FormValue("name"), c.FormValue("ttl"), c.FormValue("role"))
	if err != nil && envs.ErrorCode(err) != envs.EInvalid {
		return err
	}
	v, lerr := h.tokensView(c)
	if lerr != nil {
		return lerr
	}
	status := http.StatusCreated
	if err != nil {
		status = http.StatusUnprocessableEntity
		v.Errors = map[string]string{}
		for _, fe := range envs.ErrorFields(err) {
			v.Errors[fe.Field] = fe.Message
		}
		if len(v.Errors) == 0 {
			v.Errors["name"] = envs.ErrorMessage(err)
		}
	} else {
		v.NewSecret, v.NewName = secret, tok.Name
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, web.TokensPage(h.page(c, "API tokens", "tokens"), v))
}
