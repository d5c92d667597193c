package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/web"
)

// applyChoices turns parameters whose choices come from the provider (RDS
// snapshots for a DR drill) into a list, newest first and preselected. When
// the provider cannot be asked, the field stays a text box: the launch still
// works (an empty snapshot means the latest).
func (h *Handler) applyChoices(c *echo.Context, f *web.LaunchForm) {
	// The form must answer even when the cloud does not.
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	choices, err := h.svc.ParamChoices(ctx, f.Template.Name, f.Version.Version)
	if err != nil {
		h.log.Warn("parameter choices unavailable", "template", f.Template.Name, "err", err)
		return
	}
	for i := range f.Version.Params {
		p := &f.Version.Params[i]
		list, ok := choices[p.Name]
		if !ok || p.Secret {
			continue
		}
		p.Type, p.Options, p.OptionLabels = "enum", nil, map[string]string{}
		p.EmptyLabel = "The latest at launch time"
		for _, ch := range list {
			p.Options = append(p.Options, ch.Value)
			p.OptionLabels[ch.Value] = ch.Label
		}
		// A relaunch keeps its source's choice: empty stays the latest
		// at launch (or the same snapshot, when asked for).
		if f.Params[p.Name] == "" && len(list) > 0 && f.Relaunch == nil {
			f.Params[p.Name] = list[0].Value
		}
	}
}

// apiTemplateChoices is GET /api/v1/templates/{name}/choices?version=: the
// provider's current choices per parameter.
func (h *Handler) apiTemplateChoices(c *echo.Context) error {
	choices, err := h.svc.ParamChoices(c.Request().Context(), c.Param("name"), c.QueryParam("version"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, choices)
}
