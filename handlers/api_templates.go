package handlers

import (
	"io"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// apiTemplateList is GET /api/v1/templates: the catalog.
func (h *Handler) apiTemplateList(c *echo.Context) error {
	templates, err := h.svc.Catalog(c.Request().Context())
	if err != nil {
		return err
	}
	out := listJSON[templateJSON]{Items: []templateJSON{}}
	for _, t := range templates {
		out.Items = append(out.Items, toTemplateJSON(t))
	}
	return c.JSON(http.StatusOK, out)
}

// apiTemplateShow is GET /api/v1/templates/{name}.
func (h *Handler) apiTemplateShow(c *echo.Context) error {
	t, err := h.svc.Template(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTemplateJSON(t))
}

// apiTemplatePublish is POST /api/v1/templates with a template.yaml body:
// 201 when published, 200 when the same content was already published, 409
// when the version exists with other content.
func (h *Handler) apiTemplatePublish(c *echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		if isHTTPStatus(err) {
			return err
		}
		return envs.Errorf(envs.EInvalid, "the request body could not be read")
	}
	v, created, err := h.svc.Publish(c.Request().Context(), actorOf(c), body)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/api/v1/templates/"+v.Spec.Name)
	}
	return c.JSON(status, toVersionJSON(v))
}

// apiTemplateDeprecate is POST /api/v1/templates/{name}/versions/{version}/deprecate
// with an optional {"note": "..."}.
func (h *Handler) apiTemplateDeprecate(c *echo.Context) error {
	var req struct {
		Note   string `json:"note"`
		Date   string `json:"date"`   // optional: 2027-01-15 or an RFC 3339 time
		Action string `json:"action"` // with a date: replace or destroy
	}
	if c.Request().ContentLength > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	if err := h.svc.DeprecateVersion(ctx, actorOf(c), envs.DeprecateRequest{Template: c.Param("name"), Version: c.Param("version"),
		Note: req.Note, Date: req.Date, Action: envs.DeprecationAction(req.Action)}); err != nil {
		return err
	}
	t, err := h.svc.Template(ctx, c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTemplateJSON(t))
}
