package handlers

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// templatePublishForm is GET /templates/new: the publish form, empty or
// (?from=name) holding the latest version's source to edit into the next.
func (h *Handler) templatePublishForm(c *echo.Context) error {
	v := web.PublishView{}
	if from := c.QueryParam("from"); from != "" {
		t, err := h.svc.Template(c.Request().Context(), from)
		if err != nil {
			return err
		}
		if latest, ok := t.Latest(); ok {
			v.Source, v.From = latest.Source, t.Name
		}
	}
	return render(c, http.StatusOK, web.PublishPage(h.page(c, web.PublishTitle(v), "catalog"), v))
}

// templatePublish is POST /templates: publishes the uploaded file, or the
// pasted text when no file was chosen. A refused source is rendered again
// with its errors by line; published, it is back to the catalog.
func (h *Handler) templatePublish(c *echo.Context) error {
	source, err := publishSource(c)
	if err != nil {
		return err
	}
	ver, _, err := h.svc.Publish(c.Request().Context(), actorOf(c), []byte(source))
	if err == nil {
		return redirect(c, "/catalog?published="+url.QueryEscape(ver.Spec.Name+"@"+ver.Spec.Version))
	}
	code := envs.ErrorCode(err)
	if code != envs.EInvalid && code != envs.EConflict {
		return err
	}
	v := web.PublishView{Source: source, Message: envs.ErrorMessage(err)}
	for _, f := range envs.ErrorFields(err) {
		v.Errors = append(v.Errors, web.PublishErrorView{Line: f.Line, Field: f.Field, Message: f.Message})
	}
	status := http.StatusUnprocessableEntity
	if code == envs.EConflict {
		status = http.StatusConflict
	}
	return render(c, status, web.PublishPage(h.page(c, web.PublishTitle(v), "catalog"), v))
}

// publishSource reads the template.yaml of the publish form: the file if
// one was chosen, otherwise the text area.
func publishSource(c *echo.Context) (string, error) {
	fh, err := c.FormFile("file")
	switch {
	case err == nil && fh.Size > 0:
		f, err := fh.Open()
		if err != nil {
			return "", envs.Errorf(envs.EInvalid, "the uploaded file could not be read")
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, envs.MaxTemplateSize+1))
		if err != nil {
			return "", envs.Errorf(envs.EInvalid, "the uploaded file could not be read")
		}
		return string(b), nil
	case err != nil && !errors.Is(err, http.ErrMissingFile) && !errors.Is(err, http.ErrNotMultipart):
		if isHTTPStatus(err) {
			return "", err
		}
		return "", envs.Errorf(envs.EInvalid, "the form could not be read")
	}
	return strings.ReplaceAll(c.FormValue("source"), "\r\n", "\n"), nil
}

// templateDeprecate is POST /templates/{name}/versions/{version}/deprecate
// from the catalog, with an optional note.
func (h *Handler) templateDeprecate(c *echo.Context) error {
	name, version := c.Param("name"), c.Param("version")
	note := strings.TrimSpace(c.FormValue("note"))
	req := envs.DeprecateRequest{Template: name, Version: version, Note: note,
		Date: strings.TrimSpace(c.FormValue("date")), Action: envs.DeprecationAction(c.FormValue("action"))}
	if req.Date == "" {
		req.Action = "" // the form's action only matters with a date
	}
	if err := h.svc.DeprecateVersion(c.Request().Context(), actorOf(c), req); err != nil {
		return err
	}
	return redirect(c, "/catalog?deprecated="+url.QueryEscape(name+"@"+version))
}

// catalogFlash is the notice after a publish or a deprecation redirect,
// shown only for a version that exists, so a crafted link cannot put words
// on the page.
func catalogFlash(c *echo.Context, templates []envs.Template) string {
	for param, verb := range map[string]string{"published": "Published", "deprecated": "Deprecated"} {
		ref := c.QueryParam(param)
		if ref == "" {
			continue
		}
		name, version, _ := strings.Cut(ref, "@")
		for _, t := range templates {
			if t.Name != name {
				continue
			}
			for _, v := range t.Versions {
				if v.Spec.Version == version && (param == "published" || v.DeprecatedAt != nil) {
					return verb + " " + name + " " + version
				}
			}
		}
	}
	return ""
}
