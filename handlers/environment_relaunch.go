package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// environmentRelaunchForm is "Launch again": the launch form of the
// environment's version (?version= another one), prefilled with its
// values; its secrets are never sent, only said to be re-used or to type.
func (h *Handler) environmentRelaunchForm(c *echo.Context) error {
	f, err := h.relaunchForm(c, c.QueryParam("version"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, web.LaunchPage(h.page(c, "Launch "+f.Relaunch.SourceName+" again", "environments"), f))
}

// environmentRelaunch relaunches from the form; on invalid input it renders
// the form again with the values kept and a message under each field at
// fault.
func (h *Handler) environmentRelaunch(c *echo.Context) error {
	form, err := c.FormValues()
	if err != nil {
		return envs.Errorf(envs.EInvalid, "the form could not be read")
	}
	params, typed := formParams(form)
	req := envs.RelaunchRequest{
		Source:       c.Param("id"),
		Version:      form.Get("version"),
		Name:         form.Get("name"),
		TTL:          strings.TrimSpace(form.Get("ttl")),
		Params:       params,
		SameSnapshot: form.Get("same_snapshot") == "true",
	}
	env, err := h.svc.Relaunch(c.Request().Context(), actorOf(c), req)
	if err == nil {
		return redirect(c, "/environments/"+env.ID)
	}
	if code := envs.ErrorCode(err); code != envs.EInvalid && code != envs.EConflict {
		return err
	}
	f, ferr := h.relaunchForm(c, req.Version)
	if ferr != nil {
		return ferr
	}
	f.Name, f.TTL, f.Relaunch.SameSnapshot = req.Name, req.TTL, req.SameSnapshot
	return render(c, refusedForm(&f, typed, err), web.LaunchPage(h.page(c, "Launch "+f.Relaunch.SourceName+" again", "environments"), f))
}

func (h *Handler) relaunchForm(c *echo.Context, version string) (web.LaunchForm, error) {
	d, err := h.svc.RelaunchDraft(c.Request().Context(), actorOf(c), c.Param("id"), version)
	if err != nil {
		return web.LaunchForm{}, err
	}
	tv := templateView(d.Template)
	f := web.LaunchForm{Template: tv, Version: versionView(d.Version), Name: d.Name, Params: d.Params,
		TTL: envs.FormatDuration(d.Version.Spec.TTL.Default),
		Relaunch: &web.RelaunchView{SourceID: d.Source.ID, SourceName: d.Source.Name,
			ReusedSecrets: d.ReusedSecrets, RetypeSecrets: d.RetypeSecrets, Snapshot: d.Snapshot}}
	h.applyChoices(c, &f)
	return f, nil
}
