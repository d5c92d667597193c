package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// tofuStatePath is where OpenTofu/Terraform's http backend finds a tofu
// stack's state (GET, POST, DELETE, LOCK, UNLOCK). It is authenticated by
// the stack's own credential (Basic), never by a session or API token, so
// it is a public route as far as sign-in goes.
const tofuStatePath = "/api/v1/tofu/states/:stack"

// maxTofuState bounds a state document; the portal's body limit (1 MiB,
// for templates) does not apply here.
const maxTofuState = 64 << 20

func (h *Handler) tofuStateRoutes(e *echo.Echo) {
	e.GET(tofuStatePath, h.tofuStateGet)
	e.POST(tofuStatePath, h.tofuStatePut)
	e.DELETE(tofuStatePath, h.tofuStateDelete)
	e.Add("LOCK", tofuStatePath, h.tofuStateLock)
	e.Add("UNLOCK", tofuStatePath, h.tofuStateUnlock)
}

// tofuClient reads who calls: the stack and its Basic credential.
func tofuClient(c *echo.Context) envs.TofuClient {
	user, pass, _ := c.Request().BasicAuth()
	return envs.TofuClient{Stack: c.Param("stack"), Username: user, Password: pass, Address: c.RealIP()}
}

// tofuBody reads a request's body, up to maxTofuState.
func tofuBody(c *echo.Context) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, maxTofuState+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTofuState {
		return nil, envs.Errorf(envs.ETooLarge, "the state is larger than %d MiB", maxTofuState>>20)
	}
	return b, nil
}

// tofuStateGet answers the state, or 204 when the stack has none.
func (h *Handler) tofuStateGet(c *echo.Context) error {
	state, err := h.svc.TofuStateGet(c.Request().Context(), tofuClient(c))
	if err != nil {
		return h.tofuError(c, err)
	}
	if state == nil {
		return c.NoContent(http.StatusNoContent)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, state)
}

// tofuStatePut stores the state (?ID= is the lock the client holds).
func (h *Handler) tofuStatePut(c *echo.Context) error {
	body, err := tofuBody(c)
	if err != nil {
		return h.tofuError(c, err)
	}
	if err := h.svc.TofuStatePut(c.Request().Context(), tofuClient(c), c.QueryParam("ID"), body); err != nil {
		return h.tofuError(c, err)
	}
	return c.NoContent(http.StatusOK)
}

func (h *Handler) tofuStateDelete(c *echo.Context) error {
	if err := h.svc.TofuStateClear(c.Request().Context(), tofuClient(c)); err != nil {
		return h.tofuError(c, err)
	}
	return c.NoContent(http.StatusOK)
}

// tofuStateLock takes the lock; held by another, 423 with that lock's
// info, which OpenTofu shows ("Lock Info: ID: ...").
func (h *Handler) tofuStateLock(c *echo.Context) error {
	body, err := tofuBody(c)
	if err != nil {
		return h.tofuError(c, err)
	}
	if err := h.svc.TofuStateLock(c.Request().Context(), tofuClient(c), body); err != nil {
		return h.tofuError(c, err)
	}
	return c.NoContent(http.StatusOK)
}

func (h *Handler) tofuStateUnlock(c *echo.Context) error {
	body, err := tofuBody(c)
	if err != nil {
		return h.tofuError(c, err)
	}
	if err := h.svc.TofuStateUnlock(c.Request().Context(), tofuClient(c), body); err != nil {
		return h.tofuError(c, err)
	}
	return c.NoContent(http.StatusOK)
}

// tofuError answers a lock conflict as the backend protocol wants (423
// with the lock info as the body), a wrong credential with 401 and a
// challenge, and anything else through the usual error mapper.
func (h *Handler) tofuError(c *echo.Context, err error) error {
	var locked *envs.TofuLockedError
	if errors.As(err, &locked) {
		return c.Blob(http.StatusLocked, echo.MIMEApplicationJSON, locked.Info)
	}
	if envs.ErrorCode(err) == envs.EUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", "mayfly tofu state "+strings.ReplaceAll(c.Param("stack"), `"`, "")))
	}
	return err
}
