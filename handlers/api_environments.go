package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// apiEnvironmentList is GET /api/v1/environments?status=&owner=&template=&name=&drifted=&label=&limit=&cursor=.
// label is key=value and may repeat: an environment must carry them all.
// status may repeat or be comma-separated. A page answers next_cursor (and
// prev_cursor) when there are older (newer) environments; pass it back as
// cursor for that page. offset= still pages the old way (it costs more
// the deeper the page).
func (h *Handler) apiEnvironmentList(c *echo.Context) error {
	// Parsed here rather than by echo, which drops a query it cannot parse
	// (more than 10,000 parameters, a bad escape) and would list everything.
	q, err := url.ParseQuery(c.QueryString())
	if err != nil {
		return envs.Invalid("query is not valid", envs.FieldError{Message: err.Error()})
	}
	f := envs.Filter{Owner: q.Get("owner"), Template: q.Get("template"), Name: q.Get("name"), Search: q.Get("q"), Cursor: q.Get("cursor"), Labels: q["label"]}
	for _, v := range q["status"] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				f.Statuses = append(f.Statuses, envs.Status(s))
			}
		}
	}
	if f.Drifted, err = boolParam(q, "drifted"); err != nil {
		return err
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit", 100, 1, 1000); err != nil {
		return err
	}
	if f.Offset, err = intParam(q.Get("offset"), "offset", 0, 0, 1<<31-1); err != nil {
		return err
	}
	if f.Offset > 0 && f.Cursor != "" {
		return envs.Invalid("query is not valid", envs.FieldError{Field: "offset", Message: "cannot be used with cursor"})
	}
	var page envs.EnvironmentPage
	if f.Offset > 0 {
		page.Environments, err = h.svc.Environments(c.Request().Context(), f)
	} else {
		page, err = h.svc.EnvironmentPage(c.Request().Context(), f)
	}
	if err != nil {
		return err
	}
	items, err := h.envsJSON(c, page.Environments...)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, environmentListJSON{Items: items, NextCursor: page.Next, PrevCursor: page.Prev})
}

// boolParam reads an optional true/false query parameter (nil: absent).
func boolParam(q url.Values, field string) (*bool, error) {
	switch q.Get(field) {
	case "":
		return nil, nil
	case "true":
		v := true
		return &v, nil
	case "false":
		v := false
		return &v, nil
	}
	return nil, envs.Invalid("query is not valid", envs.FieldError{Field: field, Message: "must be true or false"})
}

func intParam(s, field string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, envs.Invalid("query is not valid", envs.FieldError{Field: field, Message: fmt.Sprintf("must be a whole number from %d to %d", lo, hi)})
	}
	return n, nil
}

