package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// templateShow renders a template's page: its versions, and with ?from=
// and ?to= (two of its versions) the line diff between their
// template.yaml. A version that does not exist is a field error on the
// page (422).
func (h *Handler) templateShow(c *echo.Context) error {
	ctx := c.Request().Context()
	from, to := c.QueryParam("from"), c.QueryParam("to")
	t, err := h.svc.Template(ctx, c.Param("name"))
	if err != nil {
		return err
	}
	v := web.TemplateDetailView{Template: templateView(t), From: from, To: to}
	// What its environments cost, when any was priced.
	l, err := h.svc.TemplateCost(ctx, t.Name)
	if err != nil {
		return err
	}
	if l.Count > 0 {
		cv := costLineView("template", l)
		v.Cost = &cv
	}
	if latest, ok := t.Latest(); ok {
		v.CanLaunch = envs.CanLaunchTemplate(actorOf(c), latest.Spec) == nil
	}
	if len(t.Versions) > 1 && from == "" && to == "" {
		// The compare form starts on the two newest versions.
		v.From, v.To = t.Versions[1].Spec.Version, t.Versions[0].Spec.Version
	}
	status := http.StatusOK
	if from != "" || to != "" {
		d, err := h.svc.DiffVersions(ctx, t.Name, from, to)
		switch {
		case envs.ErrorCode(err) == envs.EInvalid:
			status, v.Errors = http.StatusUnprocessableEntity, map[string]string{}
			for _, fe := range envs.ErrorFields(err) {
				v.Errors[fe.Field] = fe.Message
			}
		case err != nil:
			return err
		default:
			v.Diff = &web.DiffView{From: from, To: to, Added: d.Added, Removed: d.Removed}
			for _, l := range d.Lines {
				v.Diff.Lines = append(v.Diff.Lines, web.DiffLineView{Op: string(l.Op), Old: l.Old, New: l.New, Text: l.Text})
			}
		}
	}
	return render(c, status, web.TemplateDetailPage(h.page(c, t.Name, "catalog"), v))
}
