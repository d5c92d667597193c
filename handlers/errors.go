package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// problem is an RFC 9457 problem detail, with the fields at fault.
type problem struct {
	Type     string            `json:"type"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail,omitempty"`
	Instance string            `json:"instance,omitempty"`
	Errors   []envs.FieldError `json:"errors,omitempty"`
}

var codeStatus = map[envs.Code]int{
	envs.ENotFound:  http.StatusNotFound,
	envs.EConflict:  http.StatusConflict,
	envs.EInvalid:   http.StatusUnprocessableEntity,
	envs.EForbidden: http.StatusForbidden,
	envs.EQuota:     http.StatusForbidden,
	envs.ETooLarge:  http.StatusRequestEntityTooLarge,
	envs.EInternal:  http.StatusInternalServerError,

	envs.EUnauthorized: http.StatusUnauthorized,
	envs.ETooMany:      http.StatusTooManyRequests,
	envs.EUnavailable:  http.StatusServiceUnavailable,
}

// toProblem maps any error to a problem. Internal errors are logged by the
// caller and shown without details.
func toProblem(err error) problem {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Reading the body ran into the server's read timeout.
		return problem{Type: "about:blank", Title: http.StatusText(http.StatusRequestTimeout), Status: http.StatusRequestTimeout,
			Detail: "the request body did not arrive in time"}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := he.Message
		if msg == "" {
			msg = http.StatusText(he.Code)
		}
		return problem{Type: "about:blank", Title: http.StatusText(he.Code), Status: he.Code, Detail: msg}
	}
	var sc interface{ StatusCode() int }
	if !errors.As(err, new(*envs.Error)) && errors.As(err, &sc) {
		code := sc.StatusCode()
		p := problem{Type: "about:blank", Title: http.StatusText(code), Status: code, Detail: http.StatusText(code)}
		if code == http.StatusRequestEntityTooLarge {
			p.Detail = "the request body is larger than the server accepts"
		}
		return p
	}
	code := envs.ErrorCode(err)
	status := codeStatus[code]
	return problem{
		Type:   "urn:mayfly:problem:" + string(code),
		Title:  http.StatusText(status),
		Status: status,
		Detail: envs.ErrorMessage(err),
		Errors: envs.ErrorFields(err),
	}
}

// handleError is the one place errors become responses: problem+json for
// the API, an error page or an htmx fragment for the UI.
func (h *Handler) handleError(c *echo.Context, err error) {
	if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Committed {
		return
	}
	p := toProblem(err)
	if p.Status >= 500 {
		h.log.Error("internal error", "path", c.Request().URL.Path, "err", err,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	p.Instance = c.Request().URL.Path
	if isAPI(c) {
		body, _ := json.Marshal(p) // a problem always marshals
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		c.Response().WriteHeader(p.Status)
		_, _ = c.Response().Write(body)
		return
	}
	msg := p.Detail
	if len(p.Errors) > 0 {
		parts := make([]string, len(p.Errors))
		for i, f := range p.Errors {
			parts[i] = f.String()
		}
		msg += ": " + strings.Join(parts, "; ")
	}
	if isHTMX(c) {
		// htmx does not swap error responses by default; the banner target
		// is filled through the HX-Retarget header.
		c.Response().Header().Set("HX-Retarget", "#flash")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		_ = render(c, p.Status, web.ErrorBanner(msg))
		return
	}
	_ = render(c, p.Status, web.ErrorPage(h.page(c, p.Title, ""), web.ErrorView{Status: p.Status, Title: p.Title, Message: msg}))
}

func isAPI(c *echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, "/api/")
}

func isHTMX(c *echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}

// isHTTPStatus reports whether err already carries an HTTP status (echo's
// errors, such as the body limit's 413, and a body that did not arrive
// before the read timeout: 408).
func isHTTPStatus(err error) bool {
	var sc interface{ StatusCode() int }
	return errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, new(*envs.Error)) && errors.As(err, &sc)
}