// apiEnvironmentLaunch is POST /api/v1/environments -> 202 with the
// environment, which is provisioned in the background. With an
// Idempotency-Key header a re-run answers 200 with the environment the key
// launched (see envs.LaunchOnce).
func (h *Handler) apiEnvironmentLaunch(c *echo.Context) error {
	var req struct {
		Template string            `json:"template"`
		Version  string            `json:"version"`
		Name     string            `json:"name"`
		Params   map[string]any    `json:"params"`
		TTL      string            `json:"ttl"`
		Labels   map[string]string `json:"labels"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if badText(req.Template) {
		// Looked up before anything else is checked (a 500 on PostgreSQL).
		return envs.Invalid("launch request is not valid", envs.FieldError{Field: "template", Message: "must not contain a NUL byte or bytes that are not UTF-8"})
	}
	env, replayed, err := h.svc.LaunchOnce(c.Request().Context(), actorOf(c), envs.LaunchRequest{
		Template: req.Template, Version: req.Version, Name: req.Name, Params: req.Params, TTL: req.TTL,
		Labels: req.Labels,
	}, c.Request().Header.Get(envs.LaunchKeyField))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/environments/"+env.ID)
	if replayed {
		// The same key and request again: the environment it launched, as
		// it is now, and nothing launched.
		c.Response().Header().Set("Idempotent-Replayed", "true")
		return h.envJSON(c, http.StatusOK, env)
	}
	return h.envJSON(c, http.StatusAccepted, env)
}

// apiEnvironmentShow is GET /api/v1/environments/{id}; with ?wait=ready (or
// destroyed) and ?timeout= it long-polls (see awaitEnvironment).
func (h *Handler) apiEnvironmentShow(c *echo.Context) error {
	want, timeout, err := waitFor(c)
	if err != nil {
		return err
	}
	if want != "" {
		return h.awaitEnvironment(c, c.Param("id"), want, timeout)
	}
	env, err := h.svc.Environment(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return h.envJSON(c, http.StatusOK, env)
}

// apiEnvironmentEvents is GET /api/v1/environments/{id}/events?after=; with
// Accept: text/event-stream it follows them (apiEnvironmentEventStream).
func (h *Handler) apiEnvironmentEvents(c *echo.Context) error {
	if wantsEventStream(c) {
		return h.apiEnvironmentEventStream(c)
	}
	after, err := intParam(c.QueryParam("after"), "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	events, err := h.svc.Events(c.Request().Context(), c.Param("id"), int64(after))
	if err != nil {
		return err
	}
	if events == nil {
		events = []envs.Event{}
	}
	return c.JSON(http.StatusOK, listJSON[envs.Event]{Items: events})
}

// apiEnvironmentLogs is GET /api/v1/environments/{id}/logs?service=.
func (h *Handler) apiEnvironmentLogs(c *echo.Context) error {
	logs, err := h.svc.Logs(c.Request().Context(), c.Param("id"), c.QueryParam("service"), logLimit)
	if err != nil {
		return err
	}
	type logJSON struct {
		Service   string `json:"service"`
		Text      string `json:"text"`
		Truncated bool   `json:"truncated"`
	}
	out := listJSON[logJSON]{Items: []logJSON{}}
	for _, l := range logs {
		out.Items = append(out.Items, logJSON{Service: l.Service, Text: l.Text, Truncated: l.Truncated})
	}
	return c.JSON(http.StatusOK, out)
}

// apiEnvironmentExtend is POST /api/v1/environments/{id}/extend {"ttl":"1h"}.
func (h *Handler) apiEnvironmentExtend(c *echo.Context) error {
	var req struct {
		TTL string `json:"ttl"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	env, err := h.svc.Extend(c.Request().Context(), actorOf(c), c.Param("id"), req.TTL)
	if err != nil {
		return err
	}
	return h.envJSON(c, http.StatusOK, env)
}

// apiEnvironmentDestroy is DELETE /api/v1/environments/{id} -> 202.
func (h *Handler) apiEnvironmentDestroy(c *echo.Context) error {
	env, err := h.svc.Destroy(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return h.envJSON(c, http.StatusAccepted, env)
}

// decodeJSON reads a JSON body strictly: unknown fields and trailing data
// are errors that say where the problem is.
func decodeJSON(c *echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case isHTTPStatus(err):
			return err
		case errors.Is(err, io.EOF):
			return envs.Invalid("request body is empty", envs.FieldError{Message: "a JSON object is required"})
		case errors.As(err, &syntax):
			return envs.Invalid("request body is not valid JSON", envs.FieldError{Message: fmt.Sprintf("%s (at byte %d)", syntax.Error(), syntax.Offset)})
		case errors.As(err, &typeErr):
			return envs.Invalid("request body is not valid", envs.FieldError{Field: typeErr.Field, Message: "must be a " + typeErr.Type.String()})
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return envs.Invalid("request body is not valid", envs.FieldError{Field: field, Message: "is not a known field"})
		default:
			return envs.Invalid("request body is not valid JSON", envs.FieldError{Message: err.Error()})
		}
	}
	if dec.More() {
		return envs.Invalid("request body is not valid JSON", envs.FieldError{Message: "unexpected data after the JSON object"})
	}
	return nil
}
