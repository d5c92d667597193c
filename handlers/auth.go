package handlers

import (
	"context"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

type actorKey struct{}

// authenticate resolves who is asking. In local mode (no sign-in
// configured, loopback only) everyone is the local administrator.
func (h *Handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		actor := envs.Actor{Name: "local", Admin: true, Address: c.RealIP()}
		ctx := context.WithValue(c.Request().Context(), actorKey{}, actor)
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func actorOf(c *echo.Context) envs.Actor {
	a, _ := c.Request().Context().Value(actorKey{}).(envs.Actor)
	return a
}
