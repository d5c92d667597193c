package handlers

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// environmentReplace is the environment page's "Replace with version…"
// form: a version and its parameters, typed as at launch ("params.<name>").
// A secret left empty keeps its value. It answers with the new summary,
// or, refused, with the parameters again and an error next to each field
// at fault.
func (h *Handler) environmentReplace(c *echo.Context) error {
	form, err := c.FormValues()
	if err != nil {
		return envs.Errorf(envs.EInvalid, "the form could not be read")
	}
	ctx := c.Request().Context()
	current, err := h.svc.Environment(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	version := cmp.Or(strings.TrimSpace(form.Get("version")), current.Version)
	fields, typed := formParams(form)
	target, terr := h.replaceParams(c, current, version)
	params := map[string]string{}
	for name, val := range fields {
		s, _ := val.(string)
		if s == "" && terr == nil && isSecret(target.Form.Version, name) {
			continue // left empty: keep the stack in service's value
		}
		params[name] = s
	}
	env, err := h.svc.Replace(ctx, actorOf(c), envs.ReplaceRequest{ID: current.ID, Version: version, Params: params})
	if err == nil {
		return h.summary(c, env)
	}
	if envs.ErrorCode(err) != envs.EInvalid || terr != nil || !isHTMX(c) {
		return err
	}
	status := refusedForm(&target.Form, typed, err)
	c.Response().Header().Set("HX-Retarget", "#replace-params")
	c.Response().Header().Set("HX-Reswap", "outerHTML")
	return render(c, status, web.ReplaceParams(target))
}

// environmentReplaceParams is GET /environments/{id}/replace/params?version=:
// the replace form's parameters for another target version.
func (h *Handler) environmentReplaceParams(c *echo.Context) error {
	env, err := h.svc.Environment(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	v, err := h.replaceParams(c, env, cmp.Or(strings.TrimSpace(c.QueryParam("version")), env.Version))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, web.ReplaceParams(v))
}

// replaceParams are the replace form's parameters of env's template at
// version: its values where the version still declares them, defaults
// for the ones it adds; secrets are never shown, only offered to keep.
func (h *Handler) replaceParams(c *echo.Context, env *envs.Environment, version string) (web.ReplaceParamsView, error) {
	t, err := h.svc.Template(c.Request().Context(), env.Template)
	if err != nil {
		return web.ReplaceParamsView{}, err
	}
	tv := templateView(t)
	i := slices.IndexFunc(tv.Versions, func(v web.VersionView) bool { return v.Version == version })
	if i < 0 {
		return web.ReplaceParamsView{}, envs.Errorf(envs.ENotFound, "template %s has no version %s", t.Name, version)
	}
	f := web.LaunchForm{Template: tv, Version: tv.Versions[i], Params: map[string]string{},
		Relaunch: &web.RelaunchView{SourceID: env.ID, SourceName: "the stack in service"}}
	for _, p := range f.Version.Params {
		switch val, ok := env.Params[p.Name]; {
		case p.Secret:
			if slices.Contains(env.SecretNames, p.Name) {
				f.Relaunch.ReusedSecrets = append(f.Relaunch.ReusedSecrets, p.Name)
			}
		case ok:
			f.Params[p.Name] = val
		default:
			f.Params[p.Name] = p.Default
		}
	}
	return web.ReplaceParamsView{Form: f}, nil
}

func isSecret(v web.VersionView, name string) bool {
	return slices.ContainsFunc(v.Params, func(p web.ParamView) bool { return p.Name == name && p.Secret })
}

// environmentRollback is the "Roll back to vX" button.
func (h *Handler) environmentRollback(c *echo.Context) error {
	env, err := h.svc.Rollback(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return h.summary(c, env)
}
