package handlers

import (
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// environmentReplace is the environment page's "Replace with version…"
// form: version, and params as name=value lines for the parameters the
// version adds without a default. It answers with the new summary.
func (h *Handler) environmentReplace(c *echo.Context) error {
	params := map[string]string{}
	for _, line := range strings.Split(c.FormValue("params"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return envs.Invalid("replace request is not valid", envs.FieldError{Field: "params",
				Message: "each line must be name=value: " + strings.TrimSpace(name)})
		}
		params[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	env, err := h.svc.Replace(c.Request().Context(), actorOf(c), envs.ReplaceRequest{ID: c.Param("id"),
		Version: strings.TrimSpace(c.FormValue("version")), Params: params})
	if err != nil {
		return err
	}
	return h.summary(c, env)
}

// environmentRollback is the "Roll back to vX" button.
func (h *Handler) environmentRollback(c *echo.Context) error {
	env, err := h.svc.Rollback(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return h.summary(c, env)
}
